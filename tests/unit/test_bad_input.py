"""Bad input a user can give: each one gets a message naming the fix, and changes nothing.

The table of the operations issue: config values, the system-users secret, action params.
"Nothing" means: no file under the storage rewritten, no restart, the Pebble plan and the
service as they were, peer app data and the internal secret as they were.
"""

import dataclasses
import json

import pytest
from ops import testing

from tests.unit.test_charm import (
    SERVING,
    context,
    make_state,
    peers,
    plan,
    restarts,
    with_config,
    workload,
)

EXPOSE = "expose-external must be one of false, nodeport or loadbalancer"
CONFIG = [
    ("tick-time", 99, "tick-time must be between 100 and 60000"),
    ("tick-time", 60001, "tick-time must be between 100 and 60000"),
    ("init-limit", 0, "init-limit must be between 1 and 1000"),
    ("init-limit", 1001, "init-limit must be between 1 and 1000"),
    ("sync-limit", 0, "sync-limit must be between 1 and 1000"),
    ("sync-limit", 1001, "sync-limit must be between 1 and 1000"),
    ("max-client-connections", -1, "max-client-connections must be between 0 and 100000"),
    ("jvm-heap-mb", 64, "jvm-heap-mb must be between 128 and 65536"),
    ("jvm-heap-mb", 100000, "jvm-heap-mb must be between 128 and 65536"),
    ("autopurge-interval-hours", 0, "autopurge-interval-hours must be between 1 and 720"),
    ("autopurge-snap-retain-count", 2, "autopurge-snap-retain-count must be between 3 and 100"),
    ("log-level", "TRACE", "log-level must be one of DEBUG, INFO, WARN or ERROR"),
    ("log-level", "", "log-level must be one of DEBUG, INFO, WARN or ERROR"),
    ("log-level", "INFO" * 4096, "log-level must be one of DEBUG, INFO, WARN or ERROR"),
    ("expose-external", "yes", "expose-external must be one of false, nodeport or loadbalancer"),
    ("expose-external", "NodePort", EXPOSE),
    ("expose-external", "", EXPOSE),
]
# A system-users value that is no secret ID never reaches the charm: Juju refuses it (the
# model's own check is in test_config).


def snapshot(state, disk):
    relation = peers(state)
    return {
        "files": disk.files(),
        "plan": plan(state),
        "services": workload(state).service_statuses,
        # Everything but the app status the leader records having set (it says the error).
        "app-data": {k: v for k, v in relation.local_app_data.items() if k != "app-status"},
        "secrets": {s.id: dict(s.latest_content) for s in state.secrets if s.owner == "app"},
    }


@pytest.fixture
def steady(ctx, disk):
    """The leader of a fresh deployment after its first hooks, files aged so a rewrite shows."""
    out = ctx.run(ctx.on.config_changed(), ctx.run(ctx.on.leader_elected(), make_state(disk)))
    disk.age()
    return out


@pytest.mark.parametrize(("option", "value", "message"), CONFIG, ids=lambda v: str(v)[:20])
def test_bad_config_value(ctx, disk, steady, option, value, message):
    before = snapshot(steady, disk)
    out = ctx.run(ctx.on.config_changed(), with_config(steady, **{option: value}))

    assert out.unit_status == testing.BlockedStatus(f"invalid config: {message}")
    assert snapshot(out, disk) == before
    assert workload(out).service_statuses == SERVING
    assert restarts(ctx) == []


def user_secret(content):
    return testing.Secret(tracked_content=content, owner=None)


SYSTEM_USERS = [
    (None, "not found or not granted: juju grant-secret {id} zookeeper-k8s"),
    ({"password": "right-key-missing"}, "system-users: super-password is missing"),
    ({"super-password": "short"}, "super-password must be 8 to 128 characters long"),
    ({"super-password": "x" * 129}, "super-password must be 8 to 128 characters long"),
    (
        {"super-password": 'with"quote'},
        "super-password must not contain quotes, backslashes or white space",
    ),
    (
        {"super-password": "with space"},
        "super-password must not contain quotes, backslashes or white space",
    ),
]


@pytest.mark.parametrize(("content", "message"), SYSTEM_USERS, ids=range(len(SYSTEM_USERS)))
def test_bad_system_users_secret(ctx, disk, steady, content, message):
    secret = user_secret(content or {"super-password": "never-seen"})
    state = with_config(steady, system_users=secret.id)
    if content is not None:
        state = dataclasses.replace(state, secrets={*state.secrets, secret})
    before = snapshot(state, disk)
    out = ctx.run(ctx.on.config_changed(), state)

    assert out.unit_status.name == "blocked"
    assert out.unit_status.message.startswith("system-users: ")
    assert message.format(id=secret.id) in out.unit_status.message
    assert snapshot(out, disk) == before
    assert restarts(ctx) == []


def as_follower(state):
    return dataclasses.replace(state, leader=False)


def mid_roll(state):
    """A peer still runs old settings: a rolling restart is under way."""
    relation = dataclasses.replace(
        peers(state), peers_data={1: {"state": json.dumps("serving"), "pending-config": '"x"'}}
    )
    return dataclasses.replace(state, relations={relation})


def mid_rotation(state):
    relation = peers(state)
    data = {**relation.local_app_data, "rotation": json.dumps("accept-new")}
    return dataclasses.replace(
        state, relations={dataclasses.replace(relation, local_app_data=data)}
    )


ACTIONS = [
    ("rotate-passwords", {"users": "nobody"}, None, "users must be one of all, super, sync"),
    ("rotate-passwords", {}, as_follower, "run this on the leader unit"),
    ("rotate-passwords", {}, mid_roll, "a rolling restart or password rotation is under way"),
    ("rotate-passwords", {}, mid_rotation, "a rolling restart or password rotation"),
    ("restart", {}, as_follower, "run this on the leader unit"),
    ("restart", {}, mid_roll, "a rolling restart or password rotation is under way"),
    ("restart", {}, mid_rotation, "a rolling restart or password rotation is under way"),
]


@pytest.mark.parametrize(("action", "params", "change", "message"), ACTIONS)
def test_bad_action_request(disk, steady, action, params, change, message):
    state = change(steady) if change else steady
    before = snapshot(state, disk)
    ctx = context(0)
    with pytest.raises(testing.ActionFailed) as failed:
        ctx.run(ctx.on.action(action, params=params), state)

    assert message in failed.value.message
    assert disk.files() == before["files"]
    assert restarts(ctx) == []


@pytest.mark.parametrize("action", ["get-super-password", "ensemble-status"])
def test_actions_before_the_ensemble_exists_fail_clearly(disk, action):
    ctx = context(1)
    state = testing.State(
        leader=False,
        relations=[testing.PeerRelation("cluster")],
        containers=[testing.Container("zookeeper", can_connect=True)],
    )
    with pytest.raises(testing.ActionFailed) as failed:
        ctx.run(ctx.on.action(action), state)
    assert "retry" in failed.value.message or "wait" in failed.value.message


def test_the_table_has_at_least_twenty_rows():
    assert len(CONFIG) + len(SYSTEM_USERS) + len(ACTIONS) + 2 >= 20


def halted(state):
    """unit/1's restart failed: it keeps the settings it could not come back with, and the
    leader granted nobody else (the roll is halted there)."""
    relation = dataclasses.replace(
        peers(state),
        peers_data={
            1: {
                "state": json.dumps("started"),
                "pending-config": '"x"',
                "failed-config": '"x"',
            }
        },
    )
    return dataclasses.replace(state, relations={relation})


def test_the_restart_action_resumes_a_roll_halted_by_a_failed_restart(disk, steady):
    """The failed unit's status says "fix the cause, then run the restart action": the
    action must then be accepted, not refused because a roll is under way."""
    state = halted(steady)
    ctx = context(0)
    out = ctx.run(ctx.on.action("restart"), state)

    assert ctx.action_results == {"restarting": "every unit, one at a time; watch juju status"}
    data = peers(out).local_app_data
    before = peers(state).local_app_data
    assert (
        json.loads(data["restart-generation"])
        == json.loads(before.get("restart-generation", "0")) + 1
    )
