"""Config changes, pod restarts and quorum loss, as a user of a live ensemble sees them."""

import hashlib

import pytest

from tests.live.cluster import deadline_poll
from tests.live.zk import connect


def files_digest(unit):
    return {
        path.relative_to(unit.storage): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(unit.storage.rglob("*"))
        if path.is_file() and "version-2" not in path.parts
    }


def super_client(cluster, hosts=None):
    return connect(hosts or cluster.hosts(), sasl=("super", cluster.super_password()))


def test_a_bad_config_value_blocks_and_leaves_the_ensemble_untouched(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    pids = {o: u.process.pid for o, u in cluster.units.items()}
    before = {o: files_digest(u) for o, u in cluster.units.items()}

    cluster.config["tick-time"] = 5
    for ordinal in cluster.units:
        cluster.run(ordinal, "config_changed")

    for ordinal, unit in cluster.units.items():
        assert unit.status.name == "blocked"
        assert unit.status.message == "invalid config: tick-time must be between 100 and 60000"
        assert unit.process.pid == pids[ordinal]
        assert files_digest(unit) == before[ordinal]
    cluster.wait_serving()

    cluster.config["tick-time"] = 2000
    cluster.settle()
    assert all(u.status.name == "active" for u in cluster.units.values())
    assert {o: u.process.pid for o, u in cluster.units.items()} == pids


@pytest.mark.parametrize("restart", ["restart_pod", "restart_container"])
def test_a_restarted_pod_keeps_its_identity_and_data(cluster, restart):
    cluster.deploy(3)
    cluster.wait_serving()
    client = super_client(cluster)
    try:
        client.create("/before-restart", b"kept")
    finally:
        client.stop()
        client.close()

    # Kubernetes replaces the pod: the process and Pebble's plan are gone, the storage stays.
    pod = cluster.units[1]
    myid = (pod.storage / "data" / "myid").read_text()
    getattr(cluster, restart)(1)

    assert pod.alive
    cluster.wait_serving()
    assert (pod.storage / "data" / "myid").read_text() == myid
    client = super_client(cluster, hosts=f"{pod.address}:2181")
    try:
        assert client.get("/before-restart")[0] == b"kept"
    finally:
        client.stop()
        client.close()
    cluster.settle()
    assert pod.status.message.endswith("3 members")


def test_losing_quorum_fails_the_health_check_and_says_so(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    assert cluster.check(0).returncode == 0

    # Two pods lost with their node: a stopped server whose charm still runs would be
    # started again by it as soon as its watcher's notice woke it.
    cluster.lose_pod(1)
    cluster.lose_pod(2)
    deadline_poll(lambda: cluster.check(0).returncode != 0, 30, "the health check to fail")
    cluster.run(0, "update_status")
    assert cluster.units[0].status.message == "zookeeper started, waiting for quorum"
