"""Roll decisions the mutation run showed untested (make mutation)."""

import dataclasses

from rolling import Decision, Member, fingerprint, next_restart

OK = Member(pending=False, serving=True)
PENDING = Member(pending=True, serving=True)
LEADER = dataclasses.replace(PENDING, zk_leader=True)


def test_fingerprints_stay_the_same_across_charm_versions():
    # Units compare the fingerprint they run with the one they should run, and peer data
    # keeps it across a charm upgrade: a new way of computing it would restart every server.
    assert fingerprint([]) == "e3b0c44298fc1c14"
    assert fingerprint(["a", "b"]) == "8fb20ef63ced4145"
    assert fingerprint(["zoo.cfg text", "jaas"]) == "78c08afbb51cba25"


def test_the_lowest_failed_unit_is_named_and_holds_the_roll():
    members = {0: PENDING, 3: dataclasses.replace(OK, failed=True)}
    members[1] = dataclasses.replace(PENDING, failed=True)
    assert next_restart(members, None) == Decision(
        held="rolling restart halted: unit 1 did not come back"
    )


def test_the_lowest_unit_that_is_down_is_named():
    members = {0: PENDING, 4: dataclasses.replace(OK, serving=False)}
    members[2] = dataclasses.replace(OK, serving=False)
    assert next_restart(members, None) == Decision(
        held="rolling restart waits for unit 2 to serve"
    )


def test_a_grant_to_a_unit_that_is_done_moves_on_to_the_next():
    members = {0: OK, 1: PENDING, 2: PENDING}
    assert next_restart(members, 0) == Decision(grant=1)


def test_a_grant_to_a_unit_that_left_moves_on_to_the_next():
    assert next_restart({0: PENDING, 1: PENDING}, 5) == Decision(grant=0)


def test_with_no_grant_the_lowest_pending_follower_goes_first():
    members = {0: LEADER, 1: OK, 2: PENDING, 3: PENDING}
    assert next_restart(members, None) == Decision(grant=2)


def test_the_leader_alone_pending_goes_when_no_other_reported_a_fingerprint():
    members = {0: OK, 1: dataclasses.replace(LEADER, running="old", target="new"), 2: OK}
    assert next_restart(members, None) == Decision(grant=1)


def test_the_leader_goes_once_every_other_runs_its_target():
    members = {
        0: Member(pending=False, serving=True, running="new"),
        1: Member(pending=True, serving=True, zk_leader=True, running="old", target="new"),
        2: Member(pending=False, serving=True, running="new"),
    }
    assert next_restart(members, None) == Decision(grant=1)


def test_the_lowest_unit_behind_the_leader_is_named():
    members = {
        0: Member(pending=False, serving=True, running="new"),
        1: Member(pending=False, serving=True, running="old"),
        2: Member(pending=False, serving=True, running="old"),
        3: Member(pending=True, serving=True, zk_leader=True, running="old", target="new"),
    }
    assert next_restart(members, None) == Decision(
        held="rolling restart waits for unit 1 before the leader"
    )


def test_a_leader_with_no_target_reported_goes_without_waiting():
    members = {
        0: Member(pending=False, serving=True, running="other"),
        1: Member(pending=True, serving=True, zk_leader=True, running="old"),
    }
    assert next_restart(members, None) == Decision(grant=1)


def test_a_granted_unit_still_pending_keeps_its_grant_even_while_another_is_down():
    members = {0: PENDING, 1: dataclasses.replace(OK, serving=False), 2: PENDING}
    assert next_restart(members, 2) == Decision(grant=2)
