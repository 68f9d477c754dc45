"""Typed peer relation data and secret contents: every key the charm stores lives here."""

from __future__ import annotations

import enum
import secrets
import string

import pydantic

PEER = "cluster"
CONTAINER = "zookeeper"
INTERNAL_SECRET_LABEL = "zookeeper-internal"  # noqa: S105 (a label, not a secret)


def _hyphens(name: str) -> str:
    return name.replace("_", "-")


class _Databag(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(
        alias_generator=_hyphens, populate_by_name=True, frozen=True
    )


class MemberState(enum.StrEnum):
    """Where a unit's server is, as the unit itself last saw it."""

    WAITING = "waiting"  # not started: no credentials, no ensemble to join yet
    STARTED = "started"  # process running, not serving (yet)
    SERVING = "serving"  # in the quorum and serving clients


class RotationPhase(enum.StrEnum):
    ACCEPT = "accept-new"  # every server learns to accept the new quorum password
    SWITCH = "switch-learners"  # then learners log in with it; the old one goes after


class ClientRecord(_Databag):
    """A client relation the leader granted: its chroot, permissions and user secret."""

    app: str
    chroot: str
    perms: str
    secret_id: str


class ClusterAppData(_Databag):
    """Written by the leader only."""

    # The Juju secret holding the internal passwords (never the passwords themselves).
    internal_secret_id: str | None = None
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

    @classmethod
    def generate(cls) -> InternalSecret:
        return cls(super_password=new_password(), sync_password=new_password())

    def content(self) -> dict[str, str]:
        return self.model_dump(by_alias=True, exclude_none=True)


def new_password(length: int = 32) -> str:
    # Letters and digits only: these passwords are written into JAAS files as quoted strings.
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))
