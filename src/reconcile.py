"""The one reconcile path: passes of the duties in a fixed order over immutable snapshots.

A pass reads a snapshot (snapshot.py) and runs each duty on it; what a duty changed goes into
the snapshot the next duty sees, and is saved once at the end of the pass. A duty that
changed the internal secret (a new password to roll with) ends the pass: the next pass is
over a fresh snapshot holding the new secret. Passes are bounded; nothing recurses.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import ops

from duties import (
    Outcome,
    backup,
    bootstrap,
    clients,
    exposure,
    membership,
    roll,
    rotation,
    server,
    system_users,
    tls,
)
from duties import cos as observability
from duties import upgrade as upgrading
from ensemble import myid
from shells import Shells
from snapshot import Snapshot, gather, internal_secret, observe, passwords
from state import INTERNAL_SECRET_LABEL, ClusterAppData, InternalSecret, MemberState, TLSPhase

logger = logging.getLogger(__name__)

# A pass that changed the internal secret is followed by one over a fresh snapshot.
MAX_PASSES = 3

Duty = Callable[[Snapshot, Shells], Outcome]


def settled(snap: Snapshot, held: list[str], blocked: list[str]) -> bool:
    """Whether a full pass of the leader left nothing for its update-status to look at
    beyond its own unit: nothing waits or is wrong, no roll, rotation, upgrade or TLS step
    is under way, and every planned unit serves as a voter of the committed ensemble."""
    cluster, published = snap.cluster, snap.published
    if held or blocked or published is None or snap.planned is None:
        return False
    views = snap.views
    voters = {s.id for s in published.voters}
    if set(views) != set(range(snap.planned)) or voters != {myid(o) for o in views}:
        return False
    if any(
        v.state is not MemberState.SERVING or v.pending_config or v.restarting or v.failed_config
        for v in views.values()
    ):
        return False
    tls_done = cluster.tls is (TLSPhase.ON if snap.tls_wanted else TLSPhase.OFF)
    return (
        tls_done
        and cluster.restart_grant is None
        and cluster.rotation is None
        and cluster.upgrade_partition is None
        and cluster.restore is None
    )


class LeaveError(Exception):
    """A leaving unit is still a voter: its teardown hook fails so that Juju retries it."""


class Reconciler:
    def __init__(self, model: ops.Model, io: Shells, restart_timeout: float):
        self.model = model
        self.io = io
        self.restart_timeout = restart_timeout
        self._snapshot: Snapshot | ops.StatusBase | None = None
        self.periodic = False  # this hook is update-status
        self.held: list[str] = []  # why something waits, in the order duties said so
        self.blocked: list[str] = []  # user errors found this pass
        self.unfinished = False  # a duty left work for the next hook (Outcome.unfinished)

    @property
    def snapshot(self) -> Snapshot | ops.StatusBase:
        """The last pass's snapshot with every change its duties made (one is read if no
        pass ran: collect-status and actions need it too)."""
        if self._snapshot is None:
            self._snapshot = self._gather()
        return self._snapshot

    def _gather(
        self, secret: InternalSecret | None = None, own_only: bool = False
    ) -> Snapshot | ops.StatusBase:
        io = self.io
        snap = gather(
            self.model,
            io.unit,
            io.workload.reachable,
            self.model.config,
            certificates_hook=io.certificates is not None,
            # Only while its own server serves: otherwise the leader has things to do.
            own_only_if_settled=own_only and io.health.serving,
            space=io.space,
        )
        if secret is not None and isinstance(snap, Snapshot):
            # What this hook stored: Juju may show a secret's new revision only after the hook.
            snap = snap.but(secret=secret)
        if self.periodic and isinstance(snap, Snapshot):
            snap = snap.but(periodic=True)
        return snap

    def run(self, secret: InternalSecret | None = None, periodic: bool = False) -> None:
        """Reconcile; `secret`: the internal secret's content if this hook changed it;
        `periodic`: the hook is update-status."""
        self.periodic = self.periodic or periodic
        try:
            if self.io.cos is not None:
                observability.run(observe(self.model, self.io.unit, self.io.cos), self.io)
            own_only = self.periodic
            passes = 0
            while passes < MAX_PASSES:
                self.held, self.blocked, self.unfinished = [], [], False
                if self.model.unit.is_leader():
                    self._bootstrap()
                snap = self._snapshot = self._gather(secret, own_only)
                if isinstance(snap, ops.StatusBase):
                    return
                secret = self._pass(snap)
                if snap.own_only and (self.held or self.blocked or self._snapshot.me != snap.me):
                    # Its own unit changed or found something: now look at everything.
                    own_only = False
                    continue
                passes += 1
                if secret is None:
                    break
        finally:
            self.io.close()

    def _duties(self, snap: Snapshot) -> list[Duty]:
        restart = functools.partial(server.restart_in_turn, restart_timeout=self.restart_timeout)
        if not snap.leader:
            return [backup.restore, tls.stores, server.prepare, restart, server.report]
        if snap.own_only:
            # Settled (no restore under way): its own unit, and a backup when one is due.
            return [tls.stores, server.prepare, restart, server.report, backup.scheduled_if_due]
        # The leader grants before its own restart too: no later hook may come to grant it.
        return [
            # First: a restore stops servers before anything could start or roll them.
            backup.restore,
            tls.stores,
            server.prepare,
            roll.run,
            restart,
            server.report,
            backup.gate,
            tls.switch,
            membership.run,
            roll.run,
            rotation.run,
            system_users.run,
            upgrading.run,
            # Before clients: they are told the addresses it records.
            exposure.run,
            clients.run,
            backup.scheduled,
        ]

    def _pass(self, snap: Snapshot) -> InternalSecret | None:
        """One pass; the new internal secret, if a duty changed it."""
        start = snap
        secret = None
        try:
            completed = False
            for duty in self._duties(snap):
                outcome = duty(snap, self.io)
                self._note(outcome)
                snap = snap.but(cluster=outcome.cluster or snap.cluster, me=outcome.me or snap.me)
                if outcome.secret is not None:
                    secret, cluster = self.io.store_secret(outcome.secret, snap.cluster)
                    snap = snap.but(cluster=cluster)
                    break
                if outcome.stop:
                    break
            else:
                completed = True
            if snap.leader and not snap.own_only:
                now = completed and not self.unfinished and settled(snap, self.held, self.blocked)
                snap = snap.but(cluster=snap.cluster.model_copy(update={"settled": now}))
        finally:
            self._snapshot = snap
            if snap.me != start.me:
                self.io.save_me(snap.me)
            if snap.cluster != start.cluster:
                self.io.save_cluster(snap.cluster)
        return secret

    def _note(self, outcome: Outcome) -> None:
        self.unfinished = self.unfinished or outcome.unfinished
        if outcome.held:
            self.held.append(outcome.held)
        if outcome.blocked:
            self.blocked.append(outcome.blocked)

    def _bootstrap(self) -> None:
        """What must exist before anything else: the internal secret and the first members."""
        peers = self.io.peers
        if peers is None:
            return
        app = self.model.app
        cluster = peers.load(ClusterAppData, app)
        if cluster.internal_secret_id is None:
            secret = app.add_secret(
                InternalSecret.generate().content(),
                label=INTERNAL_SECRET_LABEL,
                description="ZooKeeper super user and quorum passwords",
            )
            cluster = cluster.model_copy(update={"internal_secret_id": secret.id})
        planned = app.planned_units() if cluster.bootstrap_members is None else 0
        self.io.save_cluster(bootstrap.plan(cluster, planned, self.io.unit))

    # -- a leaving unit -------------------------------------------------------------------

    def leaving(self) -> int | None:
        """The app's planned scale if this unit is being scaled away, else None.

        The pods of scale N are ordinals 0..N-1, and planned_units() drops as soon as the
        user scales down, before any teardown hook: a unit at or past N is leaving. Zero is
        the whole application going, where nothing is left to keep a quorum for.
        """
        planned = self.model.app.planned_units()
        return planned if 0 < planned <= self.io.unit.ordinal else None

    def leave(self) -> None:
        """A leaving unit's teardown hook: out of the vote before Juju lets the pod go.

        Juju deletes the pods only once every leaving unit has finished its teardown hooks,
        so failing here (Juju retries the hook) keeps this pod, and the quorum it is part
        of, alive until the removal is safe. A pod restarted for any other reason keeps its
        place.
        """
        planned = self.leaving()
        if planned is None:
            return
        secret = internal_secret(self.model, label=INTERNAL_SECRET_LABEL)
        try:
            held, members = membership.leave(
                self.io, planned, passwords(secret) if secret else None
            )
        finally:
            self.io.close()
        peers = self.io.peers
        if members and self.model.unit.is_leader() and peers is not None:
            cluster = peers.load(ClusterAppData, self.model.app)
            self.io.save_cluster(cluster.model_copy(update={"members": members}))
        if held:
            raise LeaveError(f"{self.model.unit.name} cannot leave the ensemble yet: {held}")
