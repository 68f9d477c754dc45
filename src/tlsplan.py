"""Pure: switching a running ensemble to TLS and back without downtime, one rolling restart
per step (ZooKeeper's "upgrading existing non-TLS cluster with no downtime" procedure).

On: OFF -> UNIFIED (stores written, TLS client port opened, quorum ports accept TLS beside
plaintext) -> QUORUM (members connect to each other over TLS) -> ON (quorum ports refuse
plaintext; the plaintext client port is moved to loopback by a reconfig, no restart). Off
walks the same steps back. The leader moves to the next step only once every member's
server runs the current one (each unit reports the step its running server's settings are
for), so a step survives failed hooks and a new leader: it is peer data, not memory.

Clients are told the TLS endpoints once every server serves them, and told the plaintext
ones again (before the TLS port closes) only once every server serves plaintext off the pod.
"""

from __future__ import annotations

from collections.abc import Mapping

from state import ClusterUnitData, TLSPhase
from tls import fingerprint

ORDER = (TLSPhase.OFF, TLSPhase.UNIFIED, TLSPhase.QUORUM, TLSPhase.ON)


def running(data: ClusterUnitData) -> TLSPhase:
    """The step a unit's server runs; one from before the charm tracked it runs no TLS."""
    return data.running_tls or TLSPhase.OFF


def step_done(phase: TLSPhase, views: Mapping[int, ClusterUnitData]) -> bool:
    return bool(views) and all(running(data) is phase for data in views.values())


def next_phase(phase: TLSPhase, wanted: bool, views: Mapping[int, ClusterUnitData]) -> TLSPhase:
    """The step every server should run next. `wanted`: a certificates relation exists.

    Forward only when every unit has its certificate on disk (a member without one could
    not take part); back as soon as TLS is no longer wanted, whatever the certificates.
    """
    if not step_done(phase, views):
        return phase
    at = ORDER.index(phase)
    if wanted and at < len(ORDER) - 1 and all(d.tls_ca for d in views.values()):
        return ORDER[at + 1]
    if not wanted and at > 0:
        return ORDER[at - 1]
    return phase


def plaintext_on_loopback(phase: TLSPhase) -> bool:
    """Whether this step keeps plaintext clients on the pod (the charm's own session)."""
    return phase is TLSPhase.ON


def clients_on_tls(
    wanted: bool, views: Mapping[int, ClusterUnitData], plaintext_open: bool
) -> bool:
    """Whether clients are told the TLS endpoints: once every server serves them; and,
    switching off, until every server serves plaintext off the pod again."""
    if wanted:
        return bool(views) and all(running(d) is not TLSPhase.OFF for d in views.values())
    return not plaintext_open


def trusted_cas(current: list[str], views: Mapping[int, ClusterUnitData]) -> list[str]:
    """The CAs every member trusts: each member's own and the one of a certificate it holds
    back, in the order first seen, so that every member trusts a new CA before any member
    serves a certificate from it. A CA no member uses or waits to use is dropped."""
    used = {ca for d in views.values() for ca in (d.tls_ca, d.tls_ca_next) if ca}
    kept = [ca for ca in current if ca in used]
    return kept + sorted(used - set(kept))


def trusted_everywhere(views: Mapping[int, ClusterUnitData]) -> list[str]:
    """The CAs (tls.fingerprint) in the trust store of every member that has a certificate."""
    reports = [set(d.tls_trusts) for d in views.values() if d.tls_ca]
    return sorted(set.intersection(*reports)) if reports else []


def may_serve(ca: str, me: ClusterUnitData, everywhere: list[str]) -> bool:
    """Whether this unit may serve a certificate from `ca` now: it serves none yet, or one
    from that CA already, or the leader saw every member with a certificate trust the CA
    (else that member would refuse this one's new connections)."""
    if me.tls_ca is None or ca == me.tls_ca:
        return True
    return fingerprint(ca) in everywhere
