"""Pure client-relation logic: what each client app asked for, and what it gets.

Every related app gets its own chroot, a user named after the relation, and ACLs on the
chroot that admit that user (SASL and digest), the subject of the app's own certificate if it
named one (x509), and the charm's super user only.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from collections.abc import Iterable, Mapping

from layout import SUPER_USER
from records import Record, frozen

# The charm's own area (policy.ROOT; policy imports this module).
POLICY_ROOT = "/zookeeper-k8s"

ALL_PERMS = "cdrwa"


def user_for(relation_id: int) -> str:
    return f"relation-{relation_id}"


@frozen
class Request(Record):
    """What one client app wrote in its application databag."""

    relation_id: int
    app: str
    chroot: str | None
    extra_user_roles: str | None = None
    # The subject of the client's own certificate: sessions that present it own the chroot.
    x509_subject: str | None = None
    # Lower quotas than the charm's, if the client asks for them (text, as Juju gives it).
    quota_znodes: str | None = None
    quota_bytes: str | None = None


@frozen
class Grant(Record):
    relation_id: int
    app: str
    chroot: str
    perms: str
    x509: str | None = None  # the canonical subject (x509_identity), if one was asked
    # ZooKeeper-enforced hard quotas on the chroot (0: none).
    max_znodes: int = 0
    max_bytes: int = 0

    @property
    def user(self) -> str:
        return user_for(self.relation_id)


def _normalise(chroot: str) -> str:
    return chroot.rstrip("/") or "/"


def _problem(request: Request) -> str | None:
    chroot = request.chroot
    if not chroot:
        return None  # nothing asked yet: not an error
    problem = path_problem(chroot)
    if problem:
        return problem
    roles = request.extra_user_roles
    if roles and not set(roles) <= set(ALL_PERMS):
        return (
            f"extra-user-roles {roles!r}: use ACL permission letters from {ALL_PERMS} "
            "(c create, d delete, r read, w write, a admin)"
        )
    if roles and not set(roles) - {"a"}:
        return (
            f"extra-user-roles {roles!r} grants nothing (admin is the charm's): "
            "ask for at least one of cdrw"
        )
    return None


def path_problem(chroot: str) -> str | None:
    """Why `chroot` cannot be handed to a client, or None."""
    if not chroot.startswith("/"):
        return f"chroot {chroot!r} must be an absolute path such as /{chroot}"
    path = _normalise(chroot)
    if path == "/":
        return "chroot / would give the whole tree; ask for a path such as /myapp"
    if path == "/zookeeper" or path.startswith("/zookeeper/"):
        return f"chroot {path} lies under /zookeeper, which ZooKeeper keeps for itself"
    if path == POLICY_ROOT or path.startswith(POLICY_ROOT + "/"):
        return f"chroot {path} lies under {POLICY_ROOT}, which the charm keeps for itself"
    if "//" in path or any(part in (".", "..") for part in path.split("/")):
        return f"chroot {chroot!r} is not a plain path"
    return None


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


# The attributes a granted subject may name: those Java's X500Principal writes by keyword
# in RFC 2253 form. Any other attribute it writes as an OID with a hex value, which a
# requirer cannot be expected to spell the same way.
SUBJECT_ATTRIBUTES = ("CN", "O", "OU", "L", "ST", "C", "STREET", "DC", "UID")
_SUBJECT_VALUE = re.compile(r"[A-Za-z0-9._@:/-]([A-Za-z0-9 ._@:/-]*[A-Za-z0-9._@:/-])?")


def x509_identity(subject: str) -> str:
    """The id ZooKeeper's x509 provider gives a session presenting a certificate with this
    subject (X500Principal.getName(), RFC 2253): RDNs most specific first, `KEY=value`
    joined by commas, no spaces around them. ValueError names what to change.

    Values are limited to characters RFC 2253 never escapes, so the canonical form is the
    text itself and cannot differ from what the server derives.
    """
    parts = []
    for rdn in subject.split(","):
        key, equals, value = rdn.partition("=")
        key, value = key.strip().upper(), value.strip()
        if not equals or key not in SUBJECT_ATTRIBUTES:
            raise ValueError(
                f"x509-subject {subject!r}: write it as KEY=value,... (RFC 4514, most specific "
                f"first) with keys from {', '.join(SUBJECT_ATTRIBUTES)}, e.g. CN=myapp,O=myorg"
            )
        if not _SUBJECT_VALUE.fullmatch(value):
            raise ValueError(
                f"x509-subject {subject!r}: value {value!r} may hold only letters, digits, "
                "inner spaces and . _ @ : / -"
            )
        parts.append(f"{key}={value}")
    return ",".join(parts)


@frozen
class Decision(Record):
    granted: dict[int, Grant]
    rejected: dict[int, str]
    # Granted, but part of the request was refused (the grant keeps what it had).
    refused_parts: dict[int, str] = dataclasses.field(default_factory=dict)


def _quota(cap: int, asked: str | None, name: str) -> int:
    """The client's own lower limit if it asked for one, else the charm's (0: no limit)."""
    if not asked:
        return cap
    if not asked.isdigit():
        raise ValueError(f"{name} {asked!r}: give a whole number (0 or nothing: the default)")
    return within(cap, int(asked))


def within(cap: int, wanted: int) -> int:
    """A client's own limit where it is lower than the charm's (0: no limit)."""
    return wanted if wanted and (not cap or wanted < cap) else cap


def quota_limits(max_znodes: int, max_bytes: int) -> str:
    """A quota's limits as ZooKeeper's StatsTrack writes them: hard limits (enforced with
    zookeeper.enforceQuota), no soft ones; -1 for none."""
    count, size = max_znodes or -1, max_bytes or -1
    return f"count=-1,bytes=-1=;byteHardLimit={size};countHardLimit={count}"


def parse_usage(stats: str) -> tuple[int, int]:
    """(znodes, bytes) from a quota's stats node (`count=4,bytes=5` and later `;key=value`)."""
    fields = dict(part.split("=", 1) for part in stats.replace(";", ",").split(",") if "=" in part)
    return int(fields.get("count", "0").rstrip("=")), int(fields.get("bytes", "0").rstrip("="))


def decide(
    requests: Iterable[Request],
    existing: Mapping[int, str] = {},
    reserved: Iterable[str] = (),
    max_znodes: int = 0,
    max_bytes: int = 0,
) -> Decision:
    """Grant each valid request its chroot; reject bad ones and overlaps, naming the problem.

    existing: chroots already granted (relation id -> chroot). An established grant keeps
    its chroot; a newcomer that overlaps it is the one rejected. Between two newcomers that
    overlap, the older relation (lower id) wins.
    """
    granted: dict[int, Grant] = {}
    rejected: dict[int, str] = {}
    refused_parts: dict[int, str] = {}
    ordered = sorted(requests, key=lambda r: (r.relation_id not in existing, r.relation_id))
    for request in ordered:
        if not request.chroot:
            continue
        problem = _problem(request)
        chroot = _normalise(request.chroot)
        if problem is None and request.relation_id not in existing:
            taken = next((p for p in reserved if _overlaps(_normalise(p), chroot)), None)
            if taken is not None:
                problem = f"chroot {chroot} overlaps {taken}, open to clients without credentials"
        if problem is None:
            clash = next((g for g in granted.values() if _overlaps(g.chroot, chroot)), None)
            if clash is not None:
                problem = (
                    f"chroot {chroot} overlaps {clash.chroot} of relation {clash.relation_id} "
                    f"({clash.app})"
                )
        if problem is not None:
            rejected[request.relation_id] = problem
            continue
        roles = request.extra_user_roles or ALL_PERMS
        perms = "".join(p for p in ALL_PERMS if p in roles)  # each letter once, in order
        x509, refused = None, []
        if request.x509_subject:
            try:
                x509 = x509_identity(request.x509_subject)
            except ValueError as exc:
                refused.append(str(exc))
        try:
            znodes = _quota(max_znodes, request.quota_znodes, "quota-znodes")
            size = _quota(max_bytes, request.quota_bytes, "quota-bytes")
        except ValueError as exc:
            refused.append(str(exc))
            znodes, size = max_znodes, max_bytes
        if refused:
            refused_parts[request.relation_id] = "; ".join(refused)
        granted[request.relation_id] = Grant(
            request.relation_id, request.app, chroot, perms, x509, znodes, size
        )
    return Decision(granted, rejected, refused_parts)


def digest_id(user: str, password: str) -> str:
    """The id ZooKeeper's digest scheme derives from user:password."""
    raw = hashlib.sha1(f"{user}:{password}".encode()).digest()  # noqa: S324 (ZooKeeper's scheme)
    return f"{user}:{base64.b64encode(raw).decode()}"


@frozen
class Acl(Record):
    scheme: str
    id: str
    perms: str


def acls(grant: Grant, password: str) -> list[Acl]:
    """The client's user (by SASL and by digest), and the charm's super user.

    Never the admin permission for the client: with it a client could open its znodes to
    others by changing their ACLs, and ZooKeeper fires no watch on an ACL change.
    """
    perms = grant.perms.replace("a", "")
    certificate = [Acl("x509", grant.x509, perms)] if grant.x509 else []
    return [
        Acl("sasl", grant.user, perms),
        Acl("digest", digest_id(grant.user, password), perms),
        *certificate,
        Acl("sasl", SUPER_USER, ALL_PERMS),
    ]


def super_only() -> list[Acl]:
    return [Acl("sasl", SUPER_USER, ALL_PERMS)]


def uris(addresses: Iterable[str], port: int, chroot: str) -> str:
    """A connection string a client can use as is: host:port,...,host:port/chroot."""
    return ",".join(f"{address}:{port}" for address in addresses) + chroot


def endpoints(addresses: Iterable[str], port: int) -> str:
    return ",".join(f"{address}:{port}" for address in addresses)


def open_chroot_problems(paths: list[str], granted: Mapping[int, Grant]) -> list[str]:
    """Why the `open-chroots` option cannot be applied (empty: it can)."""
    problems = []
    for index, path in enumerate(paths):
        problem = path_problem(path)
        if problem is None:
            normal = _normalise(path)
            owner = next((g for g in granted.values() if _overlaps(g.chroot, normal)), None)
            other = next((p for p in paths[:index] if _overlaps(_normalise(p), normal)), None)
            if owner is not None:
                problem = (
                    f"{normal} overlaps {owner.chroot} of relation {owner.relation_id} "
                    f"({owner.app}); pick a path no client relation uses"
                )
            elif other is not None:
                problem = f"{normal} overlaps {other}, also listed"
        if problem:
            problems.append(f"open-chroots: {problem}")
    return problems


def open_acls() -> list[Acl]:
    """Anyone may read and write an opted-in chroot; nobody but super may change its ACLs."""
    return [Acl("world", "anyone", "cdrw"), Acl("sasl", SUPER_USER, ALL_PERMS)]
