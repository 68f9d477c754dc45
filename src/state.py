"""Typed peer relation data and secret contents: every key the charm stores lives here.

Plain frozen dataclasses: every hook is a fresh process, and pydantic's import and schema
building cost more than the rest of the charm's import. Juju keys are the field names with
'-' for '_' (the `alias` metadata ops' `Relation.load` reads); peer data values are JSON.
Read with `relation.load(Cls, app_or_unit)`; write `obj.databag()` into the relation data,
not `relation.save(obj, ...)`: ops saves a dataclass through `dataclasses.asdict`, which
would store a nested ClientRecord under its attribute names (`secret_id`), not its keys.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import secrets
import string
from collections.abc import Mapping
from typing import Any, Self

from records import Record, frozen

PEER = "cluster"
CONTAINER = "zookeeper"
INTERNAL_SECRET_LABEL = "zookeeper-internal"  # noqa: S105 (a label, not a secret)


def _stored(cls: type) -> type:
    """Make cls a frozen record (records.py) whose fields Juju stores under hyphenated keys."""
    for name in cls.__annotations__:
        default = cls.__dict__.get(name, dataclasses.MISSING)
        # A list or dict default is empty: each instance gets its own new one.
        given = (
            {"default_factory": type(default)}
            if isinstance(default, list | dict)
            else {"default": default}
        )
        setattr(cls, name, dataclasses.field(**given, metadata={"alias": name.replace("_", "-")}))
    return frozen(cls)


def _plain(value: object) -> object:
    """The JSON form of a value: a nested record by its keys, as pydantic wrote it (an
    optional field added since is left out while unset, so older records read back as they
    were written)."""
    if isinstance(value, _Databag):
        return {
            f.metadata["alias"]: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not (getattr(value, f.name) is None and f.default is None)
        }
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


class _Databag(Record):
    """The pydantic methods the charm called on these models, kept so callers did not change."""

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> Self:
        return dataclasses.replace(self, **(update or {}))  # type: ignore[type-var]

    @classmethod
    def model_validate(cls, data: Mapping[str, object]) -> Self:
        """From a mapping keyed by Juju keys or field names; other keys are ignored."""
        names: dict[str, str] = {}
        for f in dataclasses.fields(cls):
            names[f.name] = names[f.metadata["alias"]] = f.name
        given = {names[key]: value for key, value in data.items() if key in names}
        missing = [
            f.metadata["alias"]
            for f in dataclasses.fields(cls)
            if f.name not in given
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise ValueError(f"{cls.__name__}: missing {', '.join(missing)}")
        return cls(**given)

    def databag(self) -> dict[str, str]:
        """Every field under its Juju key, JSON-encoded (None as null, as ops wrote it)."""
        return {
            f.metadata["alias"]: json.dumps(_plain(getattr(self, f.name)))
            for f in dataclasses.fields(self)
        }


class MemberState(enum.StrEnum):
    """Where a unit's server is, as the unit itself last saw it."""

    WAITING = "waiting"  # not started: no credentials, no ensemble to join yet
    STARTED = "started"  # process running, not serving (yet)
    SERVING = "serving"  # in the quorum and serving clients


class TLSPhase(enum.StrEnum):
    """What every server runs, in the order TLS is switched on (and back, to switch it off):
    ZooKeeper's port-unification procedure, one rolling restart per step (tlsplan.py)."""

    OFF = "off"
    UNIFIED = "unified"  # TLS client port open; quorum ports accept TLS and plaintext
    QUORUM = "quorum"  # members speak TLS to each other; quorum ports still accept both
    ON = "on"  # quorum TLS only; plaintext clients on loopback only


class RotationPhase(enum.StrEnum):
    ACCEPT = "accept-new"  # every server learns to accept the new quorum password
    SWITCH = "switch-learners"  # then learners log in with it; the old one goes after


@_stored
class ClientRecord(_Databag):
    """A client relation the leader granted: its chroot, permissions and user secret."""

    app: str
    chroot: str
    perms: str
    secret_id: str
    x509: str | None = None  # the certificate subject that owns the chroot too
    # The hard quotas set on the chroot (0: none); None: none set yet (older records).
    max_znodes: int | None = None
    max_bytes: int | None = None

    @property
    def quota(self) -> tuple[int | None, int | None]:
        return self.max_znodes, self.max_bytes


class RestorePhase(enum.StrEnum):
    """Where a restore is (restore.py): every server stops with the backup's snapshot in
    place, then every server starts on it, then the leader checks it against its manifest."""

    STOP = "stop"
    START = "start"


@_stored
class RestorePlan(_Databag):
    """A restore the leader started (the restore action): the backup, the data directory
    every unit places its snapshot in, and the step the ensemble is at."""

    id: str  # unique per run of the action: a unit's report names the run it is about
    backup: str
    data_dir: str
    phase: RestorePhase = RestorePhase.STOP
    previous_data_dir: str = "data"

    def __post_init__(self) -> None:
        object.__setattr__(self, "phase", RestorePhase(self.phase))


@_stored
class ClusterAppData(_Databag):
    """Written by the leader only."""

    # The Juju secret holding the internal passwords (never the passwords themselves), and
    # the generation its latest revision holds (InternalSecret.generation).
    internal_secret_id: str | None = None
    secret_generation: str | None = None
    # Ordinals of the units that formed the ensemble. Set once; after that ZooKeeper's
    # committed config, not Juju, says who votes.
    bootstrap_members: list[int] | None = None
    # The last committed ensemble the leader saw (server lines): what a joiner starts with.
    members: list[str] | None = None
    # The one unit allowed to restart its server now (rolling restart).
    restart_grant: int | None = None
    # Bumped by the restart action: part of every unit's settings, so all of them roll.
    restart_generation: int = 0
    # The quorum user learners log in as is sync<generation>; a rotation moves to the next.
    quorum_generation: int = 0
    # Where a quorum password rotation is (None: no rotation under way).
    rotation: RotationPhase | None = None
    # An upgrade under way: the StatefulSet revision pre-upgrade-check saw (the refresh
    # brings a new one) and the partition the leader last set.
    upgrade_from_revision: str | None = None
    upgrade_partition: int | None = None
    # Client relations served, by relation id (their users are in the extension's policy).
    clients: dict[int, ClientRecord] = {}
    # SHA-256 of the policy the leader last wrote (policy.py): a hook that would write the
    # same one opens no ZooKeeper session for it.
    policy_digest: str | None = None
    # Opted-in chroots for unauthenticated clients that the leader has created.
    open_chroots_made: list[str] = []
    # ZooKeeper creates / open to anyone; the leader closes it on its first hook that reaches
    # a serving ensemble, before any client is told where to connect.
    root_closed: bool = False
    # Where the ensemble is in switching TLS on or off (tlsplan.py).
    tls: TLSPhase = TLSPhase.OFF
    # Whether a certificates relation exists, as the leader last saw in one of its hooks.
    tls_related: bool = False
    # The CA certificates (PEM, public) some member's certificate chains to: every member
    # trusts all of them, so a new CA is rolled in without a member refusing another.
    tls_cas: list[str] = []
    # The CAs (tls.fingerprint) every member with a certificate trusts: a member serves a
    # certificate from a new CA only once it is listed here.
    tls_trusted: list[str] = []
    # Fingerprint of the Kubernetes objects the leader last applied (exposure.py): a hook
    # that wants the same ones asks Kubernetes nothing.
    k8s_applied: str | None = None
    # The fingerprint Kubernetes refused (no `juju trust`): update-status does not ask
    # again; any other hook does (`juju trust` itself runs config-changed).
    k8s_forbidden: str | None = None
    # Where clients outside Kubernetes reach each unit (ordinal: node or load balancer
    # address), and the Service's port for each client port; empty while not exposed.
    external_hosts: dict[int, str] = {}
    external_ports: dict[int, int] = {}
    # The application status the leader last set ("name: message"). Only the leader sets it
    # and Juju keeps it, so an unchanged one is not set again: one status-set less a hook.
    app_status: str | None = None
    # The leader's last full pass found nothing to wait for, report or carry on with, and
    # every planned unit serving as a voter. Its update-status then looks at its own unit
    # only: what it would act on (another unit's report, a client's request, a scale) comes
    # with a hook of its own, which looks at everything and clears this if need be.
    settled: bool = False
    # The data directory (under the storage) every server runs on: a restore moves the
    # ensemble to a new one and leaves the previous one where it was. None: "data".
    data_dir: str | None = None
    # A restore under way (None: none), and what the last one found when it checked the
    # restored tree against its manifest (None: it matched, or none ran).
    restore: RestorePlan | None = None
    restore_problem: str | None = None
    # Seconds since the epoch of the last backup the leader took (for the schedule), and
    # why the last scheduled one failed (None: it did not).
    backup_last: float | None = None
    backup_error: str | None = None

    def __post_init__(self) -> None:
        if self.restore is not None and not isinstance(self.restore, RestorePlan):
            object.__setattr__(self, "restore", RestorePlan.model_validate(self.restore))
        # Read back from JSON, the phase is its value and the clients are keyed by text.
        if self.rotation is not None:
            object.__setattr__(self, "rotation", RotationPhase(self.rotation))
        object.__setattr__(self, "tls", TLSPhase(self.tls))
        clients = {
            int(rid): record
            if isinstance(record, ClientRecord)
            else ClientRecord.model_validate(record)
            for rid, record in self.clients.items()
        }
        object.__setattr__(self, "clients", clients)
        hosts = {int(o): str(h) for o, h in self.external_hosts.items()}
        object.__setattr__(self, "external_hosts", hosts)
        ports = {int(p): int(e) for p, e in self.external_ports.items()}
        object.__setattr__(self, "external_ports", ports)


@_stored
class ClusterUnitData(_Databag):
    state: MemberState = MemberState.WAITING
    # ZooKeeper's mode for this server (leader, follower, observer), when serving.
    mode: str | None = None
    # Fingerprint of the settings the running server started with.
    running_config: str | None = None
    # Fingerprint of the JAAS file the running server read: the leader's proof that a
    # password change reached every server.
    running_jaas: str | None = None
    # Set when the server runs older settings than the charm wants: it needs a restart.
    pending_config: str | None = None
    # The settings whose restart did not come back into the quorum in time: the roll stops
    # here until the settings change again (a fix, or the restart action).
    failed_config: str | None = None
    # A restart under way: the settings it restarted into and when (seconds since the epoch).
    # The hook that restarted the server returns at once; the watcher's notice that the
    # server serves again wakes the charm to finish it (or to call it failed, past the
    # restart timeout).
    restarting: str | None = None
    restarted_at: float | None = None
    # The TLS phase the running server's settings are for, and the one a restart under way
    # is for: the leader's proof that a step of the TLS switch reached every server.
    running_tls: TLSPhase | None = None
    restarting_tls: TLSPhase | None = None
    # The CA (PEM, public) this unit's certificate chains to, once its stores are written.
    tls_ca: str | None = None
    # The provider revoked the certificate this unit last had: kept (and said) until the next.
    tls_revoked: bool = False
    # The CA of a certificate this unit holds back (keystore-next) until every member
    # trusts that CA, and the CAs this unit's trust store holds (tls.fingerprint).
    tls_ca_next: str | None = None
    tls_trusts: list[str] = []
    # The external addresses (exposure.py) this unit last asked its certificate to carry.
    external_sans: list[str] = []
    # Connections to this unit's server per client chroot, as its last hook saw them: the
    # leader's list-clients adds them up (no unit can see another server's connections).
    client_sessions: dict[str, int] = {}
    # The restore run (RestorePlan.id) whose snapshot this unit placed, with its server
    # stopped; and why it could not (fetching the backup failed).
    restore_ready: str | None = None
    restore_error: str | None = None

    def __post_init__(self) -> None:
        # Read back from JSON, the state is its value, and a whole second an int: kept a
        # float so that it is written back as it was (1700000000.0, not 1700000000).
        object.__setattr__(self, "state", MemberState(self.state))
        for name in ("running_tls", "restarting_tls"):
            if (value := getattr(self, name)) is not None:
                object.__setattr__(self, name, TLSPhase(value))
        if self.restarted_at is not None:
            object.__setattr__(self, "restarted_at", float(self.restarted_at))


@_stored
class InternalSecret(_Databag):
    """Content of the app-owned secret (Juju secret keys allow only [a-z0-9-])."""

    super_password: str
    sync_password: str
    # Kept while a rotation rolls out: servers not yet restarted still know only this one.
    super_password_previous: str | None = None
    # The quorum password being rotated in (accepted first, then used; see rotation.py).
    sync_password_next: str | None = None
    # The quorum user sync_password belongs to. Kept with the password, not only in peer
    # data: a unit can read this secret's new revision while its view of peer data is
    # older, and the user and its password must never come from different rotations.
    sync_user: str | None = None
    # Counted up by the leader with each new revision, and published in peer data
    # (ClusterAppData.secret_generation): a unit whose tracked revision holds the published
    # generation has the latest and need not ask Juju for it (snapshot.internal_secret).
    generation: str | None = None

    @classmethod
    def generate(cls) -> InternalSecret:
        return cls(super_password=new_password(), sync_password=new_password())

    def content(self) -> dict[str, str]:
        """The secret's keys; a value not set is no key at all (Juju stores text only)."""
        return {
            f.metadata["alias"]: value
            for f in dataclasses.fields(self)
            if (value := getattr(self, f.name)) is not None
        }


def new_password(length: int = 32) -> str:
    # Letters and digits only: these passwords are written into JAAS files as quoted strings.
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))
