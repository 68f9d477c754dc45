"""Scale events as the charm sees them: who opens a ZooKeeper session, and what it changes."""

import contextlib
import dataclasses
import json

import pytest
from ops import pebble, testing

import admin
from ensemble import EnsembleConfig
from tests.unit.conftest import container, internal_secret
from tests.unit.test_charm import APP, MODEL, context, make_state, member_line, peers

SERVING = json.dumps("serving")
STARTED = json.dumps("started")


class FakeZooKeeper:
    """Stands in for the kazoo shell (admin.session): a committed config and reconfig on it."""

    def __init__(self, ordinals):
        self.config = EnsembleConfig.parse("".join(member_line(o) for o in ordinals))
        self.sessions = 0
        self.steps: list[tuple[list[str], list[int]]] = []
        self.fail = False
        self.acls: dict[str, list] = {}  # set_acls calls: the root closed on the first hook
        # Ordinals whose server answers `srvr` with a mode: every pod serves unless a test
        # says otherwise.
        self.serving = set(range(9))

    def server_stats(self, host, port=2181):
        ordinal = int(host.split(".")[0].rsplit("-", 1)[1])
        return {"mode": "follower"} if ordinal in self.serving else {}

    @contextlib.contextmanager
    def session(self, passwords, host="127.0.0.1", port=2181, timeout=10.0, fallbacks=()):
        if self.fail:
            raise admin.AdminError("cannot reach ZooKeeper")
        assert passwords[0] == "superpw"
        self.sessions += 1
        yield self

    def committed_config(self):
        return self.config

    def set_acls(self, path, acls):
        self.acls[path] = list(acls)

    def reconfig(self, joining, leaving):
        self.steps.append((joining, leaving))
        text = self.config.render() + "".join(f"{line}\n" for line in joining)
        kept = [s for s in EnsembleConfig.parse(text).servers if s.id not in leaving]
        self.config = EnsembleConfig(tuple(kept))
        return self.config

    @property
    def ids(self):
        return sorted(self.config.ids)


@pytest.fixture
def zookeeper(monkeypatch):
    def install(ordinals):
        fake = FakeZooKeeper(ordinals)
        monkeypatch.setattr(admin, "session", fake.session)
        monkeypatch.setattr(admin, "server_stats", fake.server_stats)
        return fake

    return install


def cluster_state(disk, *, leader=True, planned, published, peers_states, unit_id=0):
    secret = internal_secret()
    state = make_state(
        disk,
        leader=leader,
        planned_units=planned,
        secrets=[secret],
        app_data={
            "internal-secret-id": json.dumps(secret.id),
            "bootstrap-members": json.dumps([0, 1, 2]),
            "members": json.dumps([member_line(o).strip() for o in published]),
            "root-closed": "true",
        },
    )
    relation = testing.PeerRelation(
        "cluster",
        local_app_data=peers(state).local_app_data,
        local_unit_data={"state": SERVING},
        peers_data={o: {"state": s} for o, s in peers_states.items() if o != unit_id},
    )
    return state.__class__(**{**state.__dict__, "relations": {relation}})


def published(out) -> list[int]:
    lines = json.loads(peers(out).local_app_data["members"])
    return sorted(EnsembleConfig.parse("\n".join(lines)).ids)


def test_leader_adds_every_synced_joiner_in_one_reconfig(disk, zookeeper):
    zk = zookeeper([0, 1, 2])
    state = cluster_state(
        disk,
        planned=5,
        published=[0, 1, 2],
        peers_states={1: SERVING, 2: SERVING, 3: SERVING, 4: SERVING},
    )
    out = context(0).run(context(0).on.relation_changed(peers(state), remote_unit=4), state)
    assert zk.sessions == 1
    assert len(zk.steps) == 1
    joining, leaving = zk.steps[0]
    assert leaving == []
    assert joining == [
        f"server.{o + 1}={APP}-{o}.{APP}-endpoints.{MODEL}.svc.cluster.local"
        ":2888:3888:participant;0.0.0.0:2181"
        for o in (3, 4)
    ]
    assert published(out) == [1, 2, 3, 4, 5]


def test_a_joiner_not_yet_in_sync_opens_no_session(disk, zookeeper):
    zk = zookeeper([0, 1, 2])
    state = cluster_state(
        disk, planned=4, published=[0, 1, 2], peers_states={1: SERVING, 2: SERVING, 3: STARTED}
    )
    out = context(0).run(context(0).on.relation_changed(peers(state), remote_unit=3), state)
    assert zk.sessions == 0
    assert published(out) == [1, 2, 3]


def test_a_non_leader_never_changes_membership_while_it_stays(disk, zookeeper):
    zk = zookeeper([0, 1, 2])
    state = cluster_state(
        disk,
        leader=False,
        planned=5,
        published=[0, 1, 2],
        peers_states={0: SERVING, 2: SERVING, 3: SERVING, 4: SERVING},
        unit_id=1,
    )
    context(1).run(context(1).on.relation_changed(peers(state), remote_unit=4), state)
    assert zk.sessions == 0


def test_leader_removes_leavers_one_at_a_time_highest_first(disk, zookeeper):
    zk = zookeeper([0, 1, 2, 3, 4])
    state = cluster_state(
        disk,
        planned=3,
        published=[0, 1, 2, 3, 4],
        peers_states={1: SERVING, 2: SERVING, 3: SERVING, 4: SERVING},
    )
    ctx = context(0)
    out = ctx.run(ctx.on.relation_departed(peers(state), remote_unit=4, departing_unit=4), state)
    assert zk.sessions == 1
    assert zk.steps == [([], [5]), ([], [4])]
    assert published(out) == [1, 2, 3]


@pytest.mark.parametrize("event", ["leader_elected", "relation_departed", "update_status"])
def test_an_empty_peer_list_removes_nobody(disk, zookeeper, event):
    zk = zookeeper([0, 1, 2])
    state = cluster_state(disk, planned=3, published=[0, 1, 2], peers_states={})
    ctx = context(0)
    if event == "relation_departed":
        out = ctx.run(ctx.on.relation_departed(peers(state), remote_unit=1), state)
    else:
        out = ctx.run(getattr(ctx.on, event)(), state)
    assert zk.steps == []
    assert published(out) == [1, 2, 3]


def dying_state(disk, *, peer_relation=True, unit_id=4, leader=False):
    """A unit of 5 being scaled to 3, as Juju shows it in one of its teardown hooks."""
    state = cluster_state(
        disk,
        leader=leader,
        planned=3,
        published=[0, 1, 2, 3, 4],
        peers_states={o: SERVING for o in range(5)},
        unit_id=unit_id,
    )
    running = dataclasses.replace(
        container(disk.root, running=True),
        layers={"zookeeper": pebble.Layer({"services": {"zookeeper": {"command": "zk"}}})},
    )
    changes = {"containers": {running}}
    if not peer_relation:
        changes["relations"] = set()
    return state.__class__(**{**state.__dict__, **changes})


@pytest.fixture
def voting_five(admin_server):
    # The dying unit's own server still counts all five as voters.
    admin_server.health = admin.Health(
        serving=True, mode="follower", voters=5, voter_ids=frozenset(range(1, 6))
    )


TEARDOWN = ["stop", "remove", "storage_detaching", "relation_departed", "relation_broken"]


def teardown_event(ctx, state, event):
    if event == "storage_detaching":
        return ctx.on.storage_detaching(next(iter(state.storages)))
    if event == "relation_departed":
        return ctx.on.relation_departed(peers(state), remote_unit=0, departing_unit=4)
    if event == "relation_broken":
        return ctx.on.relation_broken(peers(state))
    return getattr(ctx.on, event)()


@pytest.mark.parametrize("event", TEARDOWN)
def test_a_leaving_unit_removes_the_leavers_from_any_of_its_teardown_hooks(
    disk, zookeeper, voting_five, event
):
    zk = zookeeper([0, 1, 2, 3, 4])
    state = dying_state(disk)
    state = state.__class__(**{**state.__dict__, "storages": {testing.Storage("data")}})
    ctx = context(4)
    out = ctx.run(teardown_event(ctx, state, event), state)
    assert zk.steps == [([], [5]), ([], [4])]
    # Only the leader publishes; a leaving non-leader leaves peer app data alone.
    if event != "relation_broken":
        assert published(out) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("event", ["stop", "remove"])
def test_a_leaving_unit_that_no_longer_sees_the_peer_relation_still_leaves(
    disk, zookeeper, voting_five, event
):
    zk = zookeeper([0, 1, 2, 3, 4])
    state = dying_state(disk, peer_relation=False)
    ctx = context(4)
    ctx.run(getattr(ctx.on, event)(), state)
    assert zk.steps == [([], [5]), ([], [4])]


def test_a_leaving_unit_that_cannot_leave_safely_fails_its_hook_for_juju_to_retry(
    disk, zookeeper, voting_five
):
    zk = zookeeper([0, 1, 2, 3, 4])
    zk.serving = {3, 4}  # two of the members that stay are down
    ctx = context(4)
    with pytest.raises(testing.errors.UncaughtCharmError, match="cannot leave the ensemble"):
        ctx.run(ctx.on.stop(), dying_state(disk))
    assert zk.steps == []


def test_a_leaving_unit_already_out_of_the_vote_opens_no_session(disk, zookeeper, admin_server):
    zk = zookeeper([0, 1, 2])
    admin_server.health = admin.Health(
        serving=True, mode="follower", voters=3, voter_ids=frozenset({1, 2, 3})
    )
    context(4).run(context(4).on.remove(), dying_state(disk, peer_relation=False))
    assert zk.sessions == 0


def test_the_leader_removes_leavers_its_view_of_the_relation_lacks(disk, zookeeper):
    # Scale 3 to 1: the leaving units' relation-departed ran on the leader first, so its
    # view has no peers at all; their pods, and votes, are still there.
    zk = zookeeper([0, 1, 2])
    state = cluster_state(disk, planned=1, published=[0, 1, 2], peers_states={})
    ctx = context(0)
    out = ctx.run(ctx.on.relation_departed(peers(state), remote_unit=2, departing_unit=2), state)
    assert zk.steps == [([], [3]), ([], [2])]
    assert published(out) == [1]


@pytest.mark.parametrize("unit_id", [0, 4])
def test_removing_the_whole_application_touches_no_member(disk, zookeeper, unit_id):
    zk = zookeeper([0, 1, 2, 3, 4])
    state = cluster_state(
        disk,
        leader=unit_id == 0,
        planned=0,
        published=[0, 1, 2, 3, 4],
        peers_states={o: SERVING for o in range(5)},
        unit_id=unit_id,
    )
    context(unit_id).run(context(unit_id).on.stop(), state)
    assert zk.sessions == 0


def test_a_removal_that_would_leave_no_majority_waits_and_says_why(disk, zookeeper):
    zk = zookeeper([0, 1, 2, 3, 4])
    zk.serving = {0, 1}
    state = cluster_state(
        disk,
        planned=3,
        published=[0, 1, 2, 3, 4],
        peers_states={1: SERVING, 2: STARTED, 3: STARTED, 4: STARTED},
    )
    out = context(0).run(context(0).on.update_status(), state)
    assert zk.steps == []
    assert out.unit_status == testing.WaitingStatus(
        "cannot remove member 5 safely: 2 of 5 members in sync"
    )


def test_zookeeper_unreachable_keeps_the_hook_green_and_says_so(disk, zookeeper):
    zk = zookeeper([0, 1, 2])
    zk.fail = True
    state = cluster_state(
        disk, planned=4, published=[0, 1, 2], peers_states={1: SERVING, 2: SERVING, 3: SERVING}
    )
    out = context(0).run(context(0).on.update_status(), state)
    assert out.unit_status == testing.WaitingStatus(
        "cannot reach ZooKeeper to change membership; retrying on the next hook"
    )
    assert published(out) == [1, 2, 3]


def test_a_leader_whose_view_is_stale_reads_zookeeper_and_publishes_it(disk, zookeeper):
    # The departing units removed themselves already; the leader's last view still has them.
    zk = zookeeper([0])
    state = cluster_state(disk, planned=1, published=[0, 1, 2], peers_states={})
    out = context(0).run(context(0).on.update_status(), state)
    assert zk.sessions == 1
    assert zk.steps == []
    assert published(out) == [1]
