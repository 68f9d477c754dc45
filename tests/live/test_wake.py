"""The workload wakes the charm: Pebble's notices and check events reach it as hooks.

No update-status in these tests: what the charm learns, it learns from the watcher's custom
notices (zookeeper-notify) and the health check's events, delivered as Juju delivers them.
"""

from __future__ import annotations

import json
import os
import signal

from render import NOTICE_KEY
from tests.live.cluster import Cluster, deadline_poll


def hooks_of(cluster: Cluster, ordinal: int, event: str) -> list[str]:
    return [h for h in cluster.juju.log if h.startswith(f"{ordinal}:{event}")]


def peer_state(cluster: Cluster, ordinal: int) -> str | None:
    """What the unit last told its peers of its server (peer unit data, JSON values)."""
    raw = cluster.units[ordinal].unit_data.get("state")
    return json.loads(raw) if raw is not None else None


def test_every_unit_hears_its_server_start_serving_from_a_notice(cluster: Cluster):
    cluster.deploy(3)
    for ordinal, unit in cluster.units.items():
        notices = hooks_of(cluster, ordinal, "pebble_custom_notice")
        assert f"{ordinal}:pebble_custom_notice({NOTICE_KEY})" in notices, cluster.juju.log
        # drain() returned only once the watcher said so: the last word is "serving".
        notice = unit.notices[NOTICE_KEY]
        assert notice.last_data["state"] == "serving", notice
        assert notice.last_data["mode"] in ("leader", "follower")
        assert notice.user_id == 0  # public: Juju wakes the charm for root's notices only
        assert unit.status.name == "active", unit.status
    assert not [h for h in cluster.juju.log if ":update_status" in h]
    modes = sorted(u.notices[NOTICE_KEY].last_data["mode"] for u in cluster.units.values())
    assert modes == ["follower", "follower", "leader"]


def test_a_killed_server_comes_back_and_the_charm_hears_it_without_update_status(
    cluster: Cluster,
):
    cluster.deploy(3)
    cluster.wait_serving()
    victim = next(o for o in cluster.units if o != cluster.leader)
    unit = cluster.units[victim]
    before = unit.process.pid
    assert peer_state(cluster, victim) == "serving"
    logged = len(cluster.juju.log)

    cluster.kill_process(unit, signal.SIGKILL)
    # Pebble brings it back (back-off 500 ms), with no hook asking.
    deadline_poll(
        lambda: unit.alive and unit.process.pid != before, 10, "Pebble to restart the server"
    )
    assert any(f"{victim}: zookeeper restarted by pebble" in line for line in cluster.pebble_log)
    # Juju's only doing here: the hooks Pebble's events make. drain() returns once the
    # watcher reported the server back.
    cluster.drain()
    since = cluster.juju.log[logged:]
    assert not [h for h in since if ":update_status" in h], since
    woken = [h for h in since if h.startswith(f"{victim}:pebble_custom_notice")]
    assert len(woken) >= 2, since  # gone, then serving again
    assert unit.notices[NOTICE_KEY].last_data["state"] == "serving"
    assert unit.health().serving
    assert unit.status.name == "active", unit.status
    assert peer_state(cluster, victim) == "serving"
    assert unit.restarts == 0  # the charm restarted nothing: Pebble did


def test_a_server_stopped_by_hand_is_started_again_by_the_charm_its_notice_wakes(
    cluster: Cluster,
):
    cluster.deploy(1)
    unit = cluster.units[0]
    logged = len(cluster.juju.log)
    cluster.stop_process(unit)  # `pebble stop`: Pebble leaves it down
    cluster.drain()
    since = cluster.juju.log[logged:]
    assert "0:pebble_custom_notice(zookeeper-k8s.io/server)" in since
    assert not [h for h in since if ":update_status" in h], since
    assert unit.alive and unit.health().serving
    assert unit.notices[NOTICE_KEY].last_data["state"] == "serving"
    assert unit.status.name == "active", unit.status


def test_a_hung_server_fails_its_check_and_recovers_it(cluster: Cluster):
    cluster.deploy(3)
    victim = next(o for o in cluster.units if o != cluster.leader)
    unit = cluster.units[victim]
    logged = len(cluster.juju.log)
    os.kill(unit.process.pid, signal.SIGSTOP)  # alive, accepting connections, answering none
    try:
        # Threshold (3) failures, one period (5 s) apart: then Juju runs pebble-check-failed.
        deadline_poll(
            lambda: (cluster.drain(), hooks_of(cluster, victim, "pebble_check_failed"))[1],
            45,
            "pebble-check-failed",
            every=0.5,
        )
        assert unit.checks["zookeeper-ready"].status == "down"
        assert unit.notices[NOTICE_KEY].last_data["state"] != "serving"
    finally:
        os.kill(unit.process.pid, signal.SIGCONT)
    # Its next run (within a period) passes: Juju runs pebble-check-recovered. Once the
    # watcher said it serves, drain() itself waits for that.
    deadline_poll(
        lambda: (cluster.drain(), hooks_of(cluster, victim, "pebble_check_recovered"))[1],
        30,
        "pebble-check-recovered",
        every=0.5,
    )
    # The watcher looks once a second, the check once a period: either may tell first.
    deadline_poll(
        lambda: (cluster.drain(), unit.notices[NOTICE_KEY].last_data["state"] == "serving")[1],
        30,
        "the watcher's serving notice",
        every=0.5,
    )
    since = cluster.juju.log[logged:]
    assert unit.checks["zookeeper-ready"].status == "up"
    assert unit.status.name == "active", unit.status
    assert not [h for h in since if ":update_status" in h], since
