"""The reconfig planner: every scale change from 1 to 7 members, and the views it must distrust."""

import itertools

import pytest

from ensemble import EnsembleConfig, Role, Server, Step, plan_membership, server_for
from layout import K8S

APP, MODEL = "zk", "m"


def server(ordinal, role=Role.PARTICIPANT):
    return server_for(K8S, APP, MODEL, ordinal, role)


def ensemble(*ordinals):
    return EnsembleConfig(tuple(server(o) for o in ordinals))


def apply(committed: EnsembleConfig, step: Step) -> EnsembleConfig:
    kept = tuple(s for s in committed.servers if s.id not in step.leaving)
    return EnsembleConfig(tuple(sorted((*kept, *step.joining))))


def converge(committed, planned, synced):
    """Apply plans until none is left; return the final config and every step taken."""
    steps = []
    for _ in range(20):
        joiners = {o: server(o, Role.OBSERVER) for o in synced}
        plan = plan_membership(committed, planned, frozenset(synced), joiners)
        if not plan.step:
            return committed, steps, plan
        steps.append(plan.step)
        committed = apply(committed, plan.step)
    raise AssertionError("the planner never settled")


def majority(alive, size):
    return alive > size // 2


@pytest.mark.parametrize(("before", "after"), list(itertools.product(range(1, 8), range(1, 8))))
def test_every_scale_change_from_1_to_7_converges_safely(before, after):
    committed = ensemble(*range(before))
    synced = set(range(max(before, after)))  # every pod that exists is up and in sync
    final, steps, plan = converge(committed, after, synced)

    assert final.ids == {o + 1 for o in range(after)}
    assert all(s.role is Role.PARTICIPANT for s in final.servers)
    assert plan.held is None
    config = committed
    for step in steps:
        assert not (step.joining and step.leaving), "a step either adds or removes"
        assert len(step.leaving) <= 1, "members leave one at a time"
        new = apply(config, step)
        assert new.servers, "never an empty ensemble"
        alive_old = len([s for s in config.voters if s.id - 1 in synced])
        alive_new = len([s for s in new.voters if s.id - 1 in synced])
        assert majority(alive_old, len(config.voters))
        assert majority(alive_new, len(new.voters))
        config = new
    growing = after > before
    assert len(steps) == (1 if growing else before - after)


def test_all_synced_joiners_join_in_one_step_as_participants():
    plan = plan_membership(
        ensemble(0, 1, 2),
        5,
        frozenset({0, 1, 2, 3, 4}),
        {3: server(3, Role.OBSERVER), 4: server(4, Role.OBSERVER)},
    )
    assert plan.step == Step(joining=(server(3), server(4)))


def test_an_unsynced_joiner_waits():
    plan = plan_membership(
        ensemble(0, 1, 2), 5, frozenset({0, 1, 2, 3}), {3: server(3), 4: server(4)}
    )
    assert plan.step == Step(joining=(server(3),))


def test_the_highest_leaver_goes_first():
    plan = plan_membership(ensemble(0, 1, 2, 3, 4), 3, frozenset(range(5)), {})
    assert plan.step == Step(leaving=(5,))


@pytest.mark.parametrize(
    ("committed", "planned", "synced"),
    [
        (ensemble(0, 1, 2), 0, {0, 1, 2}),  # the whole application is being removed
        (ensemble(0, 1, 2), 3, set()),  # leader-elected before any peer data arrived
        (ensemble(0, 1, 2), 3, {0}),  # peers' data not arrived yet
        (EnsembleConfig(()), 3, {0, 1, 2}),  # no view of the committed config at all
    ],
    ids=["teardown", "no-peer-data", "partial-peer-data", "no-committed-config"],
)
def test_an_empty_or_partial_view_removes_nobody(committed, planned, synced):
    plan = plan_membership(committed, planned, frozenset(synced), {})
    assert not plan.step.leaving
    assert plan.held is None


def test_a_leaver_that_is_down_goes_before_the_healthy_ones():
    # 3 -> 1 with member 2 down: removing 3 first would leave {1, 2}, whose majority needs
    # the member that is down; removing 2 first keeps a working quorum at every step.
    committed, steps, plan = converge(ensemble(0, 1, 2), 1, {0, 2})
    assert steps == [Step(leaving=(2,)), Step(leaving=(3,))]
    assert committed.ids == {1}
    assert plan.held is None


def test_removal_is_held_when_it_would_leave_no_majority():
    plan = plan_membership(ensemble(0, 1, 2, 3, 4), 3, frozenset({0, 1}), {})
    assert not plan.step
    assert plan.held == "cannot remove member 5 safely: 2 of 5 members in sync"


def test_the_last_voter_is_never_removed():
    plan = plan_membership(ensemble(4), 1, frozenset({4}), {})
    assert not plan.step
    assert plan.held == "member 5 is the last voter"


def test_mixed_change_removes_first_then_adds():
    # Member 4 (ordinal 3) left earlier; now the scale is 4 and pod 3 is back and synced,
    # while member 5 (ordinal 4) is still voting though the scale no longer includes it.
    committed = ensemble(0, 1, 2, 4)
    final, steps, _ = converge(committed, 4, {0, 1, 2, 3, 4})
    assert steps[0] == Step(leaving=(5,))
    assert steps[1] == Step(joining=(server(3),))
    assert final.ids == {1, 2, 3, 4}


def test_joiners_beyond_the_planned_scale_are_not_added():
    plan = plan_membership(ensemble(0, 1, 2), 3, frozenset({0, 1, 2, 3}), {3: server(3)})
    assert not plan.step


def test_observers_in_the_committed_config_are_not_voters():
    committed = EnsembleConfig((server(0), server(1), server(2), server(3, Role.OBSERVER)))
    plan = plan_membership(committed, 4, frozenset({0, 1, 2, 3}), {3: server(3, Role.OBSERVER)})
    assert plan.step == Step(joining=(server(3),))
    assert isinstance(plan.step.joining[0], Server)
