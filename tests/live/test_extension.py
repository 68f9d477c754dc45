"""The server extension (extension/) in every live server: isolation at create time, SASL users
without a restart, and a loud refusal to run where it cannot enforce anything."""

from __future__ import annotations

import subprocess
import threading

import pytest
from kazoo.exceptions import NoAuthError
from kazoo.security import ACL, OPEN_ACL_UNSAFE, Id, Permissions

import admin
from clients import digest_id
from extension import build
from layout import ZK_HOME
from tests.live.cluster import Cluster, pod_name
from tests.live.rootfs import EXTENSION_JAR, ensure_root
from tests.live.test_clients import DENIED, KAFKA_SECRETS, digest_client, root_hosts, sasl_client
from tests.live.zk import (
    PERSISTENT,
    PERSISTENT_RECURSIVE,
    add_watch,
    closing,
    connect,
    session,
)

ATTEMPTS = 1000
VICTIM, INTRUDER = 20, 21


@pytest.fixture
def tenants(cluster: Cluster):
    """Two client apps of one ensemble: a victim and an intruder who knows its paths."""
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.settle()
    cluster.relate("victim", {"database": "/victim", "requested-secrets": KAFKA_SECRETS}, VICTIM)
    cluster.relate("intruder", {"database": "/intruder"}, INTRUDER)
    cluster.wait_serving()
    cluster.settle()
    return cluster


def test_the_internals_it_uses_are_those_of_the_zookeeper_under_test():
    root = ensure_root()
    lib = root / ZK_HOME.relative_to("/") / "lib"
    classpath = build.classpath(lib, root)
    checked = subprocess.run(
        ["java", "-cp", classpath, "zookeeperk8s.Internals"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout[-2000:]
    assert checked.stdout.strip().endswith("internals: as built against")
    assert (lib / EXTENSION_JAR).is_file()
    assert "zookeeper-3.9.3.jar" in classpath


def test_a_server_told_of_no_policy_refuses_to_start(cluster: Cluster):
    """Without the policy property the factory cannot enforce anything: ZooKeeper must not
    come up serving clients without isolation."""
    cluster.deploy(1)
    cluster.wait_serving()
    unit = cluster.units[0]
    command = unit.command.replace(" -Dzookeeperk8s.policy=/zookeeper-k8s/policy", "")
    assert command != unit.command
    cluster.stop_process(unit)
    cluster.start_process(unit, command=command)
    assert unit.process.wait(timeout=60) != 0
    log = unit.log.read_text()
    assert "-Dzookeeperk8s.policy must name the policy znode" in log


def test_an_intruder_with_watches_set_first_sees_and_gets_nothing(tenants: Cluster):
    victim, intruder = tenants.credentials(VICTIM), tenants.credentials(INTRUDER)
    spy = sasl_client(intruder, hosts=root_hosts(intruder))
    owner = sasl_client(victim)
    fired, stolen = [], []
    stop = threading.Event()

    def attempt(path: str) -> None:
        for action in (
            lambda: spy.exists(path, watch=lambda event: fired.append(event)),
            lambda: spy.get(path),
            lambda: spy.get_children("/victim"),
            lambda: spy.create(f"{path}/planted", b"x"),
            lambda: spy.set(path, b"x"),
            lambda: spy.get_acls(path),
        ):
            try:
                stolen.append((path, action()))
            except DENIED:
                pass
            except Exception as exc:
                stolen.append((path, repr(exc)))

    def hammer() -> None:
        # The intruder races the owner for the next path it will create.
        i = 0
        while not stop.is_set():
            attempt(f"/victim/n{i % ATTEMPTS}")
            i += 1

    try:
        # Watches set before the owner starts, on every path it will create.
        for i in range(ATTEMPTS):
            attempt(f"/victim/n{i}")
        racer = threading.Thread(target=hammer, daemon=True)
        racer.start()
        naming_the_intruder = [ACL(Permissions.ALL, Id("sasl", intruder["username"]))]
        for i in range(ATTEMPTS):
            owner.create(
                f"/n{i}", b"secret", acl=OPEN_ACL_UNSAFE if i % 2 else naming_the_intruder
            )
        stop.set()
        racer.join(timeout=30)
        for i in range(0, ATTEMPTS, 97):
            attempt(f"/victim/n{i}")
        children = owner.get_children("/")
        # Read as the super user: ZooKeeper shows digest hashes only to holders of admin.
        with session(root_hosts(victim), sasl=("super", tenants.super_password())) as admin:
            acls = {
                tuple(
                    sorted(
                        (a.id.scheme, a.id.id, a.perms) for a in admin.get_acls(f"/victim/n{i}")[0]
                    )
                )
                for i in range(ATTEMPTS)
            }
    finally:
        stop.set()
        closing(spy)
        closing(owner)

    assert stolen == []
    assert fired == []  # not one watch was registered, so none could fire
    assert children and all(not child.startswith("planted") for child in children)
    # Both ACLs the owner passed became its own: its SASL and digest identities and the
    # super user, nobody else.
    user, password = victim["username"], victim["password"]
    assert acls == {
        tuple(
            sorted(
                [
                    ("digest", digest_id(user, password), Permissions.ALL & ~Permissions.ADMIN),
                    ("sasl", "super", Permissions.ALL),
                    ("sasl", user, Permissions.ALL & ~Permissions.ADMIN),
                ]
            )
        )
    }


def test_the_owner_works_with_both_logins_and_forgers_are_refused(tenants: Cluster):
    victim = tenants.credentials(VICTIM)
    by_sasl, by_digest = sasl_client(victim), digest_client(victim)
    forged = connect(root_hosts(victim), digest=(victim["username"], "not-the-password"))
    try:
        by_sasl.create("/from-sasl", b"1")
        by_digest.create("/from-digest", b"2", acl=OPEN_ACL_UNSAFE)
        assert by_digest.get("/from-sasl")[0] == b"1"
        assert by_sasl.get("/from-digest")[0] == b"2"
        by_digest.set("/from-sasl", b"3")
        by_sasl.delete("/from-digest")
        for action in (
            lambda: forged.get("/victim/from-sasl"),
            lambda: forged.exists("/victim/new", watch=lambda event: None),
            lambda: forged.create("/victim/forged", b"x"),
            lambda: forged.get_children("/victim"),
        ):
            with pytest.raises(NoAuthError):
                action()
    finally:
        for client in (by_sasl, by_digest, forged):
            closing(client)


def test_a_recursive_watch_above_another_apps_chroot_is_refused(tenants: Cluster):
    intruder = tenants.credentials(INTRUDER)
    spy = sasl_client(intruder, hosts=root_hosts(intruder))
    try:
        for path in ("/", "/victim"):
            with pytest.raises(NoAuthError):
                add_watch(spy, path, PERSISTENT_RECURSIVE)
        with pytest.raises(NoAuthError):
            add_watch(spy, "/victim/leader", PERSISTENT)
        # Its own chroot it may watch.
        add_watch(spy, "/intruder", PERSISTENT_RECURSIVE)
    finally:
        closing(spy)


def test_a_new_client_logs_in_everywhere_at_once_and_a_removed_one_nowhere(cluster: Cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.settle()
    servers = {unit.ordinal: unit.process.pid for unit in cluster.units.values()}
    cluster.restart_log.clear()

    cluster.relate("app", {"database": "/app", "requested-secrets": KAFKA_SECRETS}, 30)
    creds = cluster.credentials(30)
    assert "password" in creds
    # The moment the client is told, each server on its own lets it in by either login.
    for ordinal in sorted(cluster.units):
        only = f"{pod_name(ordinal)}:2181/app"
        for login in (sasl_client, digest_client):
            client = login(creds, hosts=only)
            try:
                client.create(f"/{login.__name__}-{ordinal}", b"x")
            finally:
                closing(client)
    kept = [sasl_client(creds), digest_client(creds)]

    cluster.unrelate(30)
    try:
        for session_kept in kept:  # its live sessions too: refused from the removal on
            with pytest.raises(DENIED):
                session_kept.get("/sasl_client-0")
            with pytest.raises(DENIED):
                session_kept.create("/after-removal", b"x")
    finally:
        for session_kept in kept:
            closing(session_kept)
    for ordinal in sorted(cluster.units):
        only = f"{pod_name(ordinal)}:2181/app"
        for login in (sasl_client, digest_client):
            with pytest.raises(DENIED):
                client = login(creds, hosts=only)
                try:
                    client.get("/sasl_client-0")
                finally:
                    closing(client)
    assert cluster.restart_log == []
    assert {unit.ordinal: unit.process.pid for unit in cluster.units.values()} == servers


def test_the_policy_and_the_quota_tree_are_closed_to_clients(tenants: Cluster):
    intruder = tenants.credentials(INTRUDER)
    spy = sasl_client(intruder, hosts=root_hosts(intruder))
    try:
        for action in (
            lambda: spy.get("/zookeeper-k8s/policy"),
            lambda: spy.exists("/zookeeper-k8s/policy", watch=lambda event: None),
            lambda: spy.set("/zookeeper-k8s/policy", b"zookeeper-k8s policy 1\n"),
            lambda: spy.get_children("/zookeeper-k8s"),
            # ZooKeeper's quota tree, open to anyone without the extension.
            lambda: spy.create("/zookeeper/quota/intruder", b"x"),
            lambda: spy.set("/zookeeper/quota", b"x"),
        ):
            with pytest.raises(NoAuthError):
                action()
    finally:
        closing(spy)


def test_the_charms_probe_answers_as_zookeepers_own_commands_in_one_request(tenants: Cluster):
    """`charm_probe` (what admin.probe asks in every hook) carries srvr, voting_view and
    client_sessions as those commands give them, with the victim's session counted."""
    unit = tenants.units[0]
    victim = tenants.credentials(VICTIM)
    client = sasl_client(victim, hosts=f"{pod_name(0)}:2181/victim")
    try:
        client.ensure_path("/here")
        answer = unit.admin_command(admin.PROBE_COMMAND)
        own = {c: unit.admin_command(c) for c in ("srvr", "voting_view", "client_sessions")}
        health = unit.health()
    finally:
        closing(client)
    assert answer["error"] is None
    assert answer["voting_view"] == own["voting_view"]
    assert answer["client_sessions"] == own["client_sessions"]
    assert answer["client_sessions"]["sessions"]["/victim"] == 1
    assert set(answer["srvr"]) == set(own["srvr"])
    assert answer["srvr"]["server_stats"]["server_state"] == health.mode
    assert health.serving and health.voters == 3
    assert dict(health.sessions)["/victim"] == 1
