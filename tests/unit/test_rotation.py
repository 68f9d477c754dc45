"""Password rotation, pure: what each phase gives the servers, and how it moves on."""

import pytest

import render
from rotation import advance, credentials, password_problem, start
from state import InternalSecret, RotationPhase

SECRET = InternalSecret(super_password="super-old", sync_password="sync-old")


def test_steady_state_has_one_quorum_user():
    creds = credentials(SECRET, 3, None)
    assert creds.quorum_accepted == {"sync3": "sync-old"}
    assert creds.quorum_learner == ("sync3", "sync-old")


def test_a_quorum_rotation_accepts_then_switches_then_drops_the_old_password():
    secret, phase = start(SECRET, {"sync"}, "unused", "sync-new")
    assert phase is RotationPhase.ACCEPT
    accept = credentials(secret, 0, phase)
    assert accept.quorum_accepted == {"sync0": "sync-old", "sync1": "sync-new"}
    assert accept.quorum_learner == ("sync0", "sync-old")

    step = advance(secret, 0, phase)
    assert step.phase is RotationPhase.SWITCH
    switch = credentials(step.secret, step.generation, step.phase)
    assert switch.quorum_accepted == {"sync0": "sync-old", "sync1": "sync-new"}
    assert switch.quorum_learner == ("sync1", "sync-new")

    done = advance(step.secret, step.generation, step.phase)
    assert (done.generation, done.phase) == (1, None)
    final = credentials(done.secret, done.generation, done.phase)
    assert final.quorum_accepted == {"sync1": "sync-new"}
    assert final.quorum_learner == ("sync1", "sync-new")
    assert "sync-old" not in render.jaas(final)


def test_a_unit_that_sees_the_new_secret_before_the_new_peer_data_gets_the_same_jaas():
    # The leader ended a quorum rotation: a new secret revision and, in peer data, the next
    # generation with no phase. A unit whose hook read peer data before that change but the
    # secret after it must still pair the new password with its own user.
    secret = InternalSecret(super_password="s", sync_password="old")
    secret, phase = start(secret, {"sync"}, "s", "new")
    step = advance(secret, 0, phase)
    step = advance(step.secret, step.generation, step.phase)
    settled = credentials(step.secret, step.generation, step.phase)
    stale_peer_view = credentials(step.secret, 0, RotationPhase.SWITCH)
    assert settled.quorum_accepted == {"sync1": "new"}
    assert stale_peer_view == settled


def test_a_super_rotation_keeps_the_previous_password_until_it_is_everywhere():
    secret, phase = start(SECRET, {"super"}, "super-new", "unused")
    assert phase is None
    assert (secret.super_password, secret.super_password_previous) == ("super-new", "super-old")
    assert 'user_super="super-new"' in render.jaas(credentials(secret, 0, None))
    done = advance(secret, 0, None)
    assert done.secret.super_password_previous is None
    assert done.secret.super_password == "super-new"


def test_the_secret_content_never_carries_empty_keys():
    assert set(SECRET.content()) == {"super-password", "sync-password"}


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        (None, "is missing"),
        ("", "is missing"),
        ("1234567", "must be 8 to 128 characters long"),
        ("a" * 129, "must be 8 to 128 characters long"),
        ("has'quote", "must not contain quotes, backslashes or white space"),
        ("back\\slash", "must not contain quotes, backslashes or white space"),
        ("tab\there", "must not contain quotes, backslashes or white space"),
        ("Good-Password_123", None),
    ],
)
def test_passwords_a_user_chooses(password, problem):
    assert password_problem(password) == problem


# -- the charm starting a rotation (state tests) ----------------------------------------------

import dataclasses  # noqa: E402
import json  # noqa: E402

from ops import testing  # noqa: E402

from state import InternalSecret  # noqa: E402
from tests.unit.test_charm import make_state, peers  # noqa: E402


@pytest.fixture
def leader(ctx, disk):
    """A leader whose peer still runs the current passwords (so a rotation is mid-way)."""
    out = ctx.run(ctx.on.config_changed(), ctx.run(ctx.on.leader_elected(), make_state(disk)))
    peer = {"state": json.dumps("serving"), "running-jaas": json.dumps("current")}
    relation = dataclasses.replace(peers(out), peers_data={1: peer})
    return dataclasses.replace(out, relations={relation})


def app_data(out):
    return {k: json.loads(v) for k, v in peers(out).local_app_data.items()}


def the_secret(out):
    (secret,) = [s for s in out.secrets if s.owner == "app"]
    return secret.latest_content


def test_rotate_passwords_starts_a_roll_and_keeps_the_previous_super_password(ctx, leader):
    before = the_secret(leader)
    out = ctx.run(ctx.on.action("rotate-passwords", params={"users": "all"}), leader)
    after = the_secret(out)
    assert ctx.action_results["rotating"] == "super, sync"
    assert after["super-password-previous"] == before["super-password"]
    assert after["super-password"] != before["super-password"]
    assert after["sync-password"] == before["sync-password"]
    assert after["sync-password-next"] not in before.values()
    assert app_data(out)["rotation"] == "accept-new"
    assert all(p not in str(ctx.action_results) for k, p in after.items() if "password" in k)
    # The new revision's generation is published beside it: units whose tracked revision
    # holds another one read the latest (snapshot.internal_secret).
    assert after["generation"] == app_data(out)["secret-generation"] == "1"


def test_a_unit_tracking_an_older_revision_than_the_leader_published_reads_the_latest(disk):
    from tests.unit.test_charm import context, follower_state

    old = InternalSecret(super_password="old-super", sync_password="old-sync", generation="1")
    new = InternalSecret(super_password="new-super", sync_password="new-sync", generation="2")
    secret = testing.Secret(
        tracked_content=old.content(), latest_content=new.content(), owner="app"
    )
    state = follower_state(disk, secret)
    cluster = peers(state)
    published = {**cluster.local_app_data, "secret-generation": json.dumps("2")}
    state = dataclasses.replace(
        state, relations={dataclasses.replace(cluster, local_app_data=published)}
    )
    ctx = context(1)
    ctx.run(ctx.on.config_changed(), state)
    jaas = (disk / "conf/jaas.conf").read_text()
    assert "new-sync" in jaas and "old-sync" not in jaas
    # The same unit, told the generation it tracks is the latest, reads no further.
    state = dataclasses.replace(
        state,
        relations={
            dataclasses.replace(
                cluster, local_app_data={**published, "secret-generation": json.dumps("1")}
            )
        },
    )
    ctx.run(ctx.on.config_changed(), state)
    assert "old-sync" in (disk / "conf/jaas.conf").read_text()


def test_restart_action_bumps_the_generation_every_unit_rolls_on(ctx, leader):
    out = ctx.run(ctx.on.action("restart"), leader)
    assert app_data(out)["restart-generation"] == 1
    assert [m.message for m in ctx.juju_log if m.message.startswith("restarting")] == [
        "restarting zookeeper"
    ]


def test_system_users_rotates_to_the_admins_password(ctx, leader):
    chosen = testing.Secret(tracked_content={"super-password": "Chosen-By-Admin-1"})
    state = dataclasses.replace(
        leader, config={"system-users": chosen.id}, secrets={*leader.secrets, chosen}
    )
    before = the_secret(leader)
    out = ctx.run(ctx.on.config_changed(), state)
    after = the_secret(out)
    assert after["super-password"] == "Chosen-By-Admin-1"
    assert after["super-password-previous"] == before["super-password"]
    jaas = out.get_container("zookeeper").get_filesystem(ctx) / "var/lib/zookeeper/conf/jaas.conf"
    assert 'user_super="Chosen-By-Admin-1"' in jaas.read_text()
