"""The certificates relation (tls-certificates v4) through charmlibs' requirer, in UNIT mode:
each unit asks for its own certificate; the library makes the private key and keeps it in a
Juju secret of the unit's, renews before expiry and asks again when the names change.

Attached only in the hooks that can bring a certificate: the library's import (pydantic and
cryptography's x509) costs more than the rest of a hook, and the stores it fills stay on
the workload's disk between hooks (duties/tls.py).
"""

from __future__ import annotations

import ops

from records import Record, frozen

RELATION = "certificates"
# Hook names (JUJU_DISPATCH_PATH's last part) that attach the requirer: its own relation's
# hooks, a renewal (the library's per-certificate secret expires), and what may change the
# names a certificate must carry (config: tls-sans-ip; a new charm: new names).
_HOOKS = ("secret-expired", "config-changed", "upgrade-charm")


def needed(dispatch_path: str) -> bool:
    hook = dispatch_path.rpartition("/")[2]
    return hook.startswith(f"{RELATION}-relation-") or hook in _HOOKS


@frozen
class Material(Record):
    """What the provider issued this unit, as PEM."""

    private_key: str
    certificate: str
    ca: str
    chain: tuple[str, ...]
    # The provider revoked it (v4 `revoked`); the library then drops its copy of it.
    revoked: bool = False


class Certificates:
    def __init__(
        self,
        charm: ops.CharmBase,
        common_name: str,
        dns: list[str],
        ips: list[str],
        external: list[str] | None = None,
    ):
        from charmlibs.interfaces import tls_certificates as lib

        # Of the names asked for, those `expose-external` adds (exposure.sans).
        self.external = sorted(external or [])
        self.request = lib.CertificateRequestAttributes(
            common_name=common_name[:64], sans_dns=frozenset(dns), sans_ip=frozenset(ips)
        )
        self.requirer = lib.TLSCertificatesRequiresV4(
            charm,
            RELATION,
            certificate_requests=[self.request],
            mode=lib.Mode.UNIT,
            refresh_events=[charm.on.config_changed, charm.on.upgrade_charm],
        )

    def sync(self) -> None:
        """Ask for a certificate for the current names in a hook the library does not
        handle itself (the names changed because the leader recorded new addresses)."""
        self.requirer.sync()

    def material(self) -> Material | None:
        """This unit's certificate for the names it asks for now, if one was issued."""
        issued, key = self.requirer.get_assigned_certificate(self.request)
        if issued is None or key is None:
            return None
        return Material(
            private_key=str(key),
            certificate=str(issued.certificate),
            ca=str(issued.ca),
            chain=tuple(str(c) for c in issued.chain),
            revoked=bool(issued.revoked),
        )
