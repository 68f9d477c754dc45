"""The isolation guard on real ZooKeeper: whatever ACL a client passes, others stay out."""

import statistics
import time

import pytest
from kazoo.exceptions import NoAuthError
from kazoo.security import OPEN_ACL_UNSAFE, make_digest_acl

from tests.live.cluster import deadline_poll
from tests.live.test_clients import KAFKA_SECRETS, digest_client, root_hosts
from tests.live.zk import closing, connect

GUARD_WINDOW = 5.0  # seconds: the promise the test holds the guard to


@pytest.fixture
def apps(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.settle()
    cluster.relate("app-a", {"database": "/app-a", "requested-secrets": KAFKA_SECRETS}, 10)
    cluster.relate("app-b", {"database": "/app-b", "requested-secrets": KAFKA_SECRETS}, 11)
    cluster.wait_serving()
    cluster.settle()
    return cluster


def super_client(cluster, hosts):
    return connect(hosts, sasl=("super", cluster.super_password()))


def closed(admin, path, owner):
    """Only the owner (digest and sasl) and super on the znode, and no admin for the owner."""
    ids = {(acl.id.scheme, acl.id.id.split(":")[0], acl.perms) for acl in admin.get_acls(path)[0]}
    return ids == {("digest", owner, 15), ("sasl", owner, 15), ("sasl", "super", 31)}


def test_znodes_a_client_opens_are_closed_within_the_window(apps):
    a, b = apps.credentials(10), apps.credentials(11)
    admin = super_client(apps, root_hosts(a))
    owner = digest_client(a)
    windows = []
    try:
        created = {}
        # 1. kazoo's default: the open ACL.
        created["/open"] = time.monotonic()
        owner.create("/open", b"a-data")
        # 2. An ACL that lets B in on purpose.
        b_acl = make_digest_acl(b["username"], b["password"], all=True)
        created["/shared"] = time.monotonic()
        owner.create("/shared", b"a-data", acl=[b_acl, *OPEN_ACL_UNSAFE])
        # 3. A znode A keeps for itself, then tries to open with set_acls.
        mine = make_digest_acl(a["username"], a["password"], all=True)
        created["/later"] = time.monotonic()
        owner.create("/later", b"a-data", acl=[mine])
        for path, started in created.items():
            deadline_poll(lambda p=path: closed(admin, f"/app-a{p}", "relation-10"), 10, path)
            windows.append(time.monotonic() - started)
        with pytest.raises(NoAuthError):
            owner.set_acls("/later", OPEN_ACL_UNSAFE)
        assert closed(admin, "/app-a/later", "relation-10")

        # B, authenticated as itself, cannot touch any of them by path.
        intruder = digest_client(b, hosts=root_hosts(b))
        try:
            for path in ("/app-a/open", "/app-a/shared", "/app-a/later"):
                for action in (
                    lambda p=path: intruder.get(p),
                    lambda p=path: intruder.get_children(p),
                    lambda p=path: intruder.set(p, b"b-was-here"),
                    lambda p=path: intruder.delete(p),
                    lambda p=path: intruder.create(p + "/child", b""),
                ):
                    with pytest.raises(NoAuthError):
                        action()
        finally:
            closing(intruder)
        # A still can.
        for path in ("/open", "/shared", "/later"):
            assert owner.get(path)[0] == b"a-data"
            owner.set(path, b"a-again")
    finally:
        closing(owner)
        closing(admin)
    print(f"guard window: median {statistics.median(windows):.3f}s max {max(windows):.3f}s")
    assert max(windows) < GUARD_WINDOW


def test_the_guard_survives_a_zookeeper_leader_change(apps):
    a = apps.credentials(10)
    healths = apps.wait_serving()
    zk_leader = next(o for o, h in healths.items() if h.mode == "leader")
    apps.stop_process(apps.units[zk_leader])  # the acting guard's server goes away
    others = [o for o in apps.units if o != zk_leader]
    apps.wait_serving(others, timeout=60)
    hosts = ",".join(f"{apps.units[o].address}:2181" for o in others)
    admin = super_client(apps, hosts)
    owner = digest_client(a, hosts=f"{hosts}/app-a")
    try:
        owner.create("/after-failover", b"x")
        deadline_poll(
            lambda: closed(admin, "/app-a/after-failover", "relation-10"),
            15,
            "the new leader's guard to close the znode",
        )
    finally:
        closing(owner)
        closing(admin)


def anonymous(hosts):
    return connect(hosts)


def test_opted_in_chroots_take_clients_without_credentials_and_nothing_else(apps):
    a = apps.credentials(10)
    writer = digest_client(a)
    writer.create("/private", b"a-only")
    closing(writer)

    apps.config["open-chroots"] = "/public"
    for ordinal in sorted(apps.units, key=lambda o: o != apps.leader):
        apps.run(ordinal, "config_changed")
    apps.wait_serving()
    apps.settle()
    assert all(u.status.name == "active" for u in apps.units.values())

    hosts = root_hosts(a)
    guest = anonymous(f"{hosts}/public")
    try:
        guest.create("/hello", b"from a guest")
        assert guest.get("/hello")[0] == b"from a guest"
    finally:
        closing(guest)
    outsider = anonymous(hosts)
    try:
        for action in (
            lambda: outsider.get("/app-a/private"),
            lambda: outsider.get_children("/app-a"),
            lambda: outsider.create("/app-a/x", b""),
            lambda: outsider.create("/elsewhere", b""),
            lambda: outsider.get_children("/"),
        ):
            with pytest.raises(NoAuthError):
                action()
    finally:
        closing(outsider)


def test_an_open_chroot_that_a_client_owns_blocks_and_changes_nothing(apps):
    before = {o: (u.storage / "conf" / "zoo.cfg").read_text() for o, u in apps.units.items()}
    apps.config["open-chroots"] = "/app-a/shared"
    for ordinal in sorted(apps.units, key=lambda o: o != apps.leader):
        apps.run(ordinal, "config_changed")
    leader = apps.units[apps.leader]
    assert leader.status.name == "blocked"
    assert leader.status.message == (
        "open-chroots: /app-a/shared overlaps /app-a of relation 10 (app-a); "
        "pick a path no client relation uses"
    )
    assert {o: (u.storage / "conf" / "zoo.cfg").read_text() for o, u in apps.units.items()} == (
        before
    )
    # Enforced authentication is still on: a client without credentials gets nowhere.
    from kazoo.exceptions import SessionClosedRequireSaslError

    with pytest.raises((NoAuthError, SessionClosedRequireSaslError)):
        outsider = anonymous(root_hosts(apps.credentials(10)))
        try:
            outsider.get("/app-a")
        finally:
            closing(outsider)
