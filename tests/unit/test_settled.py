"""A settled leader's update-status looks at its own unit only (ClusterAppData.settled): the
other units' reports and planned_units() are read by the hooks that bring their changes.
Juju runs relation-changed on the leader for every change of a peer's data and
relation-joined/departed for every unit that comes or goes; update-status is only the
periodic look (https://juju.is/docs/sdk/update-status-event)."""

from __future__ import annotations

import dataclasses
import json

import ops
import pytest

import admin
import reconcile
from state import ClusterUnitData, MemberState, RotationPhase, TLSPhase
from tests.unit.test_charm import context
from tests.unit.test_provider import PEER_ID, client, run, serve


def app_data(state) -> dict:
    return {k: json.loads(v) for k, v in state.get_relation(PEER_ID).local_app_data.items()}


def planned_units_not_read(monkeypatch):
    def refuse(self):
        raise AssertionError("planned_units() read in a settled update-status")

    monkeypatch.setattr(ops.Application, "planned_units", refuse)


@pytest.fixture
def steady(disk, zookeeper):
    """The leader of three serving voters, after a full pass (a client relation's hook)."""
    out = serve(disk, client(5))
    assert app_data(out)["settled"] is True
    return out


def test_a_settled_leaders_update_status_reads_only_its_own_unit(steady, monkeypatch):
    planned_units_not_read(monkeypatch)
    peers = steady.get_relation(PEER_ID)
    # What a full pass would act on, were it read: another unit saying it needs a restart.
    unread = {**peers.peers_data, 1: {**peers.peers_data[1], "pending-config": '"c9"'}}
    state = dataclasses.replace(
        steady,
        relations={
            *(r for r in steady.relations if r.id != PEER_ID),
            dataclasses.replace(peers, peers_data=unread),
        },
    )
    ctx = context(0)
    out = ctx.run(ctx.on.update_status(), state)

    assert app_data(out) == app_data(steady)  # nothing granted, nothing unsettled
    assert out.unit_status == steady.unit_status
    assert ctx.app_status_history == []  # the app status it last set stands


def test_the_report_that_update_status_did_not_read_comes_with_relation_changed(steady):
    peers = steady.get_relation(PEER_ID)
    changed = dataclasses.replace(
        peers, peers_data={**peers.peers_data, 1: {**peers.peers_data[1], "state": '"started"'}}
    )
    state = dataclasses.replace(
        steady, relations={*(r for r in steady.relations if r.id != PEER_ID), changed}
    )
    ctx = context(0)
    out = ctx.run(ctx.on.relation_changed(changed, remote_unit=1), state)

    assert app_data(out)["settled"] is False
    # From then on update-status looks at everything again (planned_units() is read).
    again = ctx.run(ctx.on.update_status(), out)
    assert app_data(again)["settled"] is False


def test_a_settled_leader_whose_own_server_stopped_serving_looks_at_everything(
    steady, admin_server
):
    admin_server.health = admin.NOT_RUNNING
    ctx = context(0)
    out = ctx.run(ctx.on.update_status(), steady)

    assert app_data(out)["settled"] is False
    assert json.loads(out.get_relation(PEER_ID).local_unit_data["state"]) != "serving"


def test_a_leader_that_leaves_work_for_the_next_hook_is_not_settled(disk, zookeeper):
    first = serve(disk, client(5))
    # The relation goes: the policy written names its chroot as being taken back.
    out = run(first, "broken", relation_id=5)
    assert app_data(out)["settled"] is False


def test_a_new_leader_looks_at_everything_whatever_the_last_one_recorded(steady, monkeypatch):
    planned = []
    real = ops.Application.planned_units
    monkeypatch.setattr(
        ops.Application, "planned_units", lambda self: planned.append(1) or real(self)
    )
    ctx = context(0)
    ctx.run(ctx.on.leader_elected(), steady)
    assert planned


# -- the decision, without I/O ---------------------------------------------------------------


SERVING = ClusterUnitData(state=MemberState.SERVING)


@pytest.fixture
def calm(steady):
    """The snapshot a full pass of the steady leader ends with (a relation-changed hook)."""
    ctx = context(0)
    relation = steady.get_relation(5)
    with ctx(ctx.on.relation_changed(relation), steady) as manager:
        manager.run()
        found = manager.charm.reconciler.snapshot
    assert isinstance(found, reconcile.Snapshot) and not found.own_only
    return found


def test_the_calm_leader_is_settled(calm):
    assert reconcile.settled(calm, [], [])


@pytest.mark.parametrize(
    "unsettle",
    [
        pytest.param(lambda s: {"held": ["clients wait for ZooKeeper"]}, id="held"),
        pytest.param(lambda s: {"blocked": ["invalid chroot"]}, id="blocked"),
        pytest.param(lambda s: {"planned": 5}, id="scale-up-planned"),
        pytest.param(lambda s: {"planned": 2}, id="scale-down-planned"),
        pytest.param(
            lambda s: {
                "others": {
                    **s.others,
                    2: dataclasses.replace(SERVING, mode=None, state=MemberState.STARTED),
                }
            },
            id="a-unit-not-serving",
        ),
        pytest.param(
            lambda s: {
                "others": {**s.others, 1: dataclasses.replace(SERVING, pending_config="c")}
            },
            id="a-restart-pending",
        ),
        pytest.param(
            lambda s: {"others": {**s.others, 1: dataclasses.replace(SERVING, restarting="c")}},
            id="a-restart-under-way",
        ),
        pytest.param(
            lambda s: {"others": {**s.others, 1: dataclasses.replace(SERVING, failed_config="c")}},
            id="a-restart-failed",
        ),
        pytest.param(
            lambda s: {"cluster": s.cluster.model_copy(update={"restart_grant": 1})}, id="roll"
        ),
        pytest.param(
            lambda s: {"cluster": s.cluster.model_copy(update={"rotation": RotationPhase.ACCEPT})},
            id="rotation",
        ),
        pytest.param(
            lambda s: {"cluster": s.cluster.model_copy(update={"upgrade_partition": 2})},
            id="upgrade",
        ),
        pytest.param(lambda s: {"tls_wanted": True}, id="tls-to-switch-on"),
        pytest.param(
            lambda s: {"cluster": s.cluster.model_copy(update={"tls": TLSPhase.QUORUM})},
            id="tls-switch-under-way",
        ),
        pytest.param(
            lambda s: {"cluster": s.cluster.model_copy(update={"members": s.cluster.members[:2]})},
            id="a-unit-not-a-voter",
        ),
    ],
)
def test_anything_under_way_or_wrong_is_not_settled(calm, unsettle):
    changes = unsettle(calm)
    held, blocked = changes.pop("held", []), changes.pop("blocked", [])
    assert not reconcile.settled(dataclasses.replace(calm, **changes), held, blocked)


def test_an_unread_view_is_never_used(calm):
    unread = dataclasses.replace(calm, own_only=True)
    with pytest.raises(RuntimeError, match="not read"):
        _ = unread.views
