"""A fresh deployment forms one secured ensemble on real ZooKeeper."""

import shutil

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import (
    AuthFailedError,
    ConnectionLoss,
    NoAuthError,
    SessionClosedRequireSaslError,
    SessionExpiredError,
)
from kazoo.handlers.threading import KazooTimeoutError

import admin
import render
from ensemble import EnsembleConfig, Role, server_for
from tests.live.cluster import APP, MODEL, deadline_poll, live_layout, pod_name

ROCK_USER = 10000  # the rock's zookeeper user

REFUSED = (
    AuthFailedError,
    ConnectionLoss,
    NoAuthError,
    SessionClosedRequireSaslError,
    SessionExpiredError,
    KazooTimeoutError,
)


def sasl_client(hosts, username, password):
    return KazooClient(
        hosts=hosts,
        timeout=5,
        sasl_options={"mechanism": "DIGEST-MD5", "username": username, "password": password},
        connection_retry={"max_tries": 1},
        command_retry={"max_tries": 1},
    )


def refused(client, path):
    """True if the client cannot open a session or read `path` with it."""
    try:
        client.start(timeout=5)
        client.get(path)
    except REFUSED:
        return True
    finally:
        client.stop()
        client.close()
    return False


def statuses(cluster):
    return sorted((u.status.name, u.status.message) for u in cluster.units.values())


def test_three_units_start_at_once_and_form_one_ensemble(cluster):
    cluster.deploy(3)
    # Every unit started its server from its first hooks, none waited for another.
    assert all(unit.alive for unit in cluster.units.values())

    cluster.wait_serving()
    pids = {o: u.process.pid for o, u in cluster.units.items()}
    cluster.settle()
    cluster.settle()
    assert statuses(cluster) == [
        ("active", "follower, 3 members"),
        ("active", "follower, 3 members"),
        ("active", "leader, 3 members"),
    ]
    # update-status on a healthy ensemble changes nothing and restarts nothing.
    assert cluster.restart_log == []
    assert {o: u.process.pid for o, u in cluster.units.items()} == pids
    with cluster.admin() as zk:
        committed = zk.committed_config()
    # Pod DNS names, as the production layout names members; clients on every address.
    assert [s.line for s in committed.servers] == [
        f"server.{o + 1}={pod_name(o)}:2888:3888:participant;0.0.0.0:2181" for o in (0, 1, 2)
    ]
    # The Pebble health check passes on a serving member.
    assert cluster.check(0).returncode == 0
    # The leader's disruption budget, applied once through one client; nothing exposed.
    budget = cluster.kube.get("poddisruptionbudgets", "zookeeper-k8s")
    assert budget["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "zookeeper-k8s"}},
    }
    assert len(cluster.kube.sent("apply")) == 1
    assert cluster.kube.get("services", "zookeeper-k8s-external") is None


def test_one_unit_alone_serves(cluster):
    cluster.deploy(1)
    cluster.wait_serving()
    cluster.settle()
    assert statuses(cluster) == [("active", "leader, 1 member")]


def test_sasl_is_enforced_for_clients(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    hosts = cluster.hosts()

    good = sasl_client(hosts, "super", cluster.super_password())
    good.start()
    try:
        good.create("/written-by-sasl", b"hello")
        assert good.get("/written-by-sasl")[0] == b"hello"
    finally:
        good.stop()
        good.close()

    for username, password in (("super", "wrong-password"), ("nobody", "whatever")):
        assert refused(sasl_client(hosts, username, password), "/written-by-sasl")
    anonymous = KazooClient(hosts=hosts, timeout=5, command_retry={"max_tries": 1})
    assert refused(anonymous, "/written-by-sasl")


def test_super_user_can_reconfigure_and_a_wrong_password_cannot(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    with cluster.admin() as zk:
        before = zk.committed_config()
        without_3 = zk.reconfig(joining=[], leaving=[3])
        assert sorted(without_3.ids) == [1, 2]
        back = zk.reconfig(joining=[before.servers[2].line], leaving=[])
        assert [s.line for s in back.servers] == [s.line for s in before.servers]
        assert back.version > without_3.version > before.version

    with (
        pytest.raises(admin.AdminError),
        admin.session(["not-the-password"], host=pod_name(0)) as zk,
    ):
        zk.reconfig(joining=[], leaving=[3])


def test_a_joiner_with_a_wrong_quorum_password_never_serves(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    with cluster.admin() as zk:
        committed = zk.committed_config()

    # A fourth server rendered by the charm's own functions, but with a wrong sync password.
    intruder = cluster.add_unit(3)
    layout = live_layout()
    me = server_for(layout, APP, MODEL, 3, Role.OBSERVER)
    dynamic = layout.conf_dir / "zoo.cfg.dynamic"
    config = render.CharmConfig()
    files = {
        dynamic: EnsembleConfig((*committed.servers, me)).render(),
        layout.zoo_cfg: render.zoo_cfg(config, layout, intruder.address, str(dynamic)),
        layout.jaas: render.jaas(
            render.Credentials(cluster.super_password(), {"sync0": "wrong"}, ("sync0", "wrong"))
        ),
        layout.log_config: render.log_config(layout, "INFO"),
        layout.myid: render.myid_file(4),
    }
    for path, text in files.items():
        # The pod's /var/lib/zookeeper is the unit's storage here.
        on_disk = intruder.storage / path.relative_to(layout.storage)
        on_disk.parent.mkdir(parents=True, exist_ok=True)
        on_disk.write_text(text)
        shutil.chown(on_disk.parent, ROCK_USER, ROCK_USER)
        shutil.chown(on_disk, ROCK_USER, ROCK_USER)
    cluster.start_process(
        intruder, render.command(config.model_copy(update={"jvm_heap_mb": 128}), layout)
    )

    # The quorum refuses it: wait for the members to say so, then check it is not serving.
    def refused():
        return any(
            "authentication failed" in u.log.read_text(errors="replace").lower()
            or "failed to authenticate" in u.log.read_text(errors="replace").lower()
            for o, u in cluster.units.items()
            if o != 3
        )

    deadline_poll(refused, 30, "a member to refuse the intruder's quorum authentication")
    assert intruder.alive
    assert not intruder.health().serving
    with cluster.admin() as zk:
        assert zk.committed_config().ids == committed.ids
