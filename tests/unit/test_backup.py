"""Backups and restores: the snapshot reader, the decisions, and the three actions and the
schedule as state tests (ops.testing) against moto's in-process S3.

There is no ZooKeeper in unit tests: the admin server's snapshot command (admin.snapshot,
the thin HTTP shell) hands out a snapshot file written as FileSnap writes one (jute.py),
like AdminServer stands in for its probe. S3 is moto's, whose S3 is the API boto3 speaks;
unreachable endpoints are real ones nothing answers at.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json

import boto3
import ops
import pytest
from moto import mock_aws
from ops import testing

import admin
import backup
import zksnap
from state import INTERNAL_SECRET_LABEL, InternalSecret
from tests.unit import jute
from tests.unit.conftest import container

BUCKET = "zk-backups"
TREE = [
    jute.N("/app", b"hello", ((31, "sasl", "relation-1"),), czxid=5, mzxid=6, pzxid=7),
    jute.N("/app/a", b"1", ((1, "world", "anyone"), (31, "sasl", "super")), czxid=8, mzxid=8),
    jute.N("/ephemeral", b"", owner=0x1000, czxid=9, mzxid=9),
    jute.N("/zookeeper/config", b"server.1=...", czxid=2, mzxid=2),
    jute.N("/zookeeper/quota/app/zookeeper_stats", b"count=2,bytes=6", czxid=3, mzxid=3),
    jute.N("/zookeeper/quota/app/zookeeper_limits", b"count=10,bytes=-1", czxid=3, mzxid=3),
]


# -- the snapshot reader --------------------------------------------------------------------


def test_a_snapshot_reads_back_with_its_nodes_acls_and_last_zxid():
    parsed = zksnap.parse(io.BytesIO(jute.snapshot(TREE, last_zxid=0x1234)))
    assert parsed.zxid == 0x1234
    assert parsed.sessions == 1
    assert parsed.nodes["/app"].data == b"hello"
    assert parsed.nodes["/app"].acl == ((31, "sasl", "relation-1"),)
    assert parsed.nodes["/app/a"].acl == ((1, "world", "anyone"), (31, "sasl", "super"))
    assert parsed.nodes["/"].acl == zksnap.OPEN_ACL
    # Ephemeral nodes, ZooKeeper's own config and a quota's usage count (recounted when a
    # server loads the snapshot) are not what a restore is checked on; the quota is.
    assert {n.path for n in parsed.compared} == {
        "/",
        "/zookeeper",
        "/app",
        "/app/a",
        "/zookeeper/quota/app/zookeeper_limits",
    }
    assert parsed.ephemeral == 1


def test_the_digest_covers_data_and_acls_and_nothing_else():
    base = zksnap.parse(io.BytesIO(jute.snapshot(TREE))).digest
    other_data = [dataclasses.replace(TREE[0], data=b"HELLO"), *TREE[1:]]
    other_acl = [dataclasses.replace(TREE[0], acl=((1, "world", "anyone"),)), *TREE[1:]]
    other_stat = [dataclasses.replace(TREE[0], mzxid=99), *TREE[1:]]
    for changed in (other_data, other_acl):
        assert zksnap.parse(io.BytesIO(jute.snapshot(changed))).digest != base
    assert zksnap.parse(io.BytesIO(jute.snapshot(other_stat))).digest == base


def test_a_gzip_snapshot_reads_like_a_plain_one():
    raw = jute.snapshot(TREE)
    plain = zksnap.parse(io.BytesIO(raw))
    assert zksnap.parse(io.BytesIO(gzip.compress(raw))).digest == plain.digest


def test_without_the_last_zxid_section_the_newest_zxid_in_the_tree_is_taken():
    parsed = zksnap.parse(io.BytesIO(jute.snapshot(TREE, last_zxid=None, digest=False)))
    assert parsed.zxid == 9


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda raw: raw[: len(raw) // 2], "truncated"),
        (lambda raw: raw[:60] + bytes([raw[60] ^ 1]) + raw[61:], "checksum|ACL|truncated"),
        (lambda raw: b"NOPE" + raw[4:], "not a ZooKeeper snapshot"),
    ],
    ids=["truncated", "flipped-bit", "not-a-snapshot"],
)
def test_a_damaged_snapshot_is_refused(damage, message):
    with pytest.raises(zksnap.SnapshotError, match=message):
        zksnap.parse(io.BytesIO(damage(jute.snapshot(TREE))))


# -- the decisions --------------------------------------------------------------------------


def test_retention_keeps_the_newest_and_zero_keeps_all():
    ids = ["20260101-000000", "20260103-000000", "20260102-000000"]
    assert backup.expired(ids, 2) == ["20260101-000000"]
    assert backup.expired(ids, 3) == []
    assert backup.expired(ids, 0) == []


def test_a_backup_is_due_after_its_hours_and_never_without_a_schedule():
    assert backup.due(None, 6, 1000.0)
    assert not backup.due(1000.0, 6, 1000.0 + 6 * 3600 - 1)
    assert backup.due(1000.0, 6, 1000.0 + 6 * 3600)
    assert not backup.due(None, 0, 1000.0)


def test_overdue_says_why_or_how_late():
    hour = 3600
    assert backup.overdue(0.0, 1, hour + backup.OVERDUE_AFTER - 1, None) is None
    late = backup.overdue(0.0, 1, 3 * hour, None)
    assert late is not None
    assert "3.0 hours ago" in late
    assert "wrong keys" in backup.overdue(0.0, 1, 10.0, "wrong keys")
    assert backup.overdue(0.0, 0, 10 * hour, "x") is None


def nodes(tree) -> dict[str, zksnap.Node]:
    return zksnap.parse(io.BytesIO(jute.snapshot(tree))).nodes


def test_a_tree_equal_to_its_snapshot_has_no_differences():
    expected = zksnap.parse(io.BytesIO(jute.snapshot(TREE)))
    assert backup.differences(expected, nodes(TREE), 0x100) == []


def test_differences_name_each_node_and_skip_what_was_written_since():
    expected = zksnap.parse(io.BytesIO(jute.snapshot(TREE)))
    restored_at = 0x100
    live = nodes(
        [
            dataclasses.replace(TREE[0], data=b"other"),
            dataclasses.replace(TREE[1], acl=((31, "world", "anyone"),)),
            *TREE[2:],
            jute.N("/stray", czxid=3, mzxid=3),
            # Written since the restore: a new node and a changed one are not differences.
            jute.N("/new", czxid=restored_at + 1, mzxid=restored_at + 1),
        ]
    )
    assert backup.differences(expected, live, restored_at) == [
        "/app data differs",
        "/app/a ACL differs",
        "/stray not in the backup",
    ]
    gone = {p: n for p, n in nodes(TREE).items() if p != "/app/a"}
    assert backup.differences(expected, gone, restored_at) == ["/app/a missing"]
    # Deleted since the restore: its parent's pzxid says its children changed since.
    gone["/app"] = dataclasses.replace(gone["/app"], pzxid=restored_at + 5)
    assert backup.differences(expected, gone, restored_at) == []


# -- the actions, as Juju runs them ---------------------------------------------------------


@pytest.fixture
def s3(monkeypatch):
    """moto's S3 in this process, with the bucket; boto3 sees only fake credentials."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def snapshots(monkeypatch):
    """The admin server's snapshot command: what it sends, and the passwords it was asked
    with."""
    sent = {"file": jute.snapshot(TREE, last_zxid=0x200), "asked": []}

    def snapshot(host, passwords, out, port=8080, timeout=60.0):
        sent["asked"].append(list(passwords))
        out.write(sent["file"])
        return 0x180

    monkeypatch.setattr(admin, "snapshot", snapshot)
    return sent


def provider(**overrides) -> dict[str, str]:
    data = {
        "bucket": BUCKET,
        "endpoint": "",
        "region": "us-east-1",
        "path": "zk",
        "access-key": "AKIAEXAMPLE",
        "secret-key": "secret-example",
    }
    return {k: v for k, v in {**data, **overrides}.items() if v is not None}


def s3_relation(**overrides) -> testing.Relation:
    return testing.Relation(
        "s3-credentials", remote_app_name="s3-integrator", remote_app_data=provider(**overrides)
    )


def the_secret() -> testing.Secret:
    return testing.Secret(
        InternalSecret(super_password="superpw", sync_password="syncpw").content(),
        owner="app",
        label=INTERNAL_SECRET_LABEL,
    )


def serving(disk, *, leader=True, relations=(), app_data=None, config=None, unit=None):
    """A one-unit ensemble that serves: the leader's (or a unit's) view."""
    secret = the_secret()
    data = {
        "internal-secret-id": json.dumps(secret.id),
        "bootstrap-members": "[0]",
        "members": json.dumps(
            [
                "server.1=zookeeper-k8s-0.zookeeper-k8s-endpoints.m.svc.cluster.local"
                ":2888:3888:participant;0.0.0.0:2181"
            ]
        ),
        "root-closed": "true",
        **(app_data or {}),
    }
    unit_data = {"state": '"serving"', **(unit or {})}
    return testing.State(
        leader=leader,
        planned_units=1,
        config=config or {},
        model=testing.Model(name="m"),
        relations=[
            testing.PeerRelation("cluster", local_app_data=data, local_unit_data=unit_data),
            *relations,
        ],
        containers=[container(disk.root, running=True)],
        secrets=[secret],
    )


def started(ctx, state):
    """The state after a first hook: the server's layer in the plan, as a running unit has."""
    out = ctx.run(ctx.on.config_changed(), state)
    return dataclasses.replace(out, unit_status=testing.UnknownStatus())


def run_action(ctx, state, name, **params):
    return ctx.run(ctx.on.action(name, params=params), started(ctx, state))


def failure(ctx, state, name, **params) -> str:
    with pytest.raises(testing.ActionFailed) as failed:
        run_action(ctx, state, name, **params)
    return failed.value.message


def keys(client) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def put_backup(client, backup_id: str, raw: bytes | None = None) -> dict:
    raw = raw or jute.snapshot(TREE, last_zxid=0x200)
    parsed = zksnap.parse(io.BytesIO(raw))
    import hashlib

    record = backup.manifest(
        parsed,
        backup_id,
        0.0,
        0x180,
        "3.9.4",
        "unknown",
        len(raw),
        hashlib.sha256(raw).hexdigest(),
    )
    client.put_object(Bucket=BUCKET, Key=f"zk/{backup_id}/snapshot", Body=raw)
    client.put_object(Bucket=BUCKET, Key=f"zk/{backup_id}/manifest.json", Body=json.dumps(record))
    return record


def test_create_backup_streams_the_snapshot_and_a_manifest_made_from_it(ctx, disk, s3, snapshots):
    state = serving(disk, relations=[s3_relation()])
    out = run_action(ctx, state, "create-backup")
    results = ctx.action_results
    backup_id = results["backup-id"]
    assert keys(s3) == [f"zk/{backup_id}/manifest.json", f"zk/{backup_id}/snapshot"]
    manifest = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"zk/{backup_id}/manifest.json")["Body"].read()
    )
    parsed = zksnap.parse(io.BytesIO(snapshots["file"]))
    assert manifest["zxid"] == "0x200"  # from the file, not the admin server's header
    assert manifest["complete-through"] == "0x180"
    assert manifest["digest"] == parsed.digest
    assert manifest["znodes"] == 5
    assert manifest["zookeeper-version"]
    assert results["znodes"] == "5"
    # Asked with the super password (the backup identity's digest is of it).
    assert snapshots["asked"] == [["superpw"]]
    app = out.get_relations("cluster")[0].local_app_data
    assert json.loads(app["backup-last"]) > 0
    # The leader asks the provider for a bucket, as the s3 interface's requirers do.
    s3_out = next(r for r in out.relations if r.endpoint == "s3-credentials")
    assert s3_out.local_app_data["bucket"] == "zookeeper-k8s"


def test_the_server_is_started_with_the_backup_identity(ctx, disk):
    out = ctx.run(ctx.on.config_changed(), serving(disk))
    command = out.get_container("zookeeper").plan.services["zookeeper"].command
    assert (
        f"-Dzookeeper.DigestAuthenticationProvider.superDigest={admin.super_digest('superpw')}"
        in command
    )
    assert "superpw" not in command


def test_retention_deletes_the_oldest_backups_after_a_new_one(ctx, disk, s3, snapshots):
    for backup_id in ("20200101-000000", "20200102-000000", "20200103-000000"):
        put_backup(s3, backup_id)
    state = serving(disk, relations=[s3_relation()], config={"backup-retention": 2})
    run_action(ctx, state, "create-backup")
    new = ctx.action_results["backup-id"]
    assert ctx.action_results["deleted"] == "20200101-000000, 20200102-000000"
    assert {k.split("/")[1] for k in keys(s3)} == {"20200103-000000", new}


def test_list_backups_shows_each_manifest(ctx, disk, s3):
    record = put_backup(s3, "20200101-000000")
    s3.put_object(Bucket=BUCKET, Key="zk/20200102-000000/snapshot", Body=b"unfinished")
    run_action(ctx, serving(disk, leader=False, relations=[s3_relation()]), "list-backups")
    listed = ctx.action_results["backups"]
    assert list(listed) == ["20200101-000000"]  # one without a manifest did not finish
    assert listed["20200101-000000"]["digest"] == record["digest"]


def test_list_backups_with_none(ctx, disk, s3):
    run_action(ctx, serving(disk, relations=[s3_relation()]), "list-backups")
    assert ctx.action_results == {"backups": "none"}


@pytest.mark.parametrize("action", ["create-backup", "list-backups"])
def test_without_the_relation_the_actions_say_how_to_relate(ctx, disk, action):
    assert "juju integrate" in failure(ctx, serving(disk), action)


def test_an_incomplete_relation_says_what_the_provider_has_not_given(ctx, disk, s3):
    state = serving(disk, relations=[s3_relation(**{"secret-key": None, "access-key": None})])
    assert "waiting for the provider's access-key, secret-key" in failure(
        ctx, state, "create-backup"
    )


def test_wrong_keys_fail_the_backup_naming_the_fix(ctx, disk, s3, snapshots, monkeypatch):
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    # moto checks keys against its IAM from here on; the keys given are not there.
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)
    state = serving(disk, relations=[s3_relation()])
    message = failure(ctx, state, "create-backup")
    assert "refused the access key" in message
    assert "secret-example" not in message
    assert snapshots["asked"] == []  # ZooKeeper was not asked for a snapshot


def test_a_missing_bucket_fails_the_backup(ctx, disk, s3, snapshots):
    state = serving(disk, relations=[s3_relation(bucket="nope")])
    assert "bucket nope does not exist" in failure(ctx, state, "create-backup")


@pytest.mark.parametrize("action", ["create-backup", "list-backups"])
def test_an_unreachable_endpoint_fails_the_action(ctx, disk, snapshots, action):
    # .invalid never resolves (RFC 2606): nothing answers, and nothing is asked of anyone.
    state = serving(disk, relations=[s3_relation(endpoint="http://s3.invalid:9000")])
    assert "unreachable" in failure(ctx, state, action)


def test_create_backup_on_a_non_leader_says_where_to_run_it(ctx, disk, s3, snapshots):
    state = serving(disk, leader=False, relations=[s3_relation()])
    assert "run this on the leader" in failure(ctx, state, "create-backup")
    assert keys(s3) == []


def test_create_backup_while_the_server_does_not_serve_fails(
    ctx, disk, s3, snapshots, admin_server
):
    admin_server.health = admin.Health(serving=False)
    state = serving(disk, relations=[s3_relation()])
    assert "not serving" in failure(ctx, state, "create-backup")
    assert keys(s3) == []


def test_a_rate_limited_snapshot_fails_saying_when_to_retry(ctx, disk, s3, monkeypatch):
    def limited(*args, **kwargs):
        raise admin.SnapshotRefused("ZooKeeper takes one snapshot per 5 minutes: retry later")

    monkeypatch.setattr(admin, "snapshot", limited)
    state = serving(disk, relations=[s3_relation()])
    assert "retry later" in failure(ctx, state, "create-backup")
    assert keys(s3) == []


# -- the schedule ---------------------------------------------------------------------------


def test_update_status_takes_a_due_backup(ctx, disk, s3, snapshots):
    state = serving(disk, relations=[s3_relation()], config={"backup-schedule-hours": 6})
    before = started(ctx, state)
    # Settled too: the update-status that looks at its own unit only takes it as well.
    assert json.loads(before.get_relations("cluster")[0].local_app_data["settled"]) is True
    out = ctx.run(ctx.on.update_status(), before)
    assert len([k for k in keys(s3) if k.endswith("manifest.json")]) == 1
    app = out.get_relations("cluster")[0].local_app_data
    assert json.loads(app["backup-last"]) > 0
    assert isinstance(out.unit_status, testing.ActiveStatus)


def test_update_status_takes_none_before_it_is_due_or_without_a_schedule(ctx, disk, s3, snapshots):
    import time

    recent = {"backup-last": json.dumps(time.time() - 60)}
    for config, app_data in (({"backup-schedule-hours": 6}, recent), ({}, {})):
        state = serving(disk, relations=[s3_relation()], config=config, app_data=app_data)
        ctx.run(ctx.on.update_status(), started(ctx, state))
    assert keys(s3) == []
    assert snapshots["asked"] == []


def test_other_hooks_never_take_a_scheduled_backup(ctx, disk, s3, snapshots):
    state = serving(disk, relations=[s3_relation()], config={"backup-schedule-hours": 6})
    ctx.run(ctx.on.config_changed(), state)
    assert snapshots["asked"] == []


def test_a_failed_scheduled_backup_blocks_the_leader_with_the_reason(ctx, disk, snapshots):
    state = serving(
        disk,
        relations=[s3_relation(endpoint="http://s3.invalid:9000")],
        config={"backup-schedule-hours": 6},
    )
    out = ctx.run(ctx.on.update_status(), started(ctx, state))
    assert isinstance(out.unit_status, testing.BlockedStatus)
    assert "scheduled backup failed" in out.unit_status.message
    assert "unreachable" in out.unit_status.message


def test_an_overdue_backup_shows_in_the_status(ctx, disk, s3, snapshots):
    app_data = {"backup-last": json.dumps(1000.0)}
    state = serving(
        disk, relations=[s3_relation()], config={"backup-schedule-hours": 1}, app_data=app_data
    )
    out = ctx.run(ctx.on.config_changed(), state)  # not update-status: nothing is taken
    assert isinstance(out.unit_status, testing.BlockedStatus)
    assert "scheduled backup overdue" in out.unit_status.message


# -- restore --------------------------------------------------------------------------------


def test_restore_places_the_snapshot_in_a_new_directory_and_stops_the_server(ctx, disk, s3):
    record = put_backup(s3, "20200101-000000")
    (disk / "data/version-2").mkdir(parents=True)
    (disk / "data/version-2/currentEpoch").write_text("7")
    (disk / "data/version-2/acceptedEpoch").write_text("7")
    state = serving(disk, relations=[s3_relation()])
    out = run_action(ctx, state, "restore", **{"backup-id": "20200101-000000"})
    assert ctx.action_results["restoring"] == "20200101-000000"
    assert ctx.action_results["previous-data"] == "data"
    app = out.get_relations("cluster")[0].local_app_data
    plan = json.loads(app["restore"])
    assert plan["backup"] == "20200101-000000"
    placed = disk / plan["data-dir"] / "version-2"
    assert (placed / f"snapshot.{int(record['zxid'], 16):x}").read_bytes() == jute.snapshot(
        TREE, last_zxid=0x200
    )
    assert (placed / "currentEpoch").read_text() == "7"
    # A one-unit ensemble: every unit is ready, so the leader moved it to the new directory.
    assert plan["phase"] == "start"
    assert json.loads(app["data-dir"]) == plan["data-dir"]
    zoo_cfg = (disk / "conf/zoo.cfg").read_text()
    assert f"dataDir=/var/lib/zookeeper/{plan['data-dir']}" in zoo_cfg
    # The previous data is where it was.
    assert (disk / "data/version-2/currentEpoch").read_text() == "7"
    assert out.get_container("zookeeper").service_statuses["zookeeper"] is not None


@pytest.mark.parametrize("backup_id", ["", "latest", "2020-01-01", "20200101-000000; rm"])
def test_restore_refuses_a_malformed_backup_id(ctx, disk, s3, backup_id):
    state = serving(disk, relations=[s3_relation()])
    assert "backup-id must be" in failure(ctx, state, "restore", **{"backup-id": backup_id})


def test_restore_refuses_a_backup_not_in_the_bucket(ctx, disk, s3):
    state = serving(disk, relations=[s3_relation()])
    assert "no backup 20200101-000000" in failure(
        ctx, state, "restore", **{"backup-id": "20200101-000000"}
    )


REFUSALS = {
    "non-leader": ({}, {}, "run this on the leader"),
    "roll": ({"restart-grant": "0"}, {}, "rolling restart"),
    "pending-restart": ({}, {"pending-config": '"c2"'}, "rolling restart"),
    "upgrade": ({"upgrade-partition": "1"}, {}, "upgrade is under way"),
    "restore": (
        {"restore": json.dumps({"id": "x", "backup": "20200101-000000", "data-dir": "d"})},
        {},
        "is under way",
    ),
    "not-serving": ({}, {"state": '"started"'}, "do not serve"),
}


def with_peer_data(state, app=None, unit=None, leader=True):
    peers = state.get_relations("cluster")[0]
    peers = dataclasses.replace(
        peers,
        local_app_data={**peers.local_app_data, **(app or {})},
        local_unit_data={**peers.local_unit_data, **(unit or {})},
    )
    others = [r for r in state.relations if r.id != peers.id]
    return dataclasses.replace(state, relations={peers, *others}, leader=leader)


@pytest.mark.parametrize("case", REFUSALS)
def test_restore_is_refused_unless_safe_and_changes_nothing(ctx, disk, s3, case):
    put_backup(s3, "20200101-000000")
    app, unit, message = REFUSALS[case]
    state = started(ctx, serving(disk, relations=[s3_relation()]))
    state = with_peer_data(state, app, unit, leader=case != "non-leader")
    before = state.get_relations("cluster")[0].local_app_data
    with pytest.raises(testing.ActionFailed) as failed:
        ctx.run(ctx.on.action("restore", params={"backup-id": "20200101-000000"}), state)
    assert message in failed.value.message
    assert not any(p.name.startswith("data-restored") for p in disk.root.iterdir())
    after = failed.value.state.get_relations("cluster")[0].local_app_data
    assert after == before


def test_restore_is_refused_when_a_member_does_not_answer(ctx, disk, s3, monkeypatch):
    put_backup(s3, "20200101-000000")
    monkeypatch.setattr(admin, "server_stats", lambda host, port=2181, **kw: {})
    state = serving(disk, relations=[s3_relation()])
    assert "do not serve" in failure(ctx, state, "restore", **{"backup-id": "20200101-000000"})


def test_a_unit_that_cannot_fetch_the_backup_calls_the_restore_off(ctx, disk, s3):
    put_backup(s3, "20200101-000000")
    state = serving(disk, relations=[s3_relation()])
    s3.delete_object(Bucket=BUCKET, Key="zk/20200101-000000/snapshot")
    # The manifest is there (the action checks it), the snapshot is not: the unit's fetch
    # fails, and the leader calls the restore off with nothing changed.
    out = run_action(ctx, state, "restore", **{"backup-id": "20200101-000000"})
    app = out.get_relations("cluster")[0].local_app_data
    assert json.loads(app.get("restore", "null")) is None
    assert "called off, nothing changed" in json.loads(app["restore-problem"])
    assert json.loads(app.get("data-dir", "null")) is None
    assert (
        out.get_container("zookeeper").service_statuses["zookeeper"]
        == ops.pebble.ServiceStatus.ACTIVE
    )
    assert isinstance(out.unit_status, testing.BlockedStatus)


def test_no_key_reaches_the_logs_or_peer_data(ctx, disk, s3, snapshots):
    state = serving(disk, relations=[s3_relation()], config={"backup-schedule-hours": 1})
    out = ctx.run(ctx.on.update_status(), started(ctx, state))
    run_action(ctx, out, "create-backup")
    logged = " ".join(line.message for line in ctx.juju_log)
    assert "backup" in logged
    peers = out.get_relations("cluster")[0]
    stored = json.dumps([dict(peers.local_app_data), dict(peers.local_unit_data)])
    for key in ("AKIAEXAMPLE", "secret-example"):
        assert key not in logged
        assert key not in stored


class RestoredTree:
    """What the leader's session reads back after the servers started on the snapshot (the
    admin session is the shell; its tree is given here), and the root ACL it sets after."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.acls_set: list[str] = []

    def tree(self):
        return self.nodes

    def set_acls(self, path, acls):
        self.acls_set.append(path)


def checking(ctx, disk, s3, monkeypatch, tree):
    import contextlib

    put_backup(s3, "20200101-000000")
    restored = RestoredTree(tree)

    @contextlib.contextmanager
    def session(*args, **kwargs):
        yield restored

    monkeypatch.setattr(admin, "session", session)
    monkeypatch.setattr(
        admin, "server_stats", lambda host, port=2181, **kw: {"mode": "leader", "zxid": 0x300}
    )
    plan = {
        "id": "20200101-010000",
        "backup": "20200101-000000",
        "data-dir": "data-restored-20200101-010000",
        "phase": "start",
        "previous-data-dir": "data",
    }
    state = started(ctx, serving(disk, relations=[s3_relation()]))
    state = stopped(
        with_peer_data(
            state, {"restore": json.dumps(plan), "data-dir": json.dumps(plan["data-dir"])}
        )
    )
    # As every unit's server was stopped in the step before: this hook starts it on the
    # restored directory, the next one (its watcher's notice that it serves) checks.
    out = ctx.run(ctx.on.update_status(), state)
    assert json.loads(out.get_relations("cluster")[0].local_app_data["restore"])
    out = ctx.run(ctx.on.update_status(), out)
    return out, out.get_relations("cluster")[0].local_app_data, restored


def stopped(state):
    workload = state.get_container("zookeeper")
    statuses = {**workload.service_statuses, "zookeeper": ops.pebble.ServiceStatus.INACTIVE}
    return dataclasses.replace(
        state, containers={dataclasses.replace(workload, service_statuses=statuses)}
    )


def test_a_restored_tree_equal_to_the_snapshot_ends_the_restore_and_grants_again(
    ctx, disk, s3, monkeypatch
):
    tree = zksnap.parse(io.BytesIO(jute.snapshot(TREE, last_zxid=0x200))).nodes
    out, app, restored = checking(ctx, disk, s3, monkeypatch, tree)
    assert json.loads(app.get("restore", "null")) is None
    assert json.loads(app.get("restore-problem", "null")) is None
    # The grants of now are applied again: the root is closed again first.
    assert restored.acls_set == ["/"]
    assert json.loads(app["root-closed"]) is True
    assert isinstance(out.unit_status, testing.ActiveStatus)


def test_a_restored_tree_that_differs_blocks_naming_the_znode_and_the_kept_data(
    ctx, disk, s3, monkeypatch
):
    changed = [dataclasses.replace(TREE[0], data=b"not the backup's"), *TREE[1:]]
    tree = zksnap.parse(io.BytesIO(jute.snapshot(changed, last_zxid=0x200))).nodes
    out, app, _ = checking(ctx, disk, s3, monkeypatch, tree)
    assert json.loads(app.get("restore", "null")) is None
    problem = json.loads(app["restore-problem"])
    assert "/app data differs" in problem
    assert "previous data is kept in data" in problem
    assert isinstance(out.unit_status, testing.BlockedStatus)
    assert "/app data differs" in out.unit_status.message


def test_the_check_waits_while_a_restored_server_does_not_serve(ctx, disk, s3, monkeypatch):
    tree = zksnap.parse(io.BytesIO(jute.snapshot(TREE, last_zxid=0x200))).nodes
    monkeypatch.setattr(admin, "server_stats", lambda host, port=2181, **kw: {})
    put_backup(s3, "20200101-000000")
    plan = {"id": "r", "backup": "20200101-000000", "data-dir": "d", "phase": "start"}
    state = started(ctx, serving(disk, relations=[s3_relation()]))
    state = stopped(with_peer_data(state, {"restore": json.dumps(plan), "data-dir": '"d"'}))
    out = ctx.run(ctx.on.update_status(), ctx.run(ctx.on.update_status(), state))
    app = out.get_relations("cluster")[0].local_app_data
    assert json.loads(app["restore"])["phase"] == "start"
    assert isinstance(out.unit_status, testing.WaitingStatus)
    assert tree  # the tree is not read before every server serves


def client_relation() -> testing.Relation:
    return testing.Relation(
        "zookeeper",
        remote_app_name="kafka",
        remote_app_data={"database": "/kafka"},
        local_app_data={"chroot": "/kafka"},
    )


def test_clients_are_told_while_a_restore_is_under_way_and_not_after(ctx, disk, s3, zookeeper):
    put_backup(s3, "20200101-000000")
    clients = client_relation()
    state = started(ctx, serving(disk, relations=[s3_relation()]))
    state = dataclasses.replace(state, relations={*state.relations, clients})
    out = ctx.run(ctx.on.action("restore", params={"backup-id": "20200101-000000"}), state)
    told = out.get_relation(clients.id).local_app_data
    assert told["restoring"] == "20200101-000000"
    assert told["chroot"] == "/kafka"
    over = with_peer_data(out, {"restore": "null"})
    out = ctx.run(ctx.on.update_status(), over)
    assert "restoring" not in out.get_relation(clients.id).local_app_data
