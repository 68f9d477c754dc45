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
