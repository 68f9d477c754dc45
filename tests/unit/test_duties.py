"""State tests of the duties without events: a snapshot in, the changes a duty wants out.

Each duty reads one immutable snapshot (snapshot.py) and returns an Outcome; nothing here
runs ops. The shells a duty needs are the small stand-ins below, each recording what it did.
Then the charm: every event that reconciles reaches the same state from the same start.
"""

from __future__ import annotations

import dataclasses
import time

import ops
import pytest
from ops import testing

import admin
import clients as clients_module
import status
from config import parse
from duties import Outcome, bootstrap, membership, roll, rotation, server, system_users
from duties import clients as client_duty
from duties import upgrade as upgrade_duty
from ensemble import EnsembleConfig
from layout import K8S
from snapshot import Identity, Snapshot
from state import (
    ClientRecord,
    ClusterAppData,
    ClusterUnitData,
    InternalSecret,
    MemberState,
    RotationPhase,
)
from tests.unit.test_charm import (
    context,
    follower_state,
    internal_secret_without_label,
    make_state,
    peers,
    plan,
    workload,
)

UNIT = Identity("zk", "prod", 0, K8S)
SECRET = InternalSecret(super_password="s" * 32, sync_password="q" * 32)


def members(*ordinals: int) -> list[str]:
    return [UNIT.server(o).line for o in ordinals]


def serving(**changes) -> ClusterUnitData:
    return ClusterUnitData(**{"state": MemberState.SERVING, "mode": "follower", **changes})


def snap(*, cluster=None, me=None, others=None, planned=3, config=None) -> Snapshot:
    return Snapshot(
        unit=UNIT,
        leader=True,
        config=parse(config or {}),
        cluster=cluster or ClusterAppData(members=members(0, 1, 2)),
        secret=SECRET,
        me=me or serving(),
        planned=planned,
        others={1: serving(), 2: serving()} if others is None else others,
    )


class Zookeeper:
    """The admin session: a committed config that reconfig changes, each call recorded."""

    def __init__(self, committed: EnsembleConfig):
        self.committed = committed
        self.calls: list[tuple] = []

    def committed_config(self) -> EnsembleConfig:
        return self.committed

    def reconfig(self, joining, leaving):
        self.calls.append((tuple(joining), tuple(leaving)))
        kept = [s for s in self.committed.servers if s.id not in leaving]
        added = EnsembleConfig.parse("\n".join(joining)).servers
        self.committed = EnsembleConfig((*kept, *added))
        return self.committed


@dataclasses.dataclass
class Shells:
    serving: frozenset[int] = frozenset({0, 1, 2})
    leader: frozenset[int] = frozenset({0})
    zk: Zookeeper | None = None
    health: admin.Health = dataclasses.field(
        default_factory=lambda: admin.Health(serving=True, mode="leader", voters=3)
    )
    model: object = None
    sessions: int = 0

    def serving_now(self, ordinals, committed=None):
        return frozenset(o for o in ordinals if o in self.serving)

    def leading_now(self, ordinals, committed=None):
        return frozenset(o for o in ordinals if o in self.leader)

    def reach(self, committed):
        return {}  # plaintext: no TLS in these tests

    def zookeeper(self, _snapshot):
        self.sessions += 1
        return self.zk

    def forget_health(self):
        pass  # `health` is what the test says the server answers


# -- bootstrap -------------------------------------------------------------------------------


def test_bootstrap_publishes_every_planned_pod_once_and_never_again():
    first = bootstrap.plan(ClusterAppData(), 3, UNIT)
    assert first.bootstrap_members == [0, 1, 2]
    assert first.members == members(0, 1, 2)
    later = first.model_copy(update={"members": members(0, 1, 2, 3)})
    assert bootstrap.plan(later, 5, UNIT) == later  # ZooKeeper says who votes from now on


# -- the roll --------------------------------------------------------------------------------


def test_roll_grants_a_follower_first_and_asks_zookeeper_who_leads():
    pending = {1: serving(pending_config="new"), 2: serving(pending_config="new")}
    io = Shells(leader=frozenset({1}))
    out = roll.run(snap(me=serving(pending_config="new"), others=pending), io)
    assert out.cluster.restart_grant in (0, 2)  # unit 1 leads: it goes last
    assert out.cluster.restart_grant != 1


def test_roll_changes_nothing_without_pending_settings():
    out = roll.run(snap(), Shells())
    assert out.cluster is None and out.held is None


def test_roll_waits_for_an_upgrade_instead_of_granting():
    cluster = ClusterAppData(members=members(0, 1, 2), upgrade_partition=2)
    out = roll.run(snap(cluster=cluster, others={1: serving(pending_config="x")}), Shells())
    assert out.cluster is None
    assert out.held == "rolling restart waits for the upgrade"


# -- membership ------------------------------------------------------------------------------


def test_membership_opens_no_session_when_zookeeper_already_has_what_juju_plans():
    io = Shells()
    assert membership.run(snap(), io).cluster is None
    assert io.sessions == 0


def test_membership_adds_a_synced_joiner_and_publishes_what_zookeeper_committed():
    io = Shells(serving=frozenset({0, 1, 2, 3}))
    io.zk = Zookeeper(EnsembleConfig.parse("\n".join(members(0, 1, 2))))
    others = {1: serving(), 2: serving(), 3: serving(mode="observer")}
    out = membership.run(snap(others=others, planned=4), io)
    assert io.zk.calls == [((UNIT.server(3).line,), ())]
    assert out.cluster.members == members(0, 1, 2, 3)


def test_membership_never_removes_on_a_partial_view():
    """The pods leaving may be missing from the relation while they still vote: removal
    counts what ZooKeeper says serves, and nothing goes when too few answer."""
    io = Shells(serving=frozenset({0}))
    io.zk = Zookeeper(EnsembleConfig.parse("\n".join(members(0, 1, 2))))
    out = membership.run(snap(others={}, planned=1), io)
    assert all(not leaving for _, leaving in io.zk.calls)
    assert out.held


def test_a_leaving_unit_with_no_secret_says_so_and_removes_nobody():
    io = Shells(health=admin.NOT_RUNNING)
    held, committed = membership.leave(io, 1, None)
    assert held == "cannot read the internal secret"
    assert committed == []


# -- rotation --------------------------------------------------------------------------------


def test_rotation_waits_until_every_server_runs_the_current_credentials():
    cluster = ClusterAppData(members=members(0, 1, 2), rotation=RotationPhase.ACCEPT)
    start = snap(cluster=cluster)
    behind = {1: serving(running_jaas="old"), 2: serving(running_jaas=start.jaas_fingerprint)}
    assert rotation.run(start.but(others=behind), Shells()).secret is None


def test_rotation_moves_on_once_every_server_runs_them():
    cluster = ClusterAppData(members=members(0, 1, 2), rotation=RotationPhase.ACCEPT)
    start = snap(cluster=cluster)
    done = serving(running_jaas=start.jaas_fingerprint)
    out = rotation.run(start.but(me=done, others={1: done, 2: done}), Shells())
    assert out.secret is not None
    assert out.cluster.rotation is not RotationPhase.ACCEPT


# -- system-users ----------------------------------------------------------------------------


class Model:
    def __init__(self, content=None, error=None):
        self.content, self.error = content, error

    def get_secret(self, id):
        if self.error:
            raise self.error
        return self

    def get_content(self, refresh=False):
        return self.content


@pytest.mark.parametrize(
    ("model", "blocked"),
    [
        (Model(error=ops.SecretNotFoundError()), "juju grant-secret secret:abc zk"),
        (Model({"super-password": "short"}), "add a new secret revision"),
    ],
)
def test_system_users_blocks_naming_the_fix(model, blocked):
    out = system_users.run(snap(config={"system-users": "secret:abc"}), Shells(model=model))
    assert blocked in out.blocked
    assert out.secret is None


def test_system_users_rotates_to_the_new_password_and_ends_the_pass():
    model = Model({"super-password": "n" * 32})
    out = system_users.run(snap(config={"system-users": "secret:abc"}), Shells(model=model))
    assert out.secret.super_password == "n" * 32
    assert out.secret.super_password_previous == SECRET.super_password


def test_system_users_waits_for_a_roll_under_way():
    model = Model({"super-password": "n" * 32})
    start = snap(config={"system-users": "secret:abc"}, others={1: serving(pending_config="x")})
    out = system_users.run(start, Shells(model=model))
    assert out.secret is None
    assert out.held == "system-users: new password waits for the current roll"


# -- statuses --------------------------------------------------------------------------------


def test_app_status_names_the_move_while_zookeeper_and_juju_differ():
    assert status.app(snap(planned=5)) == ops.MaintenanceStatus("3 voting members, moving to 5")
    assert status.app(snap()) == ops.ActiveStatus("3 voting members, 0 client apps")


def test_a_failed_restart_names_its_way_out():
    (blocked, _) = status.unit(
        snap(me=serving(failed_config="x")), True, admin.Health(serving=True), 120
    )
    assert blocked.name == "blocked"
    assert blocked.message.endswith("fix the cause, then run the restart action")


# -- every event reaches the same state ------------------------------------------------------

EVENTS = {
    "install": lambda ctx, state: ctx.on.install(),
    "start": lambda ctx, state: ctx.on.start(),
    "config-changed": lambda ctx, state: ctx.on.config_changed(),
    "upgrade-charm": lambda ctx, state: ctx.on.upgrade_charm(),
    "leader-elected": lambda ctx, state: ctx.on.leader_elected(),
    "update-status": lambda ctx, state: ctx.on.update_status(),
    "pebble-ready": lambda ctx, state: ctx.on.pebble_ready(workload(state)),
    "relation-changed": lambda ctx, state: ctx.on.relation_changed(peers(state), remote_unit=1),
    "relation-joined": lambda ctx, state: ctx.on.relation_joined(peers(state), remote_unit=2),
    "relation-created": lambda ctx, state: ctx.on.relation_created(peers(state)),
}


def _settled(disk):
    """unit/0, leader of three serving members, after its first hooks, then drift."""
    ctx = context()
    state = ctx.run(ctx.on.leader_elected(), make_state(disk))
    state = ctx.run(ctx.on.config_changed(), state)
    reports = {o: {"state": '"serving"', "mode": '"follower"'} for o in (1, 2)}
    relation = dataclasses.replace(peers(state), peers_data=reports)
    # Drift for the next hook to repair, whichever it is: a setting changed, a file gone.
    (disk / "data/myid").unlink()
    return dataclasses.replace(state, relations={relation}, config={"log-level": "WARN"})


def _what_a_user_sees(state: testing.State, disk) -> tuple:
    files = {p.relative_to(disk.root): p.read_text() for p in disk.root.rglob("*") if p.is_file()}
    return (
        dict(peers(state).local_app_data),
        dict(peers(state).local_unit_data),
        plan(state),
        state.unit_status,
        state.app_status,
        files,
    )


@pytest.mark.parametrize("event", EVENTS)
def test_every_event_reaches_the_same_state(event, disk):
    """Reconcile is holistic: which event woke it makes no difference to where it ends."""
    start = _settled(disk)
    ctx = context()
    reference = _what_a_user_sees(ctx.run(ctx.on.update_status(), start), disk)
    ctx = context()
    out = ctx.run(EVENTS[event](ctx, start), start)
    assert _what_a_user_sees(out, disk) == reference


def test_the_events_above_have_something_to_reconcile(disk):
    """Not a tautology: from this start, a hook that did not reconcile would differ."""
    start = _settled(disk)
    before = _what_a_user_sees(start, disk)
    ctx = context()
    assert _what_a_user_sees(ctx.run(ctx.on.update_status(), start), disk) != before


# -- upgrade ---------------------------------------------------------------------------------


class Kube:
    """The StatefulSet as the upgrade duty sees it: pods on the new revision, its partition."""

    def __init__(self, upgraded, revision="rev2", error=None):
        self.upgraded, self.revision, self.error = set(upgraded), revision, error
        self.partitions: list[int] = []

    def update_revision(self, app, model):
        if self.error:
            raise self.error
        return self.revision

    def pod_upgraded(self, pod, app, model):
        return int(pod.rsplit("-", 1)[1]) in self.upgraded

    def set_partition(self, app, model, value):
        self.partitions.append(value)


@dataclasses.dataclass
class UpgradeShells(Shells):
    k: Kube | None = None

    def kube(self):
        return self.k

    def pod_name(self, ordinal):
        return f"{UNIT.app}-{ordinal}"


def upgrading(partition: int) -> Snapshot:
    return snap(
        cluster=ClusterAppData(
            members=members(0, 1, 2), upgrade_partition=partition, upgrade_from_revision="rev1"
        )
    )


@pytest.fixture
def zk_leader(monkeypatch):
    """ZooKeeper's own view of who leads (mntr on each member): server 1 (unit 0)."""
    leader = UNIT.server(0).address
    monkeypatch.setattr(
        admin, "mntr", lambda host: {"zk_server_state": "leader" if host == leader else "x"}
    )


def test_upgrade_does_nothing_without_one_under_way():
    io = UpgradeShells(k=Kube(upgraded=()))
    assert upgrade_duty.run(snap(), io) == Outcome()
    assert io.k.partitions == []


def test_upgrade_lowers_the_partition_once_the_exposed_pod_serves_upgraded(zk_leader):
    io = UpgradeShells(k=Kube(upgraded={2}))
    out = upgrade_duty.run(upgrading(2), io)
    assert io.k.partitions == [1]
    assert out.cluster.upgrade_partition == 1


def test_upgrade_finishes_and_clears_its_state_when_every_pod_is_upgraded(zk_leader):
    io = UpgradeShells(k=Kube(upgraded={0, 1, 2}))
    out = upgrade_duty.run(upgrading(0), io)
    assert out.cluster.upgrade_partition is None
    assert out.cluster.upgrade_from_revision is None


def test_without_trust_the_upgrade_blocks_naming_the_fix():
    import k8s

    io = UpgradeShells(k=Kube(upgraded=(), error=k8s.K8sError("juju trust zookeeper-k8s")))
    out = upgrade_duty.run(upgrading(2), io)
    assert out.blocked == "upgrade: juju trust zookeeper-k8s"
    assert out.cluster is None


# -- every waiting or blocked status has a way out, driven here ------------------------------


class Workload:
    """The Pebble shell as the restart sees it: what it was told to do."""

    def __init__(self):
        self.calls: list[str] = []

    def apply_layer(self, layer):
        self.calls.append("apply_layer")

    def restart(self):
        self.calls.append("restart")


@dataclasses.dataclass
class RestartShells(Shells):
    workload: Workload = dataclasses.field(default_factory=Workload)


def granted(**me) -> Snapshot:
    cluster = ClusterAppData(members=members(0, 1, 2), restart_grant=0)
    return snap(cluster=cluster, me=serving(pending_config="new", running_config="old", **me))


def test_a_granted_restart_waits_for_the_quorum_to_sync_then_goes(monkeypatch):
    """Way out: the members' own reports (relation-changed) once they are in sync."""
    synced = [False]
    monkeypatch.setattr(admin, "quorum_synced", lambda hosts, voters: synced[0])
    io = RestartShells()
    held = server.restart_in_turn(granted(), io, 120)
    assert held.held == "waiting for every member to be in sync before restarting"
    assert io.workload.calls == []

    synced[0] = True
    out = server.restart_in_turn(granted(), io, 120)
    assert io.workload.calls == ["apply_layer", "restart"]
    assert out.me.restarting == "new"


def test_a_restarted_server_is_waited_for_then_counted_back(monkeypatch):
    """Way out: the watcher's notice that the server serves again."""
    monkeypatch.setattr(admin, "quorum_synced", lambda hosts, voters: True)
    restarting = granted(restarting="new", restarted_at=time.time())
    down = RestartShells(health=admin.NOT_RUNNING)
    assert server.restart_in_turn(restarting, down, 120).held == (
        "restarted: waiting for zookeeper to rejoin the quorum"
    )
    back = server.restart_in_turn(restarting, RestartShells(), 120)
    assert (back.me.running_config, back.me.pending_config, back.me.restarting) == (
        "new",
        None,
        None,
    )


def test_a_restart_past_its_timeout_halts_and_says_so(monkeypatch):
    """Way out (blocked: 'fix the cause, then run the restart action'): tested in
    test_bad_input.py and, live, in test_rolling.py; here: the timeout is what decides."""
    monkeypatch.setattr(admin, "quorum_synced", lambda hosts, voters: True)
    late = granted(restarting="new", restarted_at=time.time() - 121)
    out = server.restart_in_turn(late, RestartShells(health=admin.NOT_RUNNING), 120)
    assert out.me.failed_config == "new"
    assert out.me.restarting is None


def test_an_unreadable_system_users_secret_blocks_until_it_can_be_read():
    """Way out: the admin fixes access (juju grant-secret); the next hook rotates."""
    config = {"system-users": "secret:abc"}
    stuck = system_users.run(
        snap(config=config), Shells(model=Model(error=ops.ModelError("permission denied")))
    )
    assert stuck.blocked == "system-users: cannot read secret secret:abc: permission denied"
    fixed = system_users.run(
        snap(config=config), Shells(model=Model({"super-password": "n" * 32}))
    )
    assert fixed.blocked is None and fixed.secret is not None


def test_an_upgrade_whose_leader_cannot_move_yet_waits_for_the_next_hook(monkeypatch):
    """Way out: any later hook, once ZooKeeper takes the reconfig."""
    leader = UNIT.server(1).address
    monkeypatch.setattr(
        admin, "mntr", lambda host: {"zk_server_state": "leader" if host == leader else "x"}
    )

    class Refusing(Zookeeper):
        def reconfig(self, joining, leaving):
            raise admin.AdminError("ConnectionLoss()")

    committed = EnsembleConfig.parse("\n".join(members(0, 1, 2)))
    io = UpgradeShells(k=Kube(upgraded={2}), zk=Refusing(committed))
    # The next partition exposes pod 1, which leads ZooKeeper: its leadership moves first.
    stuck = upgrade_duty.run(upgrading(2), io)
    assert stuck.held == "upgrade: cannot move ZooKeeper leadership yet: ConnectionLoss()"
    io.zk = Zookeeper(committed)
    moved = upgrade_duty.run(upgrading(2), io)
    assert moved.held is None
    assert [leaving for _, leaving in io.zk.calls] == [(2,), ()]  # out of the vote, back in


def test_the_app_status_waits_for_the_ensemble_until_the_leader_bootstraps():
    """Way out: the leader's first hook (bootstrap), which publishes the members."""
    forming = snap(cluster=ClusterAppData())
    assert status.app(forming) == ops.WaitingStatus("the ensemble is forming")
    bootstrapped = forming.but(cluster=bootstrap.plan(ClusterAppData(), 3, UNIT))
    assert status.app(bootstrapped).name == "active"


def test_without_the_peer_relation_a_unit_waits_until_juju_creates_it(disk):
    """Way out: the peer relation's relation-created, which Juju runs on every unit."""
    ctx = context()
    alone = dataclasses.replace(make_state(disk), relations=set())
    out = ctx.run(ctx.on.install(), alone)
    assert out.unit_status == ops.WaitingStatus("waiting for the peer relation")
    state = make_state(disk)
    joined = ctx.run(ctx.on.relation_created(peers(state)), state)
    assert joined.unit_status != ops.WaitingStatus("waiting for the peer relation")


def test_a_pass_shows_its_first_hold_and_its_first_user_error_only():
    found = status.found(snap(), ["first hold", "second hold"], ["first error", "second"])
    assert found == [ops.WaitingStatus("first hold"), ops.BlockedStatus("first error")]


def test_a_server_with_exactly_the_busy_threshold_queued_says_so():
    busy = admin.Health(
        serving=True,
        mode="leader",
        voters=3,
        outstanding_requests=status.BUSY_OUTSTANDING_REQUESTS,
    )
    assert status.serving_message(busy) == "leader, 3 members; 1000 requests queued"


def test_app_status_counts_one_client_app_in_the_singular():
    record = ClientRecord(app="kafka", chroot="/kafka", perms="cdrw", secret_id="secret:x")
    one = snap(cluster=ClusterAppData(members=members(0, 1, 2), clients={5: record}))
    assert status.app(one) == ops.ActiveStatus("3 voting members, 1 client app")
    two = one.but(cluster=one.cluster.model_copy(update={"clients": {5: record, 6: record}}))
    assert status.app(two) == ops.ActiveStatus("3 voting members, 2 client apps")


def test_a_unit_waiting_for_its_container_starts_on_pebble_ready(disk):
    """Way out: pebble-ready, which Juju runs once Pebble in the workload container answers."""
    ctx = context()
    waiting = ctx.run(ctx.on.install(), make_state(disk, can_connect=False))
    assert waiting.unit_status == ops.WaitingStatus("waiting for the zookeeper container")
    container = dataclasses.replace(workload(waiting), can_connect=True)
    ready = dataclasses.replace(waiting, containers={container})
    out = ctx.run(ctx.on.pebble_ready(container), ready)
    assert "zookeeper" in plan(out)["services"]
    assert out.unit_status != waiting.unit_status


def test_a_unit_waiting_for_credentials_starts_once_the_leader_published_them(disk):
    """Way out: the leader's write of the secret's id, which reaches this unit as
    relation-changed."""
    secret = internal_secret_without_label()
    ctx = context(1)
    waiting = ctx.run(ctx.on.install(), follower_state(disk, secret, with_id=False))
    assert waiting.unit_status == ops.WaitingStatus("waiting for the leader to create credentials")
    published = follower_state(disk, secret)
    relation = dataclasses.replace(peers(published), peers_data={0: {}})
    published = dataclasses.replace(published, relations={relation})
    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), published)
    assert "zookeeper" in plan(out)["services"]
    assert out.unit_status != waiting.unit_status


# -- clients: the open chroots ----------------------------------------------------------------


class ChrootZookeeper(Zookeeper):
    """Records the chroot and ACL calls; `fail` makes each one a lost connection."""

    def __init__(self):
        super().__init__(EnsembleConfig.parse("\n".join(members(0, 1, 2))))
        self.fail = False

    def _record(self, *call):
        if self.fail:
            raise admin.AdminError("ConnectionLoss()")
        self.calls.append(call)

    def set_acls(self, path, acls):
        self._record("set_acls", path)

    def ensure_chroot(self, path, acls, parent_acls):
        self._record("ensure_chroot", path, tuple(acls))

    def set_tree_acls(self, path, acls):
        self._record("set_tree_acls", path, tuple(acls))


class NoClients:
    """The model as the client duty sees it with no client relation."""

    relations = {"zookeeper": []}
    app = None


def open_chroots(value: str, made=(), **cluster) -> Snapshot:
    return snap(
        config={"open-chroots": value},
        cluster=ClusterAppData(
            members=members(0, 1, 2), root_closed=True, open_chroots_made=list(made), **cluster
        ),
    )


def test_an_opted_in_chroot_is_made_open_once_under_a_closed_root():
    io = Shells(zk=ChrootZookeeper(), model=NoClients())
    out = client_duty.run(open_chroots("/public"), io)
    assert io.zk.calls == [
        ("set_acls", "/"),
        ("ensure_chroot", "/public", tuple(clients_module.open_acls())),
    ]
    assert out.cluster.open_chroots_made == ["/public"]
    io.zk.calls.clear()
    client_duty.run(open_chroots("/public", made=["/public"]), io)
    assert io.zk.calls == []


def test_a_chroot_no_longer_opted_in_keeps_its_data_closed_to_all_but_super():
    io = Shells(zk=ChrootZookeeper(), model=NoClients())
    out = client_duty.run(open_chroots("", made=["/public"]), io)
    assert ("set_tree_acls", "/public", tuple(clients_module.super_only())) in io.zk.calls
    assert out.cluster.open_chroots_made == []


def test_open_chroots_wait_for_zookeeper_and_a_later_hook_makes_them():
    """Way out: any later hook, once ZooKeeper answers."""
    io = Shells(zk=ChrootZookeeper(), model=NoClients())
    io.zk.fail = True
    held = client_duty.run(open_chroots("/public"), io)
    assert held.held == "open chroots wait for ZooKeeper: ConnectionLoss()"
    assert held.cluster.open_chroots_made == []
    io.zk.fail = False
    out = client_duty.run(open_chroots("/public"), io)
    assert out.held is None
    assert out.cluster.open_chroots_made == ["/public"]
