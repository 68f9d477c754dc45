"""Each unit is as close to its pod as this machine allows: its own address and DNS name, the
rock's filesystem and user, and Pebble's health check run inside it."""

import os
import resource
from pathlib import Path

from tests.live import network
from tests.live.cluster import deadline_poll, pod_name

ROCK_UID = ROCK_GID = 10000


def owner(path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_uid, info.st_gid


def process_ids(pid: int) -> tuple[int, int]:
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(status["Uid"].split()[0]), int(status["Gid"].split()[0])


def cpu_seconds() -> float:
    """CPU time of this process's children that have been waited for, user and system."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def test_the_server_runs_as_the_rocks_user_and_owns_what_it_writes(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.settle()
    unit = cluster.units[0]
    assert process_ids(unit.process.pid) == (ROCK_UID, ROCK_GID)
    conf = unit.storage / "conf"
    for path in (conf, conf / "zoo.cfg", conf / "jaas.conf", unit.storage / "data" / "myid"):
        assert owner(path) == (ROCK_UID, ROCK_GID), path
    assert oct(os.stat(conf / "jaas.conf").st_mode & 0o777) == "0o600"
    # What ZooKeeper writes itself (its dynamic config, its snapshots) is its user's too.
    written = list(conf.glob("zoo.cfg.dynamic.*")) + list((unit.storage / "data").rglob("*"))
    assert written
    assert all(owner(p) == (ROCK_UID, ROCK_GID) for p in written)


def test_the_health_check_passes_as_the_rocks_user_only_while_serving(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    check = cluster.units[0].layers["zookeeper"].checks["zookeeper-ready"].exec
    assert (check["user"], check["group"]) == ("zookeeper", "zookeeper")
    # No JVM: nothing in the command starts one, and a run costs far less CPU than a JVM
    # start (zkServer.sh status: 0.5-0.6 s here; this check about 45 ms, the pod's setup
    # included). CPU, not wall: the old check took under 1 s of wall too.
    for jvm in ("java", "zkServer.sh", "/opt/zookeeper"):
        assert jvm not in check["command"]
    cpu = cpu_seconds()
    up = cluster.check(0)
    assert cpu_seconds() - cpu < 0.25
    assert (up.returncode, up.stdout, up.stderr) == (0, "", "")

    # Running but not serving: with two of three members gone it has no quorum.
    cluster.stop_process(cluster.units[1])
    cluster.stop_process(cluster.units[2])
    down = deadline_poll(
        lambda: (done := cluster.check(0)).returncode != 0 and done, 30, "the check to fail"
    )
    assert cluster.units[0].alive
    assert (down.returncode, down.stderr) == (1, "")
    assert down.stdout == (
        "not serving on 127.0.0.1:2181: "
        "This ZooKeeper instance is not currently serving requests\n"
    )

    cluster.stop_process(cluster.units[0])
    gone = cluster.check(0)
    assert (gone.returncode, gone.stdout, gone.stderr) == (
        1,
        "nothing answers on 127.0.0.1:2181\n",
        "",
    )


def test_each_pod_has_its_own_address_and_name(cluster):
    cluster.deploy(2)
    cluster.wait_serving()
    for ordinal in (0, 1):
        unit = cluster.units[ordinal]
        address = network.unit_address(ordinal)
        # The name every process resolves is the pod's own address.
        assert Path("/etc/hosts").read_text().count(f"{address} {pod_name(ordinal)} ") == 1
        # The admin server listens on the pod's loopback only: out of reach from elsewhere.
        assert unit.health().serving
    with network.inside(cluster.units[1].netns):
        import socket

        with socket.create_connection((pod_name(0), 2181), timeout=5) as sock:
            assert sock.getpeername()[0] == network.unit_address(0)
    # A pod scaled away takes its name and address with it.
    cluster.scale(1)
    assert pod_name(1) not in Path("/etc/hosts").read_text()
