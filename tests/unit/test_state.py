"""Peer data and secret contents keep the format the pydantic models wrote, key for key.

The expected strings were produced by the pydantic models these classes replaced (ops'
`Relation.save` of a model: `model_dump(mode="json", by_alias=True)`, each value through
`json.dumps`). A unit of either kind must read what the other wrote: during an upgrade or a
rollback, units of both revisions share the peer relation and the secret.
"""

import json

import ops
import pytest
from ops import testing

from state import (
    ClientRecord,
    ClusterAppData,
    ClusterUnitData,
    InternalSecret,
    MemberState,
    RotationPhase,
    TLSPhase,
)

APP_DEFAULT = {
    "bootstrap-members": "null",
    "clients": "{}",
    "internal-secret-id": "null",
    "members": "null",
    "open-chroots-made": "[]",
    "policy-digest": "null",
    "quorum-generation": "0",
    "restart-generation": "0",
    "restart-grant": "null",
    "root-closed": "false",
    "tls": '"off"',
    "tls-cas": "[]",
    "tls-trusted": "[]",
    "secret-generation": "null",
    "tls-related": "false",
    "rotation": "null",
    "upgrade-from-revision": "null",
    "upgrade-partition": "null",
    "k8s-applied": "null",
    "k8s-forbidden": "null",
    "external-hosts": "{}",
    "external-ports": "{}",
    "app-status": "null",
    "settled": "false",
    "data-dir": "null",
    "restore": "null",
    "restore-problem": "null",
    "backup-last": "null",
    "backup-error": "null",
}
APP_FULL = {
    "bootstrap-members": "[0, 1, 2]",
    "clients": '{"7": {"app": "kafka", "chroot": "/kafka", "perms": "cdrwa", "secret-id": '
    '"secret:u7"}, "3": {"app": "app2", "chroot": "/x", "perms": "r", "secret-id": '
    '"secret:u3"}}',
    "internal-secret-id": '"secret:abc"',
    "members": '["server.0=a:2888:3888:participant;0.0.0.0:2181", "server.1=b"]',
    "open-chroots-made": '["/public"]',
    "policy-digest": '"' + "ab" * 32 + '"',
    "quorum-generation": "2",
    "restart-generation": "3",
    "restart-grant": "1",
    "root-closed": "true",
    "tls": '"quorum"',
    "tls-cas": '["CA1", "CA2"]',
    "tls-trusted": '["f1"]',
    "secret-generation": '"4"',
    "tls-related": "true",
    "rotation": '"switch-learners"',
    "upgrade-from-revision": '"zk-abc"',
    "upgrade-partition": "2",
    "k8s-applied": '"f1"',
    "k8s-forbidden": '"f2"',
    "external-hosts": '{"0": "10.0.0.1", "1": "10.0.0.2"}',
    "external-ports": '{"2181": 30001}',
    "app-status": '"active: 3 voting members, 1 client app"',
    "settled": "true",
    "data-dir": "null",
    "restore": "null",
    "restore-problem": "null",
    "backup-last": "null",
    "backup-error": "null",
}
UNIT_DEFAULT = {
    "failed-config": "null",
    "mode": "null",
    "pending-config": "null",
    "restarted-at": "null",
    "restarting": "null",
    "restarting-tls": "null",
    "running-config": "null",
    "running-jaas": "null",
    "running-tls": "null",
    "state": '"waiting"',
    "tls-ca": "null",
    "tls-revoked": "false",
    "tls-ca-next": "null",
    "tls-trusts": "[]",
    "external-sans": "[]",
    "client-sessions": "{}",
    "restore-ready": "null",
    "restore-error": "null",
}
UNIT_FULL = {
    "failed-config": '"c0"',
    "mode": '"follower"',
    "pending-config": '"c2"',
    "restarted-at": "1700000000.25",
    "restarting": '"c2"',
    "running-config": '"c1"',
    "running-jaas": '"j1"',
    "state": '"started"',
    "running-tls": '"unified"',
    "restarting-tls": '"quorum"',
    "tls-ca": '"CA1"',
    "tls-revoked": "true",
    "tls-ca-next": '"CA2"',
    "tls-trusts": '["f1", "f2"]',
    "external-sans": '["10.0.0.1"]',
    "client-sessions": '{"/kafka": 2}',
    "restore-ready": "null",
    "restore-error": "null",
}

FULL = ClusterAppData(
    internal_secret_id="secret:abc",
    bootstrap_members=[0, 1, 2],
    members=["server.0=a:2888:3888:participant;0.0.0.0:2181", "server.1=b"],
    restart_grant=1,
    restart_generation=3,
    quorum_generation=2,
    rotation=RotationPhase.SWITCH,
    upgrade_from_revision="zk-abc",
    upgrade_partition=2,
    clients={
        7: ClientRecord(app="kafka", chroot="/kafka", perms="cdrwa", secret_id="secret:u7"),
        3: ClientRecord(app="app2", chroot="/x", perms="r", secret_id="secret:u3"),
    },
    policy_digest="ab" * 32,
    open_chroots_made=["/public"],
    root_closed=True,
    tls=TLSPhase.QUORUM,
    tls_cas=["CA1", "CA2"],
    tls_trusted=["f1"],
    secret_generation="4",
    tls_related=True,
    k8s_applied="f1",
    k8s_forbidden="f2",
    external_hosts={0: "10.0.0.1", 1: "10.0.0.2"},
    external_ports={2181: 30001},
    app_status="active: 3 voting members, 1 client app",
    settled=True,
)
UNIT = ClusterUnitData(
    state=MemberState.STARTED,
    mode="follower",
    running_config="c1",
    running_jaas="j1",
    pending_config="c2",
    failed_config="c0",
    restarting="c2",
    restarted_at=1700000000.25,
    running_tls=TLSPhase.UNIFIED,
    restarting_tls=TLSPhase.QUORUM,
    tls_ca="CA1",
    tls_revoked=True,
    tls_ca_next="CA2",
    tls_trusts=["f1", "f2"],
    external_sans=["10.0.0.1"],
    client_sessions={"/kafka": 2},
)


@pytest.mark.parametrize(
    ("model", "databag"),
    [
        (ClusterAppData(), APP_DEFAULT),
        (FULL, APP_FULL),
        (ClusterUnitData(), UNIT_DEFAULT),
        (UNIT, UNIT_FULL),
    ],
    ids=["app-default", "app-full", "unit-default", "unit-full"],
)
def test_peer_data_is_written_as_the_pydantic_models_wrote_it(model, databag):
    assert model.databag() == databag


def test_a_restart_time_read_back_as_a_whole_number_is_written_as_a_float():
    # JSON reads 1700000000.0 back as 1700000000.0, but a writer may have sent the int.
    me = ClusterUnitData(restarted_at=1700000000)
    assert me.databag()["restarted-at"] == "1700000000.0"
    assert isinstance(me.restarted_at, float)


class _Reader(ops.CharmBase):
    """Reads and writes peer data the way the charm's shells do."""

    read: dict

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        framework.observe(self.on.update_status, self._read)

    def _read(self, _):
        peers = self.model.get_relation("cluster")
        cluster = peers.load(ClusterAppData, self.app)
        me = peers.load(ClusterUnitData, self.unit)
        _Reader.read = {"cluster": cluster, "me": me}
        peers.data[self.app].update(cluster.databag())
        peers.data[self.unit].update(me.databag())


@pytest.mark.parametrize(("app", "unit"), [(APP_FULL, UNIT_FULL), (APP_DEFAULT, UNIT_DEFAULT)])
def test_what_pydantic_wrote_reads_back_through_ops_and_is_written_unchanged(app, unit):
    ctx = testing.Context(_Reader, meta={"name": "zk", "peers": {"cluster": {"interface": "z"}}})
    relation = testing.PeerRelation("cluster", local_app_data=app, local_unit_data=unit)
    out = ctx.run(ctx.on.update_status(), testing.State(leader=True, relations={relation}))

    written = out.get_relation(relation.id)
    assert dict(written.local_app_data) == app
    assert {k: v for k, v in written.local_unit_data.items() if k in unit} == unit
    if app is APP_FULL:
        assert _Reader.read == {"cluster": FULL, "me": UNIT}
        assert _Reader.read["cluster"].rotation is RotationPhase.SWITCH
        assert list(_Reader.read["cluster"].clients) == [7, 3]
        assert _Reader.read["me"].state is MemberState.STARTED


def test_keys_absent_from_peer_data_read_as_the_defaults():
    ctx = testing.Context(_Reader, meta={"name": "zk", "peers": {"cluster": {"interface": "z"}}})
    relation = testing.PeerRelation("cluster", local_app_data={"restart-grant": "2"})
    ctx.run(ctx.on.update_status(), testing.State(leader=True, relations={relation}))
    assert _Reader.read == {"cluster": ClusterAppData(restart_grant=2), "me": ClusterUnitData()}


def test_each_instance_has_its_own_empty_clients_and_chroots():
    first, second = ClusterAppData(), ClusterAppData()
    first.clients[1] = FULL.clients[7]
    first.open_chroots_made.append("/a")
    assert second.clients == {}
    assert second.open_chroots_made == []


def test_model_copy_changes_only_the_given_fields_and_reads_enums_from_their_values():
    copy = FULL.model_copy(update={"rotation": "accept-new", "restart_grant": None})
    assert copy.rotation is RotationPhase.ACCEPT
    assert copy.restart_grant is None
    assert copy.clients == FULL.clients
    assert FULL.rotation is RotationPhase.SWITCH
    assert FULL.model_copy() == FULL


def test_models_cannot_be_changed_in_place():
    with pytest.raises(AttributeError):
        FULL.restart_grant = 2  # type: ignore[misc]


def test_an_unknown_member_state_is_refused():
    with pytest.raises(ValueError, match="nonsense"):
        ClusterUnitData(state="nonsense")  # type: ignore[arg-type]


SECRET_MIN = {"super-password": "s", "sync-password": "q"}
SECRET_FULL = {
    "super-password": "s",
    "sync-password": "q",
    "super-password-previous": "p",
    "sync-password-next": "n",
    "sync-user": "sync3",
}


def test_secret_content_leaves_out_what_is_not_set():
    assert InternalSecret(super_password="s", sync_password="q").content() == SECRET_MIN


@pytest.mark.parametrize("content", [SECRET_MIN, SECRET_FULL], ids=["min", "full"])
def test_secret_content_reads_back_unchanged(content):
    assert InternalSecret.model_validate(content).content() == content


def test_secret_content_by_field_name_is_read_and_unknown_keys_ignored():
    secret = InternalSecret.model_validate(
        {"super_password": "s", "sync-password": "q", "other": "x"}
    )
    assert secret == InternalSecret(super_password="s", sync_password="q")


@pytest.mark.parametrize("missing", ["super-password", "sync-password"])
def test_secret_content_without_a_password_is_refused_naming_the_key(missing):
    content = {k: v for k, v in SECRET_FULL.items() if k != missing}
    with pytest.raises(ValueError, match=f"InternalSecret: missing {missing}$"):
        InternalSecret.model_validate(content)


def test_a_client_record_missing_a_key_is_refused():
    with pytest.raises(ValueError, match="ClientRecord: missing secret-id"):
        ClusterAppData(clients={"1": {"app": "a", "chroot": "/a", "perms": "r"}})  # type: ignore[dict-item]


def test_generated_passwords_are_long_letters_and_digits():
    secret = InternalSecret.generate()
    assert secret.super_password != secret.sync_password
    assert all(len(p) == 32 and p.isalnum() for p in (secret.super_password, secret.sync_password))
    assert json.dumps(secret.content())
