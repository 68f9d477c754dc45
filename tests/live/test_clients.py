"""The `zookeeper` relation on real ZooKeeper: chroots, users and ACLs that isolate clients."""

import json

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import (
    AuthFailedError,
    ConnectionLoss,
    NoAuthError,
    SessionClosedRequireSaslError,
)
from kazoo.handlers.threading import KazooTimeoutError

from tests.live.cluster import Cluster, pod_name
from tests.live.writer import Writer
from tests.live.zk import closing, connect, session

KAFKA_SECRETS = json.dumps(["username", "password", "tls", "tls-ca", "uris"])
DENIED = (NoAuthError, AuthFailedError, ConnectionLoss, SessionClosedRequireSaslError)


def digest_client(creds, hosts=None):
    return connect(hosts or creds["uris"], digest=(creds["username"], creds["password"]))


def sasl_client(creds, hosts=None):
    return connect(hosts or creds["uris"], sasl=(creds["username"], creds["password"]))


def root_hosts(creds) -> str:
    """The same servers without the chroot (to try paths outside it)."""
    return creds["uris"].rsplit("/", 1)[0] if creds["uris"].count("/") else creds["uris"]


@pytest.fixture
def two_apps(cluster: Cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.settle()
    cluster.relate("app-a", {"database": "/app-a", "requested-secrets": KAFKA_SECRETS}, 10)
    cluster.relate("app-b", {"chroot": "/app-b"}, 11)  # an older requirer: no secrets asked
    cluster.wait_serving()
    cluster.settle()
    return cluster


def test_each_app_gets_what_kafka_needs(two_apps):
    a = two_apps.credentials(10)
    assert a["username"] == "relation-10"
    assert a["database"] == a["chroot"] == "/app-a"
    assert a["endpoints"] == two_apps.hosts()  # the pods' DNS names
    assert a["uris"] == a["endpoints"] + "/app-a"
    assert a["tls"] == "disabled"
    assert a["version"].startswith("3.")
    # Credentials only ever travel in secrets.
    assert "password" not in two_apps.clients[10].answer
    assert "password" not in two_apps.clients[11].answer
    assert two_apps.credentials(11)["uris"].endswith("/app-b")


def test_a_client_works_in_its_chroot_and_nowhere_else(two_apps):
    a, b = two_apps.credentials(10), two_apps.credentials(11)
    for login in (digest_client, sasl_client):
        client = login(a)
        try:
            client.ensure_path("/data")
            client.set("/data", login.__name__.encode())
            assert client.get("/data")[0] == login.__name__.encode()
        finally:
            closing(client)

    # Outside its chroot: B's chroot by path, and the root.
    client = digest_client(a, hosts=root_hosts(a))
    try:
        for action in (
            lambda: client.get_children("/app-b"),
            lambda: client.get("/app-b"),
            lambda: client.create("/app-b/intrusion", b"x"),
            lambda: client.set("/app-b", b"x"),
            lambda: client.create("/outside", b"x"),
        ):
            with pytest.raises(DENIED):
                action()
    finally:
        closing(client)

    # B can use its own chroot.
    client = digest_client(b)
    try:
        client.create("/mine", b"b")
        assert client.get("/mine")[0] == b"b"
    finally:
        closing(client)


def test_list_clients_counts_each_apps_open_sessions_on_every_server(two_apps):
    a, b = two_apps.credentials(10), two_apps.credentials(11)
    chroot_a = "/" + a["uris"].rsplit("/", 1)[1]
    # Two of app-a's sessions on unit 1 (one by SASL, one by digest), one of app-b's on unit 2.
    on = {o: f"{two_apps.units[o].address}:2181" for o in two_apps.units}
    opened = [
        sasl_client(a, hosts=on[1] + chroot_a),
        digest_client(a, hosts=on[1] + chroot_a),
        digest_client(b, hosts=on[2] + "/app-b"),
    ]
    try:
        two_apps.settle()  # each unit reports what its own server holds
        two_apps.run(two_apps.leader, "action", name="list-clients")
        seen = two_apps.action_results
    finally:
        for client in opened:
            closing(client)
    assert seen["relation-10"]["sessions"] == "2", seen
    assert seen["relation-10"]["sessions-per-unit"] == "0: 0, 1: 2, 2: 0", seen
    assert seen["relation-11"]["sessions"] == "1", seen
    assert seen["relation-11"]["sessions-per-unit"] == "0: 0, 1: 0, 2: 1", seen

    # Closed sessions are no longer counted once the units report again.
    two_apps.settle()
    two_apps.run(two_apps.leader, "action", name="list-clients")
    assert two_apps.action_results["relation-10"]["sessions"] == "0", two_apps.action_results


def test_an_unauthenticated_client_is_refused(two_apps):
    a = two_apps.credentials(10)
    client = KazooClient(hosts=a["uris"], timeout=5, command_retry={"max_tries": 1})
    with pytest.raises((*DENIED, KazooTimeoutError)):
        try:
            client.start(timeout=10)
            client.get("/")
        finally:
            closing(client)


def test_bad_chroots_get_nothing_and_the_leader_says_why(two_apps):
    two_apps.relate("app-c", {"database": "/app-a/inside"}, 12)
    two_apps.relate("app-d", {"database": "/zookeeper/quota"}, 13)
    leader = two_apps.units[two_apps.leader]
    assert leader.status.name == "blocked"
    assert "relation 12 (app-c): chroot /app-a/inside overlaps /app-a of relation 10" in (
        leader.status.message
    )
    assert "relation 13 (app-d): chroot /zookeeper/quota lies under /zookeeper" in (
        leader.status.message
    )
    assert "secret-user" not in two_apps.clients[12].answer
    assert "secret-user" not in two_apps.clients[13].answer


def test_client_sessions_survive_other_clients_coming_and_going(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.settle()
    cluster.relate("app-b", {"database": "/app-b", "requested-secrets": KAFKA_SECRETS}, 11)
    cluster.wait_serving()
    cluster.settle()
    b = cluster.credentials(11)
    cluster.restart_log.clear()
    servers = {unit.ordinal: unit.process.pid for unit in cluster.units.values()}

    with Writer(b["uris"], None, path="/writes", digest=(b["username"], b["password"])) as w:
        # A arrives: its SASL user comes from the policy znode, no server restarts.
        cluster.relate("app-a", {"database": "/app-a", "requested-secrets": KAFKA_SECRETS}, 10)
        cluster.wait_serving()
        cluster.settle()
        a = cluster.credentials(10)
        client = sasl_client(a)
        try:
            client.create("/kept", b"data")
        finally:
            closing(client)

        # A leaves: its credentials die, its user leaves the policy (no roll either).
        cluster.unrelate(10)
        cluster.wait_serving()
        cluster.settle()

    assert cluster.restart_log == []
    assert {unit.ordinal: unit.process.pid for unit in cluster.units.values()} == servers
    assert w.expirations == 0
    assert w.acknowledged
    assert w.missing() == []
    w.close()
    for login in (digest_client, sasl_client):
        with pytest.raises((*DENIED, KazooTimeoutError)):
            client = login(a)
            try:
                client.get("/kept")
            finally:
                closing(client)
    # The data stayed (delete-client-data is off), closed to all but the super user.
    with session(root_hosts(a), sasl=("super", cluster.super_password())) as admin_client:
        assert admin_client.get("/app-a/kept")[0] == b"data"
        assert [acl.id.id for acl in admin_client.get_acls("/app-a")[0]] == ["super"]


def test_endpoints_follow_the_units(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.settle()
    cluster.relate("app-a", {"database": "/app-a", "requested-secrets": KAFKA_SECRETS}, 10)
    cluster.scale(4)
    cluster.wait_serving()
    cluster.settle()
    a = cluster.credentials(10)
    hosts = cluster.hosts(range(4))
    assert a["endpoints"] == hosts
    assert a["uris"] == hosts + "/app-a"
    # The new member serves the client too.
    with session(f"{pod_name(3)}:2181/app-a", digest=(a["username"], a["password"])) as client:
        client.ensure_path("/via-new-member")


def test_the_root_is_closed_before_any_client_app_exists(cluster):
    """README: the root is closed from the leader's first serving hook. Before any relation,
    a session with a made-up digest identity (self-asserted, so it passes enforced auth)
    can neither create a top-level znode nor list the top-level names."""
    cluster.deploy(3)
    cluster.wait_serving()
    assert json.loads(cluster.app_data["root-closed"]) is True
    assert not cluster.clients
    with session(cluster.hosts(), digest=("anyone", "anything")) as intruder:
        with pytest.raises(NoAuthError):
            intruder.create("/planted", b"x")
        with pytest.raises(NoAuthError):
            intruder.get_children("/")
