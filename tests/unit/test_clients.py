"""Pure tests of clients.py: which chroot and permissions each client gets, and why not."""

import base64
import hashlib

import pytest

import admin
import clients
from clients import Acl, Grant, Request

PROBLEMS = {
    "kafka": "chroot 'kafka' must be an absolute path such as /kafka",
    "/": "chroot / would give the whole tree; ask for a path such as /myapp",
    "//": "chroot / would give the whole tree; ask for a path such as /myapp",
    "/zookeeper": "chroot /zookeeper lies under /zookeeper, which ZooKeeper keeps for itself",
    "/zookeeper/": "chroot /zookeeper lies under /zookeeper, which ZooKeeper keeps for itself",
    "/zookeeper/x": "chroot /zookeeper/x lies under /zookeeper, which ZooKeeper keeps for itself",
    # The charm's own area: the extension's policy znode (it holds every client's password).
    "/zookeeper-k8s": "chroot /zookeeper-k8s lies under /zookeeper-k8s, "
    "which the charm keeps for itself",
    "/zookeeper-k8s/": "chroot /zookeeper-k8s lies under /zookeeper-k8s, "
    "which the charm keeps for itself",
    "/zookeeper-k8s/policy": "chroot /zookeeper-k8s/policy lies under /zookeeper-k8s, "
    "which the charm keeps for itself",
    "/a//b": "chroot '/a//b' is not a plain path",
    "/a/../b": "chroot '/a/../b' is not a plain path",
    "/a/./b": "chroot '/a/./b' is not a plain path",
    "/..": "chroot '/..' is not a plain path",
}


def request(relation_id=1, chroot="/kafka", roles=None, app="kafka") -> Request:
    return Request(relation_id=relation_id, app=app, chroot=chroot, extra_user_roles=roles)


def decide_one(chroot="/kafka", roles=None):
    return clients.decide([request(7, chroot, roles)])


# -- what a valid request gets ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("chroot", "granted"),
    [
        ("/kafka", "/kafka"),
        ("/kafka/", "/kafka"),
        ("/apps/kafka", "/apps/kafka"),
        ("/zookeeper-data", "/zookeeper-data"),  # only /zookeeper itself is ZooKeeper's
        ("/zookeeper-k8s-data", "/zookeeper-k8s-data"),  # only /zookeeper-k8s is the charm's
        ("/kafka.prod_1", "/kafka.prod_1"),
    ],
)
def test_a_valid_chroot_is_granted_with_every_permission_by_default(chroot, granted):
    decision = decide_one(chroot)

    assert decision.rejected == {}
    assert decision.granted == {7: Grant(7, "kafka", granted, "cdrwa")}
    assert decision.granted[7].user == "relation-7"


@pytest.mark.parametrize("roles", ["r", "cdr", "rw", "cdrw", "cdrwa"])
def test_extra_user_roles_narrow_the_permissions(roles):
    decision = decide_one(roles=roles)

    assert decision.rejected == {}
    assert decision.granted[7].perms == roles


def test_empty_extra_user_roles_mean_every_permission():
    assert decide_one(roles="").granted[7].perms == "cdrwa"


@pytest.mark.parametrize("chroot", [None, ""])
def test_a_client_that_asked_nothing_yet_is_neither_granted_nor_rejected(chroot):
    decision = decide_one(chroot)

    assert decision.granted == {}
    assert decision.rejected == {}


def test_user_names_follow_the_relation_id():
    assert clients.user_for(0) == "relation-0"
    assert clients.user_for(42) == "relation-42"


# -- what a bad request gets -----------------------------------------------------------------


@pytest.mark.parametrize("roles", ["admin", "x", "R", "rw,", "superuser"])
def test_bad_roles_are_rejected_naming_the_permission_letters(roles):
    decision = decide_one(roles=roles)

    assert decision.granted == {}
    assert decision.rejected == {
        7: f"extra-user-roles {roles!r}: use ACL permission letters from cdrwa "
        "(c create, d delete, r read, w write, a admin)"
    }


@pytest.mark.parametrize("chroot", PROBLEMS)
def test_a_bad_chroot_is_rejected_with_a_message(chroot):
    decision = decide_one(chroot)

    assert decision.granted == {}
    assert decision.rejected == {7: PROBLEMS[chroot]}


def test_a_bad_chroot_is_named_before_bad_roles():
    assert decide_one("/", roles="admin").rejected == {7: PROBLEMS["/"]}


def test_one_bad_request_leaves_the_others_granted():
    decision = clients.decide([request(1, "/"), request(2, "/b", app="b")])

    assert decision.rejected == {1: PROBLEMS["/"]}
    assert decision.granted == {2: Grant(2, "b", "/b", "cdrwa")}


# -- overlapping requests --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param("/kafka", "/kafka", id="same"),
        pytest.param("/kafka", "/kafka/", id="same-with-slash"),
        pytest.param("/kafka", "/kafka/sub", id="child"),
        pytest.param("/kafka/sub", "/kafka", id="parent"),
    ],
)
def test_an_overlapping_request_is_rejected_naming_the_other_relation(first, second):
    decision = clients.decide(
        [request(5, second, app="other"), request(3, first, app="kafka")]  # any order
    )

    assert set(decision.granted) == {3}
    assert decision.granted[3].chroot == first
    held = first.rstrip("/")
    assert decision.rejected == {
        5: f"chroot {second.rstrip('/')} overlaps {held} of relation 3 (kafka)"
    }


@pytest.mark.parametrize(("a", "b"), [("/kafka", "/kafka2"), ("/a/b", "/a/c"), ("/ab", "/a")])
def test_siblings_and_shared_prefixes_do_not_overlap(a, b):
    decision = clients.decide([request(1, a), request(2, b, app="other")])

    assert decision.rejected == {}
    assert {g.chroot for g in decision.granted.values()} == {a, b}


def test_an_established_grant_keeps_its_chroot_against_an_older_newcomer():
    # Relation 9 was granted /kafka earlier; relation 2 (a lower id) now asks for it too.
    requests = [request(2, "/kafka", app="newcomer"), request(9, "/kafka", app="kafka")]
    decision = clients.decide(requests, existing={9: "/kafka"})

    assert decision.granted == {9: Grant(9, "kafka", "/kafka", "cdrwa")}
    assert decision.rejected == {2: "chroot /kafka overlaps /kafka of relation 9 (kafka)"}


def test_a_rejected_request_does_not_block_a_later_one():
    # Relation 1's bad chroot holds nothing: relation 2 may have /kafka.
    decision = clients.decide([request(1, "kafka"), request(2, "/kafka", app="b")])

    assert set(decision.rejected) == {1}
    assert set(decision.granted) == {2}


# -- ACLs ------------------------------------------------------------------------------------


def zookeeper_digest(user: str, password: str) -> str:
    """ZooKeeper's DigestAuthenticationProvider.generateDigest, written out again."""
    sha1 = hashlib.sha1(usedforsecurity=False)
    sha1.update(user.encode("utf-8") + b":" + password.encode("utf-8"))
    return user + ":" + base64.b64encode(sha1.digest()).decode("ascii")


def test_digest_id_matches_zookeepers_documented_example():
    # The example in ZooKeeper's admin guide and in countless `super` setups.
    assert clients.digest_id("super", "admin") == "super:xQJmxLMiHGwaqBvst5y6rkB6HQs="


@pytest.mark.parametrize(
    ("user", "password"), [("relation-3", "s3cret"), ("relation-12", "A" * 32), ("u", "")]
)
def test_digest_id_is_base64_of_sha1_of_user_colon_password(user, password):
    assert clients.digest_id(user, password) == zookeeper_digest(user, password)


def test_acls_admit_the_clients_user_by_sasl_and_digest_and_the_super_user():
    grant = Grant(4, "kafka", "/kafka", "cdr")

    assert clients.acls(grant, "pw") == [
        Acl("sasl", "relation-4", "cdr"),
        Acl("digest", zookeeper_digest("relation-4", "pw"), "cdr"),
        Acl("sasl", "super", "cdrwa"),
    ]


def test_super_only_admits_only_the_super_user():
    assert clients.super_only() == [Acl("sasl", "super", "cdrwa")]


def test_the_client_never_holds_the_admin_permission():
    # With `a` a client could reopen its znodes to everyone (ACL changes fire no watch).
    grant = Grant(4, "kafka", "/kafka", "cdrwa")
    client_sasl, client_digest, super_user = clients.acls(grant, "pw")

    assert client_sasl.perms == client_digest.perms == "cdrw"
    assert super_user == Acl("sasl", "super", "cdrwa")


@pytest.mark.parametrize(
    ("roles", "bits"), [("r", 1), ("cdr", 13), ("rw", 3), ("cdrw", 15), ("cdrwa", 15)]
)
def test_granted_roles_become_exactly_those_zookeeper_permission_bits(roles, bits):
    grant = decide_one(roles=roles).granted[7]
    client_sasl, client_digest, super_user = admin._kazoo_acls(clients.acls(grant, "pw"))

    assert client_sasl.perms == client_digest.perms == bits
    assert super_user.perms == 31


def test_roles_that_leave_the_client_no_permission_are_rejected():
    decision = decide_one(roles="a")

    assert decision.granted == {}
    assert "cdrw" in decision.rejected[7]


@pytest.mark.parametrize(
    ("roles", "perms", "bits"),
    [("rr", "r", 1), ("cc", "c", 4), ("rrr", "r", 1), ("rwr", "rw", 3), ("wrdc", "cdrw", 15)],
)
def test_repeated_role_letters_grant_no_more_than_the_letters(roles, perms, bits):
    # Regression: _kazoo_acls sums the letters' bits, so "rr" (read) was 2 (WRITE).
    grant = decide_one(roles=roles).granted[7]
    client_sasl, client_digest, _ = admin._kazoo_acls(clients.acls(grant, "pw"))

    assert grant.perms == perms
    assert client_sasl.perms == client_digest.perms == bits


# -- connection strings ----------------------------------------------------------------------


def test_endpoints_list_every_server_with_the_port():
    assert clients.endpoints(["zk-0.zk", "zk-1.zk", "zk-2.zk"], 2181) == (
        "zk-0.zk:2181,zk-1.zk:2181,zk-2.zk:2181"
    )


def test_uris_append_the_chroot_once_at_the_end():
    assert (
        clients.uris(["zk-0.zk", "zk-1.zk"], 2181, "/kafka") == "zk-0.zk:2181,zk-1.zk:2181/kafka"
    )


def test_a_single_server():
    assert clients.endpoints(["h"], 2182) == "h:2182"
    assert clients.uris(["h"], 2182, "/a/b") == "h:2182/a/b"


def test_an_open_chroot_is_refused_to_newcomers_but_never_revokes_a_grant():
    from clients import Request, decide

    requests = [Request(3, "old", "/public/app"), Request(9, "new", "/public/other")]
    decision = decide(requests, existing={3: "/public/app"}, reserved=["/public"])
    assert set(decision.granted) == {3}
    assert decision.rejected[9] == (
        "chroot /public/other overlaps /public, open to clients without credentials"
    )


@pytest.mark.parametrize("path", ["/zookeeper-k8s", "/zookeeper-k8s/policy"])
def test_open_chroots_cannot_open_the_charms_own_area(path):
    # Opened to clients without credentials, the policy znode would give away every password.
    assert clients.open_chroot_problems([path], {}) == [
        f"open-chroots: chroot {path} lies under /zookeeper-k8s, which the charm keeps for itself"
    ]
