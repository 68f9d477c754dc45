"""The `zookeeper` client relation, provider side, as Juju drives the charm (ops.testing).

The leader answers each client app in data_interfaces v0 terms (provider.py), sets up its
chroot and ACLs in ZooKeeper, and writes every client's user and chroot into the server
extension's policy znode (policy.py); no unit writes client users into any file. There is no
ZooKeeper here: `FakeZooKeeper` stands in for the kazoo shell (admin.session and the Admin it
yields) and for admin.refusing; it keeps a znode tree with ACLs and the policy text, so tests
see what ZooKeeper would end up with.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
from kazoo.exceptions import ConnectionLoss, NodeExistsError
from kazoo.security import ACL, OPEN_ACL_UNSAFE, Id
from ops import testing

import admin
import clients
import policy
from clients import Acl
from tests.unit import test_membership as membership
from tests.unit.conftest import internal_secret
from tests.unit.test_charm import context, make_state, member_line, peers, pod, restarts
from tests.unit.test_clients import PROBLEMS

KAFKA_SECRETS = ["username", "password", "tls", "tls-ca", "uris"]
# What Kafka's charm (data_interfaces v0 DatabaseRequires) writes on relation-created.
KAFKA = {"database": "/kafka", "chroot": "/kafka", "requested-secrets": json.dumps(KAFKA_SECRETS)}
VERSION = "3.9.4"
SERVING = json.dumps("serving")
PEER_ID = 1
OPEN = (Acl("world", "anyone", "cdrwa"),)  # what ZooKeeper gives / and /zookeeper
SUPER_ONLY = [Acl("sasl", "super", "cdrwa")]
FRESH = {"/": list(OPEN), "/zookeeper": list(OPEN)}


class FakeZooKeeper(membership.FakeZooKeeper):
    """Stands in for admin.session and the Admin it yields.

    The membership fake (committed ensemble, reconfig steps, sessions opened, `fail` as an
    unreachable ZooKeeper) plus a znode tree with each znode's ACL (as clients.Acl) and
    every chroot/ACL call the charm made.
    """

    def __init__(self, ordinals=(0, 1, 2)):
        super().__init__(ordinals)
        self.znodes: dict[str, list[Acl]] = {path: list(acls) for path, acls in FRESH.items()}
        self.calls: list[tuple] = []
        self.fail_on: set[str] = set()  # chroots whose ensure_chroot fails
        self.policy: str | None = None  # what the extension's policy znode holds
        self.quotas: dict[str, str] = {}  # path -> its quota's limits (StatsTrack text)
        # Servers that do not let a user in yet (admin.refusing): user -> hosts.
        self.refusing_users: dict[str, list[str]] = {}

    # -- the chroot and ACL operations of admin.Admin ----------------------------------------

    def ensure_chroot(self, path, acls, parent_acls):
        if path in self.fail_on:
            raise admin.AdminError(f"ConnectionLoss() creating {path}")
        self.calls.append(("ensure_chroot", path, list(acls), list(parent_acls)))
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            node = "/" + "/".join(parts[:depth])
            self.znodes.setdefault(node, list(acls if depth == len(parts) else parent_acls))
        self._set_tree(path, acls)

    def set_tree_acls(self, path, acls):
        self.calls.append(("set_tree_acls", path, list(acls)))
        self._set_tree(path, acls)

    def set_acls(self, path, acls):
        self.calls.append(("set_acls", path, list(acls)))
        assert path in self.znodes, f"ZooKeeper raises NoNodeError for {path}"
        self.znodes[path] = list(acls)

    def set_quota(self, path, limits):
        assert path in self.znodes, "ZooKeeper's quota needs the path to exist"
        self.quotas[path] = limits

    def quota_usage(self, path):
        # What ZooKeeper counts: the znodes of the tree (no data in this stand-in).
        return (len(self._tree(path)), 0) if path in self.quotas else None

    def write_policy(self, text):
        self.calls.append(("write_policy", text))
        self.policy = text

    def refusing(self, hosts, user, password, chroot, **kw):
        self.calls.append(("refusing", user, chroot))
        return list(self.refusing_users.get(user, []))

    def delete_tree(self, path):
        self.calls.append(("delete_tree", path))
        for node in self._tree(path):
            del self.znodes[node]

    # -- for the tests -----------------------------------------------------------------------

    def client_creates(self, path, acls=OPEN):
        """A client writes a znode (with the open ACL most clients pass)."""
        self.znodes[path] = list(acls)

    def _tree(self, path):
        return [node for node in self.znodes if node == path or node.startswith(path + "/")]

    def _set_tree(self, path, acls):
        for node in self._tree(path):
            self.znodes[node] = list(acls)


# -- states and what to read from them -------------------------------------------------------


def client(relation_id: int, data=KAFKA, app: str = "kafka", **kw) -> testing.Relation:
    """A client relation as the client app wrote it (its application databag)."""
    return testing.Relation(
        "zookeeper", id=relation_id, remote_app_name=app, remote_app_data=dict(data), **kw
    )


def zk_state(
    disk,
    *relations,
    leader=True,
    unit_id=0,
    planned=3,
    members=(0, 1, 2),
    records=None,
    secrets=(),
    config=None,
):
    """A running deployment whose leader published `members`; every planned unit serves."""
    secret = internal_secret()
    app_data = {
        "internal-secret-id": json.dumps(secret.id),
        "bootstrap-members": json.dumps([0, 1, 2]),
        "members": json.dumps([member_line(o).strip() for o in members]),
        "root-closed": "true",  # the leader's first serving hook did it
    }
    if records is not None:
        app_data["clients"] = json.dumps(records)
    state = make_state(
        disk,
        leader=leader,
        planned_units=planned,
        config=config,
        app_data=app_data,
        secrets=[secret, *secrets],
    )
    cluster = testing.PeerRelation(
        "cluster",
        id=PEER_ID,
        local_app_data=peers(state).local_app_data,
        local_unit_data={"state": SERVING},
        peers_data={o: {"state": SERVING} for o in range(planned) if o != unit_id},
    )
    return dataclasses.replace(state, relations={cluster, *relations})


def run(state, event="changed", relation_id=None, unit_id=0):
    """One hook on unit `unit_id`: relation-<event> of a client relation, or any other event."""
    ctx = context(unit_id)
    if relation_id is None:
        return ctx.run(getattr(ctx.on, event)(), state)
    relation = state.get_relation(relation_id)
    return ctx.run(getattr(ctx.on, f"relation_{event}")(relation), state)


def serve(disk, *relations, **kw):
    """The leader's relation-changed for the first of `relations`, with all of them present."""
    return run(zk_state(disk, *relations, **kw), relation_id=relations[0].id)


def with_relations(state, *relations):
    """`state` with these relations added, or replacing those with the same ID."""
    ids = {r.id for r in relations}
    return dataclasses.replace(
        state, relations={*(r for r in state.relations if r.id not in ids), *relations}
    )


def asking(state, relation_id, data):
    """The client of `relation_id` rewrote its databag."""
    relation = dataclasses.replace(state.get_relation(relation_id), remote_app_data=dict(data))
    return with_relations(state, relation)


def answer(state, relation_id) -> dict:
    return dict(state.get_relation(relation_id).local_app_data)


def labelled(state, label) -> list[testing.Secret]:
    return [s for s in state.secrets if s.label == label]


def user_secret(state, relation_id) -> testing.Secret | None:
    found = labelled(state, f"zookeeper.{relation_id}.user.secret")
    assert len(found) <= 1
    return found[0] if found else None


def tls_secret(state, relation_id) -> testing.Secret | None:
    found = labelled(state, f"zookeeper.{relation_id}.tls.secret")
    assert len(found) <= 1
    return found[0] if found else None


def client_secrets(state) -> list[testing.Secret]:
    return [s for s in state.secrets if (s.label or "").startswith("zookeeper.")]


def records(state) -> dict:
    raw = state.get_relation(PEER_ID).local_app_data.get("clients")
    return json.loads(raw) if raw else {}


def every_databag(state) -> str:
    bags = []
    for relation in state.relations:
        bags += [relation.local_app_data, relation.local_unit_data]
        if isinstance(relation, testing.PeerRelation):
            bags += list(relation.peers_data.values())
        else:
            bags += [relation.remote_app_data, *relation.remote_units_data.values()]
    return json.dumps([dict(bag) for bag in bags])


def databag_keys(state) -> set[str]:
    return {key for bag in json.loads(every_databag(state)) for key in bag}


def jaas(disk) -> str:
    return (disk / "conf/jaas.conf").read_text()


def endpoints(*ordinals) -> str:
    return ",".join(f"{pod(o)}:2181" for o in ordinals)


def acl_ids(acls) -> list[tuple[str, str]]:
    return [(acl.scheme, acl.id) for acl in acls]


def client_acls(relation_id, chroot, perms, password, app="kafka") -> list[Acl]:
    grant = clients.Grant(relation_id, app, chroot, perms)
    acls = clients.acls(grant, password)
    # Whatever the permissions: the client's user by SASL and by digest, and the super user.
    assert acl_ids(acls) == [
        ("sasl", f"relation-{relation_id}"),
        ("digest", clients.digest_id(f"relation-{relation_id}", password)),
        ("sasl", "super"),
    ]
    return acls


def password_of(state, relation_id) -> str:
    return user_secret(state, relation_id).latest_content["password"]


@dataclasses.dataclass
class Policy:
    """The policy text as the extension reads it (zookeeperk8s/Policy.java)."""

    users: dict[str, str]  # user -> password
    chroots: dict[str, tuple[str, list[str]]]  # chroot -> (perms, [scheme:id, ...])
    lines: list[str]


# The policy while /kafka is taken back: listed with no owner, closed to all but super.
KAFKA_CLOSING = "zookeeper-k8s policy 1\nchroot\t/kafka\t\n"


def parse_policy(text: str | None) -> Policy:
    assert text is not None, "the leader wrote no policy"
    assert text.endswith("\n")
    header, *lines = text[:-1].split("\n")
    assert header == "zookeeper-k8s policy 1"
    users, chroots = {}, {}
    for line in lines:
        kind, *fields = line.split("\t")
        if kind == "user":
            name, password = fields
            assert name not in users
            users[name] = password
        else:
            assert kind == "chroot", line
            path, perms, *ids = fields
            assert path not in chroots
            chroots[path] = (perms, ids)
    return Policy(users, chroots, lines)


def policy_line(relation_id, perms, password) -> tuple[str, list[str]]:
    """What the policy should say of one client's chroot: its perms, never `a`, and its
    user by SASL and by digest (never the super user, whom the servers' JAAS knows)."""
    user = f"relation-{relation_id}"
    return perms.replace("a", ""), [f"sasl:{user}", f"digest:{clients.digest_id(user, password)}"]


def written_digest(state) -> str | None:
    raw = state.get_relation(PEER_ID).local_app_data.get("policy-digest")
    return json.loads(raw) if raw else None


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- a client asks, the leader answers -------------------------------------------------------


def test_a_kafka_requirer_gets_its_answer_and_no_password_in_any_databag(disk, zookeeper):
    out = serve(disk, client(5))

    user, tls = user_secret(out, 5), tls_secret(out, 5)
    assert answer(out, 5) == {
        "endpoints": endpoints(0, 1, 2),
        "database": "/kafka",
        "chroot": "/kafka",
        "version": VERSION,
        "secret-user": user.id,
        "secret-tls": tls.id,
    }
    password = password_of(out, 5)
    assert password not in every_databag(out)
    assert not {"username", "password", "uris"} & databag_keys(out)
    assert out.unit_status == testing.ActiveStatus("leader, 3 members")


def test_the_user_secret_holds_the_credentials_and_is_granted_to_that_relation_only(
    disk, zookeeper
):
    other = {**KAFKA, "database": "/other", "chroot": "/other"}
    out = serve(disk, client(5), client(8, other, app="other"))

    user = user_secret(out, 5)
    assert user.owner == "app"
    assert set(user.latest_content) == {"username", "password", "uris"}
    assert user.latest_content["username"] == "relation-5"
    assert user.latest_content["uris"] == endpoints(0, 1, 2) + "/kafka"
    password = user.latest_content["password"]
    assert len(password) >= 32
    assert password.isalnum()
    assert user.remote_grants == {5: {"kafka"}}
    tls = tls_secret(out, 5)
    assert tls.owner == "app"
    assert tls.latest_content == {"tls": "disabled"}
    assert tls.remote_grants == {5: {"kafka"}}
    # The other app has credentials of its own, granted to it alone.
    assert user_secret(out, 8).remote_grants == {8: {"other"}}
    assert user_secret(out, 8).latest_content["username"] == "relation-8"
    assert password_of(out, 8) != password
    assert answer(out, 8)["secret-user"] == user_secret(out, 8).id


def test_the_leader_records_the_grant_for_every_unit(disk, zookeeper):
    out = serve(disk, client(5, {**KAFKA, "extra-user-roles": "cdr"}))

    assert records(out) == {
        "5": {
            "app": "kafka",
            "chroot": "/kafka",
            "perms": "cdr",
            "secret-id": user_secret(out, 5).id,
            "max-znodes": 100000,
            "max-bytes": 67108864,
        }
    }
    # The user goes to the servers through the policy znode, not through any unit's files.
    written = parse_policy(zookeeper.policy)
    assert written.users == {"relation-5": password_of(out, 5)}
    assert written.chroots == {"/kafka": policy_line(5, "cdr", password_of(out, 5))}
    assert written_digest(out) == digest(zookeeper.policy)
    assert "relation-5" not in jaas(disk)
    assert password_of(out, 5) not in jaas(disk)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"chroot": "/legacy"}, id="chroot-only"),
        pytest.param({"database": "/legacy"}, id="database-only"),
        pytest.param({"chroot": "/legacy", "requested-secrets": "not json"}, id="bad-json"),
        pytest.param({"chroot": "/legacy", "requested-secrets": '{"a": 1}'}, id="not-a-list"),
    ],
)
def test_a_requirer_that_asks_for_no_secrets_still_gets_credentials_only_in_a_secret(
    disk, zookeeper, data
):
    out = serve(disk, client(6, data, app="legacy"))

    user = user_secret(out, 6)
    assert answer(out, 6) == {
        "endpoints": endpoints(0, 1, 2),
        "database": "/legacy",
        "chroot": "/legacy",
        "version": VERSION,
        "tls": "disabled",
        "secret-user": user.id,
    }
    assert tls_secret(out, 6) is None
    assert user.latest_content["uris"] == endpoints(0, 1, 2) + "/legacy"
    assert user.remote_grants == {6: {"legacy"}}
    assert password_of(out, 6) not in every_databag(out)


@pytest.mark.parametrize("requested", [["tls"], ["tls-ca"], ["username", "tls-ca"]])
def test_asking_for_either_tls_field_moves_tls_into_a_secret(disk, zookeeper, requested):
    out = serve(disk, client(6, {"database": "/a", "requested-secrets": json.dumps(requested)}))

    assert "tls" not in answer(out, 6)
    assert answer(out, 6)["secret-tls"] == tls_secret(out, 6).id
    assert tls_secret(out, 6).latest_content == {"tls": "disabled"}


def without_root_closed(state):
    """The deployment before its leader ever reached a serving ensemble."""
    cluster = state.get_relation(PEER_ID)
    data = {k: v for k, v in cluster.local_app_data.items() if k != "root-closed"}
    return with_relations(state, dataclasses.replace(cluster, local_app_data=data))


def test_the_leaders_first_serving_hook_closes_the_root_before_any_client_exists(disk, zookeeper):
    """ZooKeeper creates / open to anyone: until the leader closes it, any client could
    create znodes there, with or without credentials."""
    out = run(without_root_closed(zk_state(disk)), event="update_status")
    assert zookeeper.calls == [("set_acls", "/", SUPER_ONLY)]
    assert json.loads(out.get_relation(PEER_ID).local_app_data["root-closed"]) is True

    zookeeper.calls.clear()
    run(out, event="update_status")
    assert zookeeper.calls == []  # once: the ACL stays with the znode


def test_an_unreachable_zookeeper_holds_the_root_closing_until_a_later_hook(disk, zookeeper):
    zookeeper.fail = True
    held = run(without_root_closed(zk_state(disk)), event="update_status")
    assert held.unit_status.name == "waiting"
    assert held.unit_status.message.startswith("closing the root znode waits for ZooKeeper")
    assert not json.loads(held.get_relation(PEER_ID).local_app_data.get("root-closed", "false"))

    zookeeper.fail = False  # the way out: any later hook, once ZooKeeper answers
    out = run(held, event="update_status")
    assert zookeeper.calls == [("set_acls", "/", SUPER_ONLY)]
    assert out.unit_status.name == "active"


def test_a_leader_whose_server_does_not_serve_yet_leaves_the_root_for_later(
    disk, zookeeper, admin_server
):
    admin_server.health = admin.NOT_RUNNING
    out = run(without_root_closed(zk_state(disk)), event="update_status")
    assert zookeeper.sessions == 0
    assert not json.loads(out.get_relation(PEER_ID).local_app_data.get("root-closed", "false"))


def test_zookeeper_gets_the_chroot_with_the_clients_acls_after_the_root_is_locked(disk, zookeeper):
    out = serve(disk, client(5))

    acls = client_acls(5, "/kafka", "cdrwa", password_of(out, 5))
    # The policy first (the extension closes the chroot from its first znode), then the root
    # and the chroot, and only then the question whether every server lets the user in.
    assert zookeeper.calls == [
        ("write_policy", zookeeper.policy),
        ("set_acls", "/", SUPER_ONLY),
        ("ensure_chroot", "/kafka", acls, SUPER_ONLY),
        ("refusing", "relation-5", "/kafka"),
    ]
    assert zookeeper.znodes == {"/": SUPER_ONLY, "/zookeeper": list(OPEN), "/kafka": acls}
    assert zookeeper.sessions == 1


def test_a_nested_chroots_parents_are_closed_to_all_but_the_super_user(disk, zookeeper):
    out = serve(disk, client(5, {"database": "/apps/kafka"}))

    acls = client_acls(5, "/apps/kafka", "cdrwa", password_of(out, 5))
    assert zookeeper.znodes["/apps"] == SUPER_ONLY
    assert zookeeper.znodes["/apps/kafka"] == acls


def test_a_chroot_already_holding_data_gets_the_clients_acls_all_the_way_down(disk, zookeeper):
    zookeeper.client_creates("/kafka")
    zookeeper.client_creates("/kafka/brokers")
    zookeeper.client_creates("/kafka/brokers/ids")
    out = serve(disk, client(5))

    acls = client_acls(5, "/kafka", "cdrwa", password_of(out, 5))
    for node in ("/kafka", "/kafka/brokers", "/kafka/brokers/ids"):
        assert zookeeper.znodes[node] == acls


@pytest.mark.parametrize(
    ("data", "perms"),
    [
        pytest.param({**KAFKA, "extra-user-roles": "r"}, "r", id="extra-user-roles-r"),
        pytest.param({**KAFKA, "extra-user-roles": "cdr"}, "cdr", id="extra-user-roles-cdr"),
        pytest.param({"chroot": "/kafka", "chroot-acl": "rw"}, "rw", id="legacy-chroot-acl"),
        pytest.param(
            {**KAFKA, "extra-user-roles": "r", "chroot-acl": "cdrw"}, "r", id="new-key-wins"
        ),
    ],
)
def test_the_clients_permissions_are_the_roles_it_asked_for(disk, zookeeper, data, perms):
    out = serve(disk, client(5, data))

    acls = client_acls(5, "/kafka", perms, password_of(out, 5))
    assert zookeeper.znodes["/kafka"] == acls
    assert acls[0].perms == acls[1].perms == perms
    assert records(out)["5"]["perms"] == perms


# -- bad requests ----------------------------------------------------------------------------

BAD = {
    **{chroot: ({"database": chroot}, problem) for chroot, problem in PROBLEMS.items()},
    "roles": (
        {**KAFKA, "extra-user-roles": "admin"},
        "extra-user-roles 'admin': use ACL permission letters from cdrwa "
        "(c create, d delete, r read, w write, a admin)",
    ),
    "legacy-roles": (
        {"chroot": "/kafka", "chroot-acl": "all"},
        "extra-user-roles 'all': use ACL permission letters from cdrwa "
        "(c create, d delete, r read, w write, a admin)",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_request_is_refused_and_the_leader_says_why(disk, zookeeper, case):
    data, problem = BAD[case]
    out = serve(disk, client(7, data))

    assert out.unit_status == testing.BlockedStatus(f"relation 7 (kafka): {problem}")
    assert answer(out, 7) == {}
    assert client_secrets(out) == []
    assert records(out) == {}
    assert zookeeper.calls == []
    assert zookeeper.sessions == 0
    assert zookeeper.znodes == FRESH
    assert zookeeper.policy is None  # nothing granted, nothing ever written: no policy write
    assert written_digest(out) is None


def test_a_bad_request_does_not_hold_up_the_others(disk, zookeeper):
    out = serve(disk, client(7, {"database": "/"}), client(8, {"database": "/b"}, app="b"))

    assert out.unit_status == testing.BlockedStatus(f"relation 7 (kafka): {PROBLEMS['/']}")
    assert answer(out, 7) == {}
    assert answer(out, 8)["secret-user"] == user_secret(out, 8).id
    assert set(records(out)) == {"8"}


def test_fixing_a_bad_request_serves_it_and_unblocks(disk, zookeeper):
    blocked = serve(disk, client(7, {"database": "kafka"}))
    out = run(asking(blocked, 7, {"database": "/kafka"}), relation_id=7)

    assert out.unit_status == testing.ActiveStatus("leader, 3 members")
    assert answer(out, 7)["database"] == "/kafka"
    assert user_secret(out, 7).remote_grants == {7: {"kafka"}}


def test_overlapping_chroots_serve_the_first_and_refuse_the_second(disk, zookeeper):
    out = serve(disk, client(4), client(6, {"database": "/kafka/sub"}, app="other"))

    assert out.unit_status == testing.BlockedStatus(
        "relation 6 (other): chroot /kafka/sub overlaps /kafka of relation 4 (kafka)"
    )
    assert answer(out, 4)["secret-user"] == user_secret(out, 4).id
    assert answer(out, 6) == {}
    assert user_secret(out, 6) is None
    assert set(records(out)) == {"4"}
    assert [call[1] for call in zookeeper.calls if call[0] == "ensure_chroot"] == ["/kafka"]


def test_an_established_client_keeps_its_chroot_against_a_newcomer(disk, zookeeper):
    first = serve(disk, client(9))
    before = user_secret(first, 9)
    calls = len(zookeeper.calls)
    out = run(with_relations(first, client(2, app="newcomer")), relation_id=2)

    assert out.unit_status == testing.BlockedStatus(
        "relation 2 (newcomer): chroot /kafka overlaps /kafka of relation 9 (kafka)"
    )
    assert answer(out, 2) == {}
    assert answer(out, 9) == answer(first, 9)
    assert user_secret(out, 9) == before
    assert zookeeper.calls[calls:] == []


def test_a_refused_client_is_served_once_the_holder_leaves(disk, zookeeper):
    first = serve(disk, client(4), client(6, app="other"))
    assert answer(first, 6) == {}
    sessions = zookeeper.sessions
    out = run(first, "broken", relation_id=4)

    assert out.unit_status == testing.ActiveStatus("leader, 3 members")
    assert answer(out, 6)["database"] == "/kafka"
    assert set(records(out)) == {"6"}
    assert zookeeper.znodes["/kafka"] == client_acls(
        6, "/kafka", "cdrwa", password_of(out, 6), app="other"
    )
    assert zookeeper.sessions - sessions == 1


# -- the policy znode and the servers' acceptance ---------------------------------------------


def test_a_client_is_told_nothing_while_a_server_refuses_its_user(disk, zookeeper):
    zookeeper.refusing_users = {"relation-5": [pod(2)]}
    held = serve(disk, client(5))

    waiting = testing.WaitingStatus("relations 5: waiting for every server to accept their users")
    assert held.unit_status == waiting
    assert "secret-user" not in answer(held, 5)
    assert answer(held, 5) == {}
    user = user_secret(held, 5)
    assert user.remote_grants == {}
    assert tls_secret(held, 5) is None
    # Everything else is ready: the policy names the user, the chroot is made and recorded.
    assert parse_policy(zookeeper.policy).users == {"relation-5": password_of(held, 5)}
    assert zookeeper.znodes["/kafka"] == client_acls(5, "/kafka", "cdrwa", password_of(held, 5))
    assert records(held)["5"]["secret-id"] == user.id

    still = run(held, "update_status")  # the server has not caught up yet
    assert still.unit_status == waiting
    assert answer(still, 5) == {}
    assert user_secret(still, 5).remote_grants == {}

    zookeeper.refusing_users = {}
    calls = len(zookeeper.calls)
    out = run(still, "update_status")

    assert out.unit_status == testing.ActiveStatus("leader, 3 members")
    assert answer(out, 5)["secret-user"] == user.id
    assert answer(out, 5)["database"] == "/kafka"
    assert user_secret(out, 5).remote_grants == {5: {"kafka"}}
    assert tls_secret(out, 5).remote_grants == {5: {"kafka"}}
    assert password_of(out, 5) == password_of(held, 5)
    assert len(labelled(out, "zookeeper.5.user.secret")) == 1
    # Only the question was asked again: no new chroot, no new policy.
    assert zookeeper.calls[calls:] == [("refusing", "relation-5", "/kafka")]


def test_a_client_a_server_refuses_does_not_hold_up_the_others(disk, zookeeper):
    zookeeper.refusing_users = {"relation-5": [pod(1), pod(2)]}
    out = serve(disk, client(5), client(8, {"database": "/other"}, app="other"))

    assert out.unit_status == testing.WaitingStatus(
        "relations 5: waiting for every server to accept their users"
    )
    assert answer(out, 5) == {}
    assert answer(out, 8)["secret-user"] == user_secret(out, 8).id
    assert user_secret(out, 8).remote_grants == {8: {"other"}}


def test_a_told_client_is_not_asked_about_again(disk, zookeeper):
    first = serve(disk, client(5))
    # Even if a server stopped letting it in (restarted, catching up), the client already
    # has its credentials: nothing is taken back and nothing waits.
    zookeeper.refusing_users = {"relation-5": [pod(2)]}
    calls = len(zookeeper.calls)
    out = run(first, "update_status")

    assert zookeeper.calls[calls:] == []
    assert answer(out, 5) == answer(first, 5)
    assert out.unit_status == testing.ActiveStatus("leader, 3 members")


def test_the_policy_names_each_clients_user_and_chroot_and_never_the_super_user(disk, zookeeper):
    out = serve(
        disk,
        client(5, {**KAFKA, "extra-user-roles": "cdr"}),
        client(8, {"database": "/apps/other"}, app="other"),
        client(11, {"database": "/legacy", "chroot-acl": "ra"}, app="legacy"),
    )

    text = zookeeper.policy
    kafka, other, legacy = password_of(out, 5), password_of(out, 8), password_of(out, 11)
    assert text.split("\n") == [
        "zookeeper-k8s policy 1",
        f"user\trelation-11\t{legacy}",
        f"user\trelation-5\t{kafka}",
        f"user\trelation-8\t{other}",
        "chroot\t/apps/other\tcdrw\tsasl:relation-8\t"
        f"digest:{clients.digest_id('relation-8', other)}",
        f"chroot\t/kafka\tcdr\tsasl:relation-5\tdigest:{clients.digest_id('relation-5', kafka)}",
        f"chroot\t/legacy\tr\tsasl:relation-11\tdigest:{clients.digest_id('relation-11', legacy)}",
        "",
    ]
    written = parse_policy(text)
    # The password the servers accept is the one in the client's secret.
    assert written.users == {"relation-5": kafka, "relation-8": other, "relation-11": legacy}
    assert written.chroots == {
        "/kafka": policy_line(5, "cdr", kafka),
        "/apps/other": policy_line(8, "cdrwa", other),
        "/legacy": policy_line(11, "r", legacy),
    }
    # The super user is the servers' own (JAAS): never in the policy, nor its password.
    assert "super" not in written.users
    assert not [line for line in written.lines if "super" in line.split("\t")[1:]]
    assert all("sasl:super" not in ids for _, ids in written.chroots.values())
    assert "superpw" not in text
    assert written_digest(out) == digest(text)
    assert [c[0] for c in zookeeper.calls].count("write_policy") == 1


@pytest.mark.parametrize("event", ["update_status", "config_changed", "changed"])
def test_a_hook_with_nothing_new_writes_no_policy_and_opens_no_session(disk, zookeeper, event):
    first = serve(disk, client(5), client(8, {"database": "/other"}, app="other"))
    written, sessions, calls = zookeeper.policy, zookeeper.sessions, len(zookeeper.calls)
    out = run(first, event, relation_id=5 if event == "changed" else None)

    assert zookeeper.sessions == sessions
    assert zookeeper.calls[calls:] == []
    assert zookeeper.policy == written
    assert written_digest(out) == written_digest(first) == digest(written)
    assert records(out) == records(first)


def test_the_policy_left_when_the_last_client_leaves_is_written_once_more_then_left(
    disk, zookeeper
):
    first = serve(disk, client(5))
    out = run(first, "broken", relation_id=5)
    assert zookeeper.policy == KAFKA_CLOSING
    # Juju forgets the relation once relation-broken is over (Scenario keeps it).
    gone = dataclasses.replace(out, relations=out.relations - {out.get_relation(5)})

    # The next hook drops the taken-back chroot (its ACLs are the super user's by now)...
    again = run(gone, "update_status")
    assert zookeeper.policy == "zookeeper-k8s policy 1\n"
    assert written_digest(again) == digest("zookeeper-k8s policy 1\n")
    # ...and from then on an idle hook writes nothing and opens no session.
    sessions, calls = zookeeper.sessions, len(zookeeper.calls)
    run(again, "update_status")
    assert zookeeper.calls[calls:] == []
    assert zookeeper.sessions == sessions


@pytest.mark.parametrize(
    "chroot", ["/zookeeper-k8s", "/zookeeper-k8s/policy", "/zookeeper-k8s/x/y"]
)
def test_a_chroot_in_the_charms_own_area_is_refused(disk, zookeeper, chroot):
    first = serve(disk, client(5))
    written, calls = zookeeper.policy, len(zookeeper.calls)
    out = run(with_relations(first, client(7, {"database": chroot}, app="sneaky")), relation_id=7)

    assert out.unit_status == testing.BlockedStatus(
        f"relation 7 (sneaky): chroot {chroot} lies under /zookeeper-k8s, "
        "which the charm keeps for itself"
    )
    assert answer(out, 7) == {}
    assert user_secret(out, 7) is None
    assert set(records(out)) == {"5"}
    assert zookeeper.policy == written
    assert zookeeper.calls[calls:] == []
    assert chroot not in zookeeper.znodes


def test_a_client_relation_rolls_no_server(disk, zookeeper):
    # Client users live in the policy znode: a client coming or going restarts nothing, on
    # any unit (before the extension, every server's JAAS changed and the ensemble rolled).
    steady = run(zk_state(disk), "update_status")
    disk.age()
    before = disk.files()

    ctx = context(0)
    joined = with_relations(steady, client(5))
    served = ctx.run(ctx.on.relation_changed(joined.get_relation(5)), joined)
    assert answer(served, 5)["secret-user"] == user_secret(served, 5).id
    ctx_broken = context(0)
    gone = ctx_broken.run(ctx_broken.on.relation_broken(served.get_relation(5)), served)

    for out, run_by in ((served, ctx), (gone, ctx_broken)):
        cluster, was = out.get_relation(PEER_ID), steady.get_relation(PEER_ID)
        assert cluster.local_unit_data == was.local_unit_data  # running/pending config too
        assert json.loads(cluster.local_unit_data["pending-config"]) is None
        assert cluster.peers_data == was.peers_data
        assert json.loads(cluster.local_app_data["restart-grant"]) is None
        assert out.get_container("zookeeper").plan == steady.get_container("zookeeper").plan
        assert restarts(run_by) == []
        assert disk.files() == before
        assert out.unit_status == testing.ActiveStatus("leader, 3 members")


# -- relation-broken -------------------------------------------------------------------------


def test_relation_broken_locks_the_chroot_and_forgets_the_client(disk, zookeeper):
    first = serve(disk, client(5))
    zookeeper.client_creates("/kafka/brokers")
    user, tls = user_secret(first, 5), tls_secret(first, 5)
    assert "relation-5" in parse_policy(zookeeper.policy).users
    calls = len(zookeeper.calls)
    out = run(first, "broken", relation_id=5)

    # In the same hook, the user leaves the policy (every server refuses it from then on)
    # and its chroot stays listed with no owner while it is locked: no session but super's
    # can create anything there that the lock would walk past.
    assert zookeeper.calls[calls:] == [
        ("write_policy", KAFKA_CLOSING),
        ("set_tree_acls", "/kafka", SUPER_ONLY),
    ]
    assert parse_policy(zookeeper.policy) == Policy({}, {"/kafka": ("", [])}, ["chroot\t/kafka\t"])
    assert written_digest(out) == digest(zookeeper.policy)
    assert zookeeper.znodes["/kafka"] == SUPER_ONLY
    assert zookeeper.znodes["/kafka/brokers"] == SUPER_ONLY
    assert not [c for c in zookeeper.calls if c[0] == "delete_tree"]
    assert {s.id for s in out.secrets}.isdisjoint({user.id, tls.id})
    assert client_secrets(out) == []
    assert records(out) == {}
    assert "user_super=" in jaas(disk)


def test_relation_broken_deletes_the_chroot_when_configured_to(disk, zookeeper):
    first = serve(disk, client(5), config={"delete-client-data": True})
    zookeeper.client_creates("/kafka/brokers")
    out = run(first, "broken", relation_id=5)

    assert zookeeper.calls[-2:] == [("write_policy", KAFKA_CLOSING), ("delete_tree", "/kafka")]
    assert zookeeper.znodes == {"/": SUPER_ONLY, "/zookeeper": list(OPEN)}
    assert client_secrets(out) == []
    assert records(out) == {}
    assert parse_policy(zookeeper.policy).users == {}


def test_relation_broken_leaves_the_other_clients_alone(disk, zookeeper):
    first = serve(disk, client(5), client(8, {"database": "/other"}, app="other"))
    other = user_secret(first, 8)
    out = run(first, "broken", relation_id=5)

    assert user_secret(out, 8) == other
    assert set(records(out)) == {"8"}
    assert zookeeper.znodes["/other"] == client_acls(
        8, "/other", "cdrwa", password_of(first, 8), app="other"
    )
    written = parse_policy(zookeeper.policy)
    assert written.users == {"relation-8": password_of(first, 8)}
    assert written.chroots == {
        "/other": policy_line(8, "cdrwa", password_of(first, 8)),
        "/kafka": ("", []),  # taken back: no owner
    }
    assert answer(out, 8) == answer(first, 8)


def test_a_client_that_turns_its_request_bad_loses_its_grant(disk, zookeeper):
    first = serve(disk, client(5))
    out = run(asking(first, 5, {"database": "/zookeeper"}), relation_id=5)

    assert out.unit_status == testing.BlockedStatus(
        f"relation 5 (kafka): {PROBLEMS['/zookeeper']}"
    )
    assert zookeeper.znodes["/kafka"] == SUPER_ONLY
    assert client_secrets(out) == []
    assert records(out) == {}
    assert parse_policy(zookeeper.policy).users == {}
    assert parse_policy(zookeeper.policy).chroots == {"/kafka": ("", [])}


# -- non-leaders -----------------------------------------------------------------------------


def granted_secret(relation_id, password, app="kafka"):
    """A user secret as the leader left it: app-owned, granted to the client's relation."""
    return testing.Secret(
        {
            "username": f"relation-{relation_id}",
            "password": password,
            "uris": endpoints(0, 1, 2) + f"/{app}",
        },
        owner="app",
        label=f"zookeeper.{relation_id}.user.secret",
        remote_grants={relation_id: {app}},
    )


def test_a_non_leader_leaves_the_relation_alone_and_writes_no_client_users(
    disk, zookeeper, admin_server
):
    admin_server.health = admin.Health(serving=True, mode="follower", voters=3, version=VERSION)
    kafka, other = granted_secret(5, "kafkapw"), granted_secret(8, "otherpw", app="other")
    state = zk_state(
        disk,
        client(5),
        client(8, {"database": "/other"}, app="other"),
        client(9, {"database": "/new"}, app="new"),  # not granted yet: the leader will
        leader=False,
        unit_id=1,
        records={
            "5": {"app": "kafka", "chroot": "/kafka", "perms": "cdrwa", "secret-id": kafka.id},
            "8": {"app": "other", "chroot": "/other", "perms": "r", "secret-id": other.id},
        },
        secrets=[kafka, other],
    )
    out = run(state, relation_id=9, unit_id=1)

    assert set(out.secrets) == set(state.secrets)
    for relation_id in (5, 8, 9):
        assert answer(out, relation_id) == {}
    assert out.get_relation(PEER_ID).local_app_data == state.get_relation(PEER_ID).local_app_data
    assert zookeeper.sessions == 0
    assert zookeeper.calls == []  # no policy write, no login attempt: that is the leader's
    assert zookeeper.policy is None
    # Client users reach the servers only through the leader's policy znode: no unit's
    # files hold them.
    for path, (data, _, _) in disk.files().items():
        for needle in (b"kafkapw", b"otherpw", b"relation-5", b"relation-8", b"relation-9"):
            assert needle not in data, (path, needle)
    assert 'user_super="superpw"' in jaas(disk)


def test_a_non_leader_keeps_its_files_and_settings_as_clients_come_and_go(
    disk, zookeeper, admin_server
):
    # Before the extension, every unit wrote the client users into its JAAS file, and a
    # user whose secret was gone had to be dropped. Now no unit reads client secrets at all.
    admin_server.health = admin.Health(serving=True, mode="follower", voters=3, version=VERSION)
    first = run(zk_state(disk, leader=False, unit_id=1), "update_status", unit_id=1)
    kafka = granted_secret(5, "kafkapw")
    cluster = first.get_relation(PEER_ID)
    clients_now = {
        "5": {"app": "kafka", "chroot": "/kafka", "perms": "cdrwa", "secret-id": kafka.id},
        "8": {"app": "gone", "chroot": "/gone", "perms": "cdrwa", "secret-id": "secret:x"},
    }
    cluster = dataclasses.replace(
        cluster,
        local_app_data={
            **cluster.local_app_data,
            "clients": json.dumps(clients_now),
            "policy-digest": json.dumps("0" * 64),
        },
    )
    state = with_relations(dataclasses.replace(first, secrets={*first.secrets, kafka}), cluster)
    disk.age()
    before = disk.files()
    out = run(state, relation_id=PEER_ID, unit_id=1)

    assert out.unit_status == first.unit_status == testing.ActiveStatus("follower, 3 members")
    assert disk.files() == before
    assert out.get_relation(PEER_ID).local_unit_data == cluster.local_unit_data
    assert out.get_container("zookeeper").plan == first.get_container("zookeeper").plan
    assert zookeeper.sessions == 0
    assert zookeeper.calls == []


# -- the ensemble changes --------------------------------------------------------------------


def test_endpoints_and_uris_follow_a_scale_from_three_to_five(disk, zookeeper):
    first = serve(disk, client(5))
    before = user_secret(first, 5)
    calls, sessions = len(zookeeper.calls), zookeeper.sessions
    cluster = dataclasses.replace(
        first.get_relation(PEER_ID), peers_data={o: {"state": SERVING} for o in (1, 2, 3, 4)}
    )
    # The last new unit joins: Juju's relation-joined on the leader (relation-list shows a
    # unit from then on).
    ctx = context(0)
    out = ctx.run(
        ctx.on.relation_joined(cluster, remote_unit=4),
        with_relations(dataclasses.replace(first, planned_units=5), cluster),
    )

    assert sorted(zookeeper.config.ids) == [1, 2, 3, 4, 5]
    assert answer(out, 5)["endpoints"] == endpoints(0, 1, 2, 3, 4)
    after = user_secret(out, 5)
    assert after.id == before.id
    assert after.latest_content == {
        **before.latest_content,
        "uris": endpoints(0, 1, 2, 3, 4) + "/kafka",
    }
    assert answer(out, 5)["secret-user"] == before.id
    assert zookeeper.calls[calls:] == []  # the chroot and its ACLs stay as they are
    assert zookeeper.sessions - sessions == 1  # the reconfig's session served the clients too


def test_endpoints_follow_the_published_ensemble(disk, zookeeper):
    first = serve(disk, client(5))
    cluster = first.get_relation(PEER_ID)
    members = json.dumps([member_line(o).strip() for o in range(5)])
    cluster = dataclasses.replace(
        cluster,
        local_app_data={**cluster.local_app_data, "members": members},
        peers_data={o: {"state": SERVING} for o in (1, 2, 3, 4)},
    )
    state = with_relations(dataclasses.replace(first, planned_units=5), cluster)
    out = run(state, "config_changed")

    assert answer(out, 5)["endpoints"] == endpoints(0, 1, 2, 3, 4)
    assert user_secret(out, 5).latest_content["uris"] == endpoints(0, 1, 2, 3, 4) + "/kafka"


# -- one session, and only when there is work ------------------------------------------------


def test_an_unchanged_request_changes_nothing_and_opens_no_session(disk, zookeeper):
    first = serve(disk, client(5))
    calls, sessions = len(zookeeper.calls), zookeeper.sessions
    out = run(first, relation_id=5)

    assert answer(out, 5) == answer(first, 5)
    assert user_secret(out, 5) == user_secret(first, 5)
    assert user_secret(out, 5).latest_content == user_secret(first, 5).latest_content
    assert set(out.secrets) == set(first.secrets)
    assert records(out) == records(first)
    assert zookeeper.calls[calls:] == []
    assert zookeeper.sessions == sessions


def test_several_new_clients_share_one_session(disk, zookeeper):
    serve(
        disk,
        client(4, {"database": "/a"}, app="a"),
        client(5, {"database": "/b"}, app="b"),
        client(6, {"database": "/c"}, app="c"),
    )

    assert zookeeper.sessions == 1
    ensured = [call[1] for call in zookeeper.calls if call[0] == "ensure_chroot"]
    assert sorted(ensured) == ["/a", "/b", "/c"]


def test_a_leaving_and_a_new_client_share_one_session(disk, zookeeper):
    first = serve(disk, client(4, {"database": "/a"}, app="a"))
    sessions = zookeeper.sessions
    state = with_relations(first, client(5, {"database": "/b"}, app="b"))
    out = run(state, "broken", relation_id=4)

    assert zookeeper.sessions - sessions == 1
    assert set(records(out)) == {"5"}
    assert zookeeper.znodes["/a"] == SUPER_ONLY


# -- ZooKeeper unreachable -------------------------------------------------------------------


def test_an_unreachable_zookeeper_keeps_the_hook_green_and_the_client_waiting(disk, zookeeper):
    zookeeper.fail = True
    out = serve(disk, client(5))

    assert out.unit_status.name == "waiting"
    assert out.unit_status.message.startswith("clients wait for ZooKeeper:")
    assert answer(out, 5) == {}
    assert records(out) == {}


def test_after_zookeeper_comes_back_the_client_gets_one_user_secret(disk, zookeeper):
    # Regression: the secret was added before the session opened, and the next hook added a
    # second one with the same label (real Juju: "secret with label ... already exists").
    # The secret is made before the session on purpose (its password goes into the policy),
    # but the failed hook shares it with nobody and the next one finds it by its label.
    zookeeper.fail = True
    failed = serve(disk, client(5))
    (unshared,) = client_secrets(failed)
    assert unshared.label == "zookeeper.5.user.secret"
    assert unshared.remote_grants == {}
    assert answer(failed, 5) == {}
    assert records(failed) == {}
    assert zookeeper.policy is None
    zookeeper.fail = False
    out = run(failed, relation_id=5)

    assert len(labelled(out, "zookeeper.5.user.secret")) == 1
    assert user_secret(out, 5).id == unshared.id
    assert password_of(out, 5) == unshared.latest_content["password"]
    assert user_secret(out, 5).remote_grants == {5: {"kafka"}}
    assert answer(out, 5)["secret-user"] == user_secret(out, 5).id
    assert records(out)["5"]["secret-id"] == user_secret(out, 5).id
    assert parse_policy(zookeeper.policy).users == {"relation-5": password_of(out, 5)}


def test_a_failure_part_way_through_leaves_no_second_secret_behind(disk, zookeeper):
    zookeeper.fail_on = {"/b"}
    state = zk_state(disk, client(4, {"database": "/a"}, app="a"), client(5, {"database": "/b"}))
    failed = run(state, relation_id=4)
    assert failed.unit_status.name == "waiting"
    zookeeper.fail_on = set()
    out = run(failed, relation_id=4)

    assert len(labelled(out, "zookeeper.4.user.secret")) == 1
    assert answer(out, 4)["secret-user"] == user_secret(out, 4).id
    assert records(out)["4"]["secret-id"] == user_secret(out, 4).id


# -- the real admin.Admin over a fake kazoo client --------------------------------------------

REAL_SESSION = admin.session  # conftest swaps it for a tripwire while each test runs


class FakeKazoo:
    """kazoo's KazooClient as admin.Admin drives it: znodes with kazoo ACLs and data.

    `broken` names a method that raises ConnectionLoss, as a dropped connection does; with
    `broken_at`, only on that path.
    """

    def __init__(self):
        self.nodes = {"/": list(OPEN_ACL_UNSAFE), "/zookeeper": list(OPEN_ACL_UNSAFE)}
        self.data: dict[str, bytes] = {"/": b"", "/zookeeper": b""}
        self.broken: str | None = None
        self.broken_at: str | None = None
        self.logins: list[str] = []
        self.closed = 0

    def retry(self, func, *args, **kwargs):
        return func(*args, **kwargs)

    def _check(self, method, path=None):
        if self.broken == method and self.broken_at in (None, path):
            raise ConnectionLoss()

    def create(self, path, value=b"", acl=None):
        self._check("create", path)
        if path in self.nodes:
            raise NodeExistsError()
        self.nodes[path] = list(acl)
        self.data[path] = value

    def get(self, path):
        self._check("get", path)
        return self.data[path], object()

    def set(self, path, value):
        self._check("set", path)
        assert path in self.nodes
        self.data[path] = value

    def exists(self, path):
        self._check("exists")
        return object() if path in self.nodes else None

    def get_children(self, path):
        prefix = path.rstrip("/") + "/"
        return [
            n[len(prefix) :]
            for n in self.nodes
            if n.startswith(prefix) and "/" not in n[len(prefix) :]
        ]

    def set_acls(self, path, acls):
        self._check("set_acls")
        self.nodes[path] = list(acls)

    def delete(self, path, recursive=False):
        for node in [n for n in self.nodes if n == path or n.startswith(path + "/")]:
            del self.nodes[node]
            self.data.pop(node, None)

    def stop(self):
        pass

    def close(self):
        self.closed += 1


@pytest.fixture
def kazoo(monkeypatch, admin_server):
    """The charm's own admin.session and admin.Admin, over FakeKazoo."""
    admin_server.health = admin.Health(serving=True, mode="leader", voters=3, version=VERSION)
    fake = FakeKazoo()

    def started_client(hosts, password, timeout):
        fake.logins.append(password)
        return fake

    monkeypatch.setattr(admin, "session", REAL_SESSION)
    monkeypatch.setattr(admin, "_started_client", started_client)
    # Every server lets each client in at once (admin.refusing logs in as the client itself).
    monkeypatch.setattr(admin, "refusing", lambda hosts, user, password, chroot, **kw: [])
    return fake


def test_zookeeper_gets_the_clients_permission_bits_and_a_closed_root(disk, kazoo):
    out = serve(disk, client(5, {**KAFKA, "extra-user-roles": "cdr"}))

    password = password_of(out, 5)
    assert kazoo.logins == ["superpw"]
    assert kazoo.closed == 1
    assert kazoo.nodes["/"] == [ACL(31, Id("sasl", "super"))]
    assert kazoo.nodes["/kafka"] == [
        ACL(13, Id("sasl", "relation-5")),
        ACL(13, Id("digest", clients.digest_id("relation-5", password))),
        ACL(31, Id("sasl", "super")),
    ]
    # The policy znode and its parent: closed to all but the super user (it holds passwords).
    assert (
        kazoo.nodes["/zookeeper-k8s"]
        == kazoo.nodes["/zookeeper-k8s/policy"]
        == [ACL(31, Id("sasl", "super"))]
    )
    written = parse_policy(kazoo.data["/zookeeper-k8s/policy"].decode())
    assert written.users == {"relation-5": password}
    assert written.chroots == {"/kafka": policy_line(5, "cdr", password)}
    assert written_digest(out) == digest(kazoo.data["/zookeeper-k8s/policy"].decode())
    assert answer(out, 5)["secret-user"] == user_secret(out, 5).id


def test_the_policy_znode_is_rewritten_in_place_when_a_client_leaves(disk, kazoo):
    first = serve(disk, client(5), client(8, {"database": "/other"}, app="other"))
    run(first, "broken", relation_id=5)

    written = parse_policy(kazoo.data[policy.ZNODE].decode())
    assert written.users == {"relation-8": password_of(first, 8)}
    assert written.chroots["/kafka"] == ("", [])  # taken back: no owner
    assert set(written.chroots) == {"/other", "/kafka"}
    assert kazoo.nodes[policy.ZNODE] == [ACL(31, Id("sasl", "super"))]
    assert kazoo.nodes["/kafka"] == [ACL(31, Id("sasl", "super"))]


def test_relation_broken_closes_the_chroot_through_kazoo(disk, kazoo):
    first = serve(disk, client(5))
    kazoo.nodes["/kafka/brokers"] = []
    run(first, "broken", relation_id=5)

    assert kazoo.nodes["/kafka"] == kazoo.nodes["/kafka/brokers"] == [ACL(31, Id("sasl", "super"))]


@pytest.mark.parametrize(
    "where",
    [pytest.param(policy.ROOT, id="writing-the-policy"), pytest.param("/kafka", id="chroot")],
)
def test_a_connection_lost_mid_grant_keeps_the_hook_green(disk, kazoo, where):
    kazoo.broken, kazoo.broken_at = "create", where
    out = serve(disk, client(5))

    assert out.unit_status.name == "waiting"
    assert out.unit_status.message.startswith("clients wait for ZooKeeper:")
    assert answer(out, 5) == {}
    # The user secret may exist (its password went into the policy) but nobody has it.
    assert [s.remote_grants for s in client_secrets(out)] == [{}]
    assert records(out) == {}
    assert written_digest(out) is None


# -- a client moves -----------------------------------------------------------------------


def test_a_chroot_given_up_in_a_bad_request_can_go_to_another_client_at_once(disk, zookeeper):
    # Regression: the rejected client's chroot was closed after the newcomer got it.
    first = serve(disk, client(4))
    state = with_relations(asking(first, 4, {"database": "kafka"}), client(6, app="other"))
    out = run(state, relation_id=6)

    assert set(records(out)) == {"6"}
    assert zookeeper.znodes["/kafka"] == client_acls(
        6, "/kafka", "cdrwa", password_of(out, 6), app="other"
    )


def test_a_client_that_moves_to_another_chroot_loses_the_old_one(disk, zookeeper):
    # Regression: the old chroot kept the client's ACLs.
    first = serve(disk, client(5))
    zookeeper.client_creates("/kafka/brokers")
    out = run(asking(first, 5, {"database": "/kafka-v2"}), relation_id=5)

    assert answer(out, 5)["database"] == "/kafka-v2"
    assert answer(out, 5)["chroot"] == "/kafka-v2"
    assert user_secret(out, 5).latest_content["uris"] == endpoints(0, 1, 2) + "/kafka-v2"
    assert user_secret(out, 5).id == user_secret(first, 5).id
    assert zookeeper.znodes["/kafka-v2"] == client_acls(
        5, "/kafka-v2", "cdrwa", password_of(out, 5)
    )
    assert zookeeper.znodes["/kafka"] == zookeeper.znodes["/kafka/brokers"] == SUPER_ONLY
