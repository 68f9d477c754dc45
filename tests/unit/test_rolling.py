"""The roll: who restarts next, and the roll carried across hooks and leader changes."""

import dataclasses
import json

import pytest
from ops import testing

import admin
from ensemble import zxid_lag
from rolling import Decision, Member, fingerprint, next_restart
from tests.unit.conftest import internal_secret
from tests.unit.test_charm import context, make_state, member_line, peers, woken

OK = Member(pending=False, serving=True)
PENDING = Member(pending=True, serving=True)


def test_followers_go_first_in_ordinal_order_and_the_leader_last():
    members = {0: PENDING, 1: dataclasses.replace(PENDING, zk_leader=True), 2: PENDING}
    order = []
    granted = None
    for _ in range(4):
        decision = next_restart(members, granted)
        if decision.grant is None:
            break
        order.append(decision.grant)
        members[decision.grant] = dataclasses.replace(members[decision.grant], pending=False)
        granted = decision.grant
    assert order == [0, 2, 1]


def test_the_leader_waits_while_a_follower_has_not_reported_the_change_yet():
    members = {
        0: Member(pending=False, serving=True, running="new"),
        1: Member(pending=False, serving=True, running="old"),  # not seen the change yet
        2: Member(pending=True, serving=True, zk_leader=True, running="old", target="new"),
    }
    decision = next_restart(members, None)
    assert decision == Decision(held="rolling restart waits for unit 1 before the leader")
    members[1] = Member(pending=False, serving=True, running="new")
    assert next_restart(members, None) == Decision(grant=2)


def test_a_grant_stands_until_that_unit_is_done():
    members = {0: PENDING, 1: PENDING}
    assert next_restart(members, 1) == Decision(grant=1)


def test_nobody_restarts_while_a_member_is_down():
    members = {0: PENDING, 1: dataclasses.replace(OK, serving=False)}
    assert next_restart(members, None) == Decision(
        held="rolling restart waits for unit 1 to serve"
    )


def test_a_failed_restart_halts_the_roll():
    members = {0: dataclasses.replace(PENDING, failed=True), 1: PENDING}
    assert next_restart(members, 0) == Decision(
        held="rolling restart halted: unit 0 did not come back"
    )


def test_nothing_pending_grants_nothing():
    assert next_restart({0: OK, 1: OK}, None) == Decision()


def test_fingerprint_sees_every_part_and_their_boundaries():
    assert fingerprint(["a", "b"]) != fingerprint(["ab"])
    assert fingerprint(["a"]) == fingerprint(["a"])


@pytest.mark.parametrize(
    ("leader", "member", "lag"),
    [
        (0x100000005, 0x100000005, 0),
        (0x100000005, 0x100000002, 3),
        (0x200000000, 0x100000009, 0),  # new epoch, nothing written yet
        (0x200000004, 0x100000009, 4),
    ],
)
def test_lag_counts_transactions_across_epochs(leader, member, lag):
    assert zxid_lag(leader, member) == lag


def roll_state(disk, *, leader, unit_id, grant, peers_data, generation=0):
    secret = internal_secret()
    app = {
        "internal-secret-id": json.dumps(secret.id),
        "bootstrap-members": json.dumps([0, 1, 2]),
        "members": json.dumps([member_line(o).strip() for o in (0, 1, 2)]),
        "restart-generation": json.dumps(generation),
    }
    if grant is not None:
        app["restart-grant"] = json.dumps(grant)
    state = make_state(disk, leader=leader, secrets=[secret], app_data=app)
    relation = testing.PeerRelation("cluster", local_app_data=app, peers_data=peers_data)
    return dataclasses.replace(state, relations={relation})


def running(state, previous):
    """`state`, with the container (plan, running service) as `previous` left it."""
    container = dataclasses.replace(
        previous.get_container("zookeeper"),
        service_statuses={"zookeeper": testing.pebble.ServiceStatus.ACTIVE},
    )
    relation = dataclasses.replace(peers(state), local_unit_data=peers(previous).local_unit_data)
    return dataclasses.replace(state, containers={container}, relations={relation})


JUJU_KEYS = {"egress-subnets", "ingress-address", "private-address"}


def unit_data(out):
    data = peers(out).local_unit_data
    return {k: json.loads(v) for k, v in data.items() if k not in JUJU_KEYS}


SERVING_PEER = {"state": json.dumps("serving"), "mode": json.dumps("follower")}


def test_a_follower_waits_for_its_grant_then_restarts_once(disk):
    ctx = context(1)
    # First hook: starts the server with the current settings.
    first = ctx.run(
        ctx.on.config_changed(),
        roll_state(disk, leader=False, unit_id=1, grant=None, peers_data={0: SERVING_PEER}),
    )
    settled = unit_data(first)["running-config"]
    # The leader bumps the restart generation: the settings differ, but no grant yet.
    state = roll_state(
        disk, leader=False, unit_id=1, grant=None, peers_data={0: SERVING_PEER}, generation=1
    )
    state = running(state, first)
    waiting = ctx.run(ctx.on.relation_changed(peers(state), remote_unit=0), state)
    assert unit_data(waiting)["pending-config"] != settled
    assert waiting.unit_status == testing.MaintenanceStatus(
        "settings changed: waiting to restart in turn"
    )
    assert not [m for m in ctx.juju_log if m.message.startswith("restarting")]

    # Now the leader grants unit 1: it restarts, comes back, and says it is done.
    granted = roll_state(
        disk, leader=False, unit_id=1, grant=1, peers_data={0: SERVING_PEER}, generation=1
    )
    granted = running(granted, waiting)
    ctx = context(1)
    restarted = ctx.run(ctx.on.relation_changed(peers(granted), remote_unit=0), granted)
    done = woken(ctx, restarted)  # the watcher's notice: the server serves again
    assert [m.message for m in ctx.juju_log if m.message.startswith("restarting")] == [
        "restarting zookeeper"
    ]
    assert "pending-config" not in unit_data(done) or unit_data(done)["pending-config"] is None
    assert unit_data(done)["running-config"] == unit_data(waiting)["pending-config"]


def test_a_new_leader_carries_on_the_roll_from_peer_data(disk):
    # unit 1 finished, unit 2 still runs old settings: a new leader (unit 0, done already)
    # grants unit 2 without any memory of its own.
    peers_data = {
        1: {**SERVING_PEER, "running-config": '"new"'},
        2: {**SERVING_PEER, "pending-config": '"new"', "running-config": '"old"'},
    }
    ctx = context(0)
    started = ctx.run(
        ctx.on.config_changed(),
        roll_state(disk, leader=True, unit_id=0, grant=1, peers_data=peers_data),
    )
    state = running(
        roll_state(disk, leader=True, unit_id=0, grant=1, peers_data=peers_data), started
    )
    out = ctx.run(ctx.on.leader_elected(), state)
    assert json.loads(peers(out).local_app_data["restart-grant"]) == 2


def test_the_roll_asks_zookeeper_who_leads_not_peer_data(disk, monkeypatch):
    # Peer data still says unit 1 is a follower, but ZooKeeper's leader is unit 1 now: it
    # must restart last, so unit 2 goes first.
    peers_data = {
        1: {**SERVING_PEER, "pending-config": '"new"', "running-config": '"old"'},
        2: {**SERVING_PEER, "pending-config": '"new"', "running-config": '"old"'},
    }

    def srvr(host, port=2181):
        return {"mode": "leader" if host.startswith("zookeeper-k8s-1.") else "follower"}

    monkeypatch.setattr(admin, "server_stats", srvr)
    ctx = context(0)
    started = ctx.run(
        ctx.on.config_changed(),
        roll_state(disk, leader=True, unit_id=0, grant=None, peers_data=peers_data),
    )
    state = running(
        roll_state(disk, leader=True, unit_id=0, grant=None, peers_data=peers_data), started
    )
    out = ctx.run(ctx.on.update_status(), state)
    assert json.loads(peers(out).local_app_data["restart-grant"]) == 2


def test_update_status_logs_a_health_summary_and_flags_a_busy_server(disk, admin_server):
    import admin

    ctx = context(0)
    started = ctx.run(
        ctx.on.config_changed(),
        roll_state(disk, leader=True, unit_id=0, grant=None, peers_data={}),
    )
    admin_server.health = admin.Health(
        serving=True, mode="leader", voters=3, outstanding_requests=1500, connections=7
    )
    state = running(roll_state(disk, leader=True, unit_id=0, grant=None, peers_data={}), started)
    out = ctx.run(ctx.on.update_status(), state)
    assert out.unit_status == testing.ActiveStatus("leader, 3 members; 1500 requests queued")
    summary = [m.message for m in ctx.juju_log if m.message.startswith("health:")]
    assert summary == [
        "health: serving=True mode=leader voters=3 outstanding=1500 connections=7 zxid=0x0"
    ]

    # A healthy server's update-status logs nothing: under Juju each line is a juju-log call.
    admin_server.health = admin.Health(serving=True, mode="leader", voters=3)
    ctx.run(ctx.on.update_status(), out)
    assert [m.message for m in ctx.juju_log if m.message.startswith("health:")] == summary
