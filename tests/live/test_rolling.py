"""Rolling restarts on real ZooKeeper: one member at a time, the leader last, nothing lost."""

import json

import pytest

import admin
from render import NOTIFY_REMIND_SECONDS
from tests.live.cluster import Cluster, deadline_poll, pod_name
from tests.live.writer import Writer, client_app


def pids(cluster: Cluster) -> dict[int, int]:
    return {o: u.process.pid for o, u in cluster.units.items() if u.alive}


def zookeeper_leader(cluster: Cluster) -> int:
    healths = cluster.wait_serving()
    return next(o for o, h in healths.items() if h.mode == "leader")


def test_a_setting_change_rolls_one_member_at_a_time_leader_last(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.settle()
    before = pids(cluster)

    with Writer(cluster.hosts(), cluster.super_password()) as writer:
        cluster.config["tick-time"] = 2500
        cluster.run(cluster.leader, "config_changed")
        for ordinal in sorted(cluster.units):
            if ordinal != cluster.leader:
                cluster.run(ordinal, "config_changed")
        cluster.wait_serving()
        cluster.settle()

    after = pids(cluster)
    assert sorted(cluster.restart_log) == [0, 1, 2], "each member restarted exactly once"
    # The member leading when its turn came restarts last (leadership may have moved since
    # the test looked), every other one as a follower.
    assert [mode for _, mode in cluster.restart_modes] == ["follower", "follower", "leader"]
    assert all(after[o] != before[o] for o in cluster.units)
    for unit in cluster.units.values():
        assert "tickTime=2500" in (unit.storage / "conf" / "zoo.cfg").read_text()
        assert unit.status.name == "active", unit.status
    assert writer.expirations == 0
    assert writer.acknowledged
    assert writer.missing() == []
    writer.close()


def test_a_member_that_cannot_come_back_halts_the_roll_until_the_restart_action(tmp_path):
    cluster = Cluster(tmp_path, restart_timeout=15)
    try:
        cluster.deploy(3)
        leader = zookeeper_leader(cluster)
        cluster.settle()
        first = min(o for o in cluster.units if o != leader)
        before = pids(cluster)
        # This unit's image is broken: its server cannot start again once stopped.
        layout = cluster.units[first].layout.classpath
        cluster.change_layout(first, classpath="/nonexistent/zookeeper.jar")

        cluster.config["tick-time"] = 2500
        for ordinal in sorted(cluster.units, key=lambda o: o != cluster.leader):
            cluster.run(ordinal, "config_changed")
        broken = cluster.units[first]
        # No hook waits for it: the watcher's reminder that it still does not serve wakes
        # the charm past the restart timeout (no update-status needed).
        logged = len(cluster.juju.log)
        deadline_poll(
            lambda: (cluster.drain(), broken.status.name == "blocked")[1],
            cluster.restart_timeout + 2 * NOTIFY_REMIND_SECONDS,
            "the broken unit to say its restart failed",
            every=0.5,
        )
        assert not [h for h in cluster.juju.log[logged:] if ":update_status" in h]
        cluster.settle()

        assert cluster.restart_log == [first]
        assert broken.status.name == "blocked"
        assert broken.status.message.startswith(
            "restart failed: zookeeper did not rejoin the quorum within 15s"
        )
        # Nobody else restarted: the two others still serve, with their old processes.
        others = [o for o in cluster.units if o != first]
        assert {o: cluster.units[o].process.pid for o in others} == {o: before[o] for o in others}
        cluster.wait_serving(others)
        leader_unit = cluster.units[cluster.leader]
        if cluster.leader != first:
            assert leader_unit.status.message == (
                f"rolling restart halted: unit {first} did not come back"
            )

        # The way out its status names: fix the cause, then run the restart action.
        cluster.change_layout(first, classpath=layout)
        cluster.restart_log.clear()
        cluster.run(cluster.leader, "action", name="restart")
        cluster.wait_serving()
        cluster.settle()
        # The others roll again; the fixed one, whose server was down, simply starts.
        assert set(others) <= set(cluster.restart_log)
        assert broken.process is not None and broken.process.poll() is None
        assert all(u.status.name == "active" for u in cluster.units.values()), {
            o: u.status for o, u in cluster.units.items()
        }
        for unit in cluster.units.values():
            assert "tickTime=2500" in (unit.storage / "conf" / "zoo.cfg").read_text()
    finally:
        cluster.stop()


def test_the_restart_action_rolls_every_member_leader_last(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.settle()
    before = pids(cluster)
    chroot, user = client_app(cluster)
    with Writer(cluster.hosts() + chroot, None, sasl=user) as writer:
        cluster.run(cluster.leader, "action", name="restart")
        cluster.wait_serving()
        cluster.settle()
    assert sorted(cluster.restart_log) == [0, 1, 2]
    assert [mode for _, mode in cluster.restart_modes] == ["follower", "follower", "leader"]
    assert all(pids(cluster)[o] != before[o] for o in cluster.units)
    assert writer.expirations == 0
    assert writer.missing() == []
    writer.close()


def test_rotating_every_password_keeps_clients_connected(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.settle()
    old_super = cluster.super_password()
    old_jaas = (cluster.units[0].storage / "conf" / "jaas.conf").read_text()

    chroot, user = client_app(cluster)
    with Writer(cluster.hosts() + chroot, None, sasl=user) as writer:
        cluster.run(cluster.leader, "action", name="rotate-passwords", params={"users": "all"})
        assert cluster.action_results["rotating"] == "super, sync"
        cluster.wait_serving()
        cluster.settle()

    # Three rolls of three members: accept the new quorum password, switch to it, drop the
    # old one (the super password rides the first roll).
    assert len(cluster.restart_log) == 9
    assert json.loads(cluster.app_data.get("rotation", "null")) is None
    assert json.loads(cluster.app_data["quorum-generation"]) == 1
    new_super = cluster.super_password()
    assert new_super != old_super
    for unit in cluster.units.values():
        jaas = (unit.storage / "conf" / "jaas.conf").read_text()
        assert "sync0" not in jaas and 'username="sync1"' in jaas
        assert old_jaas != jaas
    with admin.session([new_super], host=pod_name(0)) as zk:
        assert len(zk.committed_config().voters) == 3
    with pytest.raises(admin.AdminError), admin.session([old_super], host=pod_name(0)):
        pass
    assert writer.expirations == 0
    assert writer.missing() == []
    writer.close()
    assert all(u.status.name == "active" for u in cluster.units.values())


def test_ensemble_status_reports_every_member(cluster):
    cluster.deploy(3)
    healths = cluster.wait_serving()
    cluster.settle()

    def settled_report():
        # Members are asked one after another: a write in between (a session the charm
        # opens) shows as a passing lag of one; an idle ensemble settles to 0.
        cluster.run(1, "action", name="ensemble-status")
        report = cluster.action_results
        lags = [v["lag"] for k, v in report.items() if k.startswith("server-")]
        return report if lags and all(lag == "0" for lag in lags) else None

    results = deadline_poll(settled_report, 20, "every member to report no lag", every=0.5)
    assert sorted(k for k in results if k.startswith("server-")) == [
        "server-1",
        "server-2",
        "server-3",
    ]
    for ordinal, health in healths.items():
        member = results[f"server-{ordinal + 1}"]
        assert member["mode"] == health.mode
        assert member["address"] == pod_name(ordinal)
        assert member["lag"] == "0"
        assert member["zxid"].startswith("0x")
