"""The live stand-in's hook orders are Juju's (tests/live/JUJU.md): fixed where Juju fixes
them, and every legal variant reachable from some seed where it does not."""

import random

from tests.live.juju import Hook, Scheduler, deploy_hooks, restart_hooks, teardown_hooks

SEEDS = range(300)


def events(hooks):
    return [h.event for h in hooks]


def test_a_dying_unit_departs_every_remote_then_stops_then_is_removed():
    seen_orders = set()
    for seed in SEEDS:
        hooks = teardown_hooks(4, [0, 1, 2, 3], random.Random(seed))
        names = events(hooks)
        departed = [h for h in hooks if h.event == "relation_departed"]
        assert sorted(h.remote for h in departed) == [0, 1, 2, 3]
        assert all(h.departing == 4 for h in departed)
        assert names[-1] == "remove"
        assert names.count("storage_detaching") == 1
        assert "relation_broken" not in names  # none for a peer relation on a dying unit
        stop = names.index("stop")
        assert max(i for i, e in enumerate(names) if e == "relation_departed") < stop
        seen_orders.add(tuple(str(h) for h in hooks))
    detach_positions = {
        events(teardown_hooks(4, [0, 1], random.Random(s))).index("storage_detaching")
        for s in SEEDS
    }
    # storage-detaching is seen first, between departed hooks, and after stop.
    assert detach_positions == {0, 1, 2, 3}
    assert len(seen_orders) > 50


def test_a_new_unit_runs_its_setup_in_juju_order_with_pebble_ready_anywhere_after_install():
    fixed = ["install", "relation_created", "leader_elected", "config_changed", "start"]
    positions = set()
    for seed in SEEDS:
        names = events(deploy_hooks(0, True, random.Random(seed)))
        assert names[0] == "install"
        assert [n for n in names if n in fixed] == fixed
        assert names.index("storage_attached") > names.index("start")
        positions.add(names.index("pebble_ready"))
    assert positions == set(range(1, 7))
    assert "leader_elected" not in events(deploy_hooks(1, False, random.Random(0)))


def test_a_recreated_pod_upgrades_configures_and_starts_again():
    for seed in SEEDS:
        names = events(restart_hooks(2, random.Random(seed)))
        assert [n for n in names if n != "pebble_ready"] == [
            "upgrade_charm",
            "config_changed",
            "start",
        ]
        assert "install" not in names


def test_the_same_seed_picks_the_same_order_and_other_seeds_others():
    def run(seed):
        juju = Scheduler(seed)
        for unit in range(3):
            juju.add(deploy_hooks(unit, unit == 0, juju.rng))
        order = []
        while (hook := juju.pick()) is not None:
            juju.done(hook)
            order.append(str(hook))
        return order

    assert run(7) == run(7)
    assert len({tuple(run(seed)) for seed in range(20)}) == 20


def test_a_change_not_yet_delivered_is_coalesced_and_a_dying_unit_keeps_only_teardown():
    juju = Scheduler(0)
    juju.add([Hook(1, "relation_changed", 0), Hook(1, "relation_changed", 0)])
    juju.add([Hook(1, "update_status")])
    assert len(juju.queues[1]) == 2
    juju.dying(1)
    juju.add(teardown_hooks(1, [0], juju.rng))
    assert "relation_changed" not in events(juju.queues[1])
    assert "update_status" not in events(juju.queues[1])
