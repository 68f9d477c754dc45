"""Password rotation cases the mutation run showed untested (make mutation)."""

import pytest

from rotation import advance, credentials, password_problem, start
from state import InternalSecret, RotationPhase

SECRET = InternalSecret(super_password="super-old", sync_password="sync-old", sync_user="sync4")


def test_ending_a_super_only_rotation_keeps_the_quorum_generation_and_user():
    secret, phase = start(SECRET, {"super"}, "super-new", "unused")
    done = advance(secret, 4, phase)

    assert (done.generation, done.phase) == (4, None)
    assert done.secret.super_password_previous is None
    assert done.secret.sync_password == "sync-old"
    assert credentials(done.secret, done.generation, done.phase).quorum_learner == (
        "sync4",
        "sync-old",
    )


def test_advancing_with_nothing_under_way_changes_nothing():
    done = advance(SECRET, 4, None)

    assert done.secret == SECRET
    assert (done.generation, done.phase) == (4, None)


def test_a_finished_quorum_rotation_leaves_no_next_password_in_the_secret():
    secret, phase = start(SECRET, {"sync"}, "unused", "sync-new")
    switch = advance(secret, 4, phase)
    done = advance(switch.secret, switch.generation, switch.phase)

    assert done.secret.sync_password_next is None
    assert done.secret.content() == {
        "super-password": "super-old",
        "sync-password": "sync-new",
        "sync-user": "sync5",
    }
    # The next rotation starts from a clean slate: ACCEPT offers only the new pair.
    again, phase = start(done.secret, {"sync"}, "unused", "sync-newer")
    accept = credentials(again, done.generation, phase)
    assert accept.quorum_accepted == {"sync5": "sync-new", "sync6": "sync-newer"}


def test_rotating_both_keeps_the_previous_super_password_through_the_quorum_phases():
    secret, phase = start(SECRET, {"super", "sync"}, "super-new", "sync-new")
    assert phase is RotationPhase.ACCEPT
    assert (secret.super_password, secret.super_password_previous) == ("super-new", "super-old")
    assert secret.sync_password_next == "sync-new"

    switch = advance(secret, 4, phase)
    assert switch.phase is RotationPhase.SWITCH
    assert switch.secret.super_password_previous is None
    assert switch.secret.sync_password_next == "sync-new"


def test_a_next_password_without_a_phase_yet_changes_nothing_the_servers_run():
    # The leader started a quorum rotation: a new secret revision (with the next password)
    # and, in peer data, the ACCEPT phase. A unit that reads the secret first and the peer
    # data before the change must keep running what it runs: one quorum user.
    secret, _ = start(SECRET, {"sync"}, "unused", "sync-new")
    creds = credentials(secret, 4, None)

    assert creds.quorum_accepted == {"sync4": "sync-old"}
    assert creds.quorum_learner == ("sync4", "sync-old")


@pytest.mark.parametrize(
    "password",
    ["12345678", "a" * 128, "XX-marks-the-spot-XX", "with-dashes_and.dots!"],
)
def test_passwords_at_the_limits_or_with_any_other_character_are_accepted(password):
    assert password_problem(password) is None


@pytest.mark.parametrize("password", ['has"double', "has space", "new\nline"])
def test_double_quotes_and_any_white_space_are_refused(password):
    assert password_problem(password) == "must not contain quotes, backslashes or white space"
