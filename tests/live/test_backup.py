"""Backup to S3 and restore, on the pod-like substrate, against moto's S3 server.

The S3 endpoint is moto's ThreadedMotoServer (PyPI `moto[server]`), bound to the node's
address on the bridge the tests create (network.NODE_ADDRESS): it exists only in the
namespaces of this run, and the units' hooks reach it from their own namespaces as a pod
reaches an S3 service. moto's limits: it keeps objects in memory, accepts any access key
unless told to check them, and does not check TLS; what it does do is the S3 API boto3
speaks (multipart uploads, listing, deletes), which is what the charm uses.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

import boto3
import pytest
from kazoo.client import KazooClient
from ops import testing

import zksnap
from tests.live import network
from tests.live.cluster import deadline_poll
from tests.live.writer import Writer, client_app

BUCKET = "zk-backups"
PATH = "ensemble"


@pytest.fixture
def s3_server():
    from moto.server import ThreadedMotoServer

    port = 20000 + os.getpid() % 20000
    server = ThreadedMotoServer(ip_address=network.NODE_ADDRESS, port=port, verbose=False)
    server.start()
    endpoint = f"http://{network.NODE_ADDRESS}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test-access",
        aws_secret_access_key="test-secret",
    )
    client.create_bucket(Bucket=BUCKET)
    yield endpoint, client
    server.stop()


def provider_data(endpoint: str) -> dict[str, str]:
    """What s3-integrator writes in its application databag."""
    return {
        "bucket": BUCKET,
        "endpoint": endpoint,
        "region": "us-east-1",
        "path": PATH,
        "s3-uri-style": "path",
        "access-key": "test-access",
        "secret-key": "test-secret",
    }


def action(cluster, name: str, **params) -> dict:
    cluster.run(cluster.leader, "action", name=name, params=params)
    return dict(cluster.action_results or {})


def live_tree(cluster) -> dict[str, zksnap.Node]:
    with cluster.admin() as session:
        return session.tree()


def downloaded(client, backup_id: str) -> zksnap.Parsed:
    with tempfile.TemporaryFile() as spool:
        client.download_fileobj(BUCKET, f"{PATH}/{backup_id}/snapshot", spool)
        spool.seek(0)
        return zksnap.parse(spool)


def test_backup_under_a_writer_then_restore_brings_back_exactly_the_snapshot(cluster, s3_server):
    endpoint, client = s3_server
    cluster.deploy(3)
    cluster.wait_serving()
    chroot, user = client_app(cluster)
    cluster.relate_s3(provider_data(endpoint))
    with Writer(cluster.hosts() + chroot, None, sasl=user) as writer:
        deadline_poll(lambda: len(writer.acknowledged) >= 200, 60, "200 writes")
        before = list(writer.acknowledged)  # acknowledged before the snapshot began
        made = action(cluster, "create-backup")
        backup_id = made["backup-id"]
        during = len(writer.acknowledged)
        deadline_poll(lambda: len(writer.acknowledged) >= during + 300, 60, "300 more writes")
    after = list(writer.acknowledged)

    listed = action(cluster, "list-backups")["backups"]
    assert list(listed) == [backup_id]
    manifest = listed[backup_id]
    parsed = downloaded(client, backup_id)
    assert manifest["digest"] == parsed.digest
    assert int(manifest["znodes"]) == len(parsed.compared)
    assert int(manifest["zxid"], 16) == parsed.zxid
    assert int(manifest["complete-through"], 16) <= parsed.zxid
    assert manifest["zookeeper-version"].startswith("3.9")
    # Every write acknowledged before the snapshot began is in it.
    in_backup = set(parsed.nodes)
    assert not [p for p in before if chroot + p not in in_backup]
    # Something written after it was not: the restore must take the tree back.
    later = [p for p in after if chroot + p not in in_backup]
    assert later

    tree = restore_and_compare(cluster, backup_id, manifest, parsed)
    assert not [p for p in before if chroot + p not in tree]
    assert not [p for p in later if chroot + p in tree]

    # Clients come back with the credentials they have: a new session, and the writer's
    # own session from before the backup (the restored servers know it).
    with contextlib.closing(
        KazooClient(
            hosts=cluster.hosts() + chroot,
            sasl_options={"mechanism": "DIGEST-MD5", "username": user[0], "password": user[1]},
        )
    ) as fresh:
        fresh.start(timeout=30)
        assert fresh.create("/writes/after-restore-", b"y", sequence=True)
        fresh.stop()
    deadline_poll(
        lambda: _writes(writer.client), 60, "the writer's session to write again", every=0.5
    )
    writer.close()
    # The previous data is still where it was on every unit.
    for unit in cluster.units.values():
        assert list((unit.storage / "data" / "version-2").glob("log.*")), unit.ordinal


def restore_and_compare(cluster, backup_id: str, manifest: dict, parsed: zksnap.Parsed) -> dict:
    """Restore the backup; the tree, its ACLs and its data, znode by znode, must be the
    snapshot's. Returns the live tree."""
    restored = action(cluster, "restore", **{"backup-id": backup_id})
    assert restored["restoring"] == backup_id
    cluster.wait_serving()
    app = cluster.app_data
    assert app.get("restore") in (None, "null"), app.get("restore")
    assert app.get("restore-problem") in (None, "null"), app.get("restore-problem")
    assert app.get("data-dir", "null") != "null"
    for unit in cluster.units.values():
        assert isinstance(unit.status, testing.ActiveStatus), (unit.ordinal, unit.status)
    # Clients were told while it was under way, and are told no more.
    for related in cluster.clients.values():
        assert "restoring" not in related.answer
    tree = live_tree(cluster)
    live = {path: node for path, node in tree.items() if node.compared}
    wanted = {node.path: node for node in parsed.compared}
    assert sorted(live) == sorted(wanted)
    for path, node in wanted.items():
        assert live[path].data == node.data, path
        assert sorted(live[path].acl) == sorted(node.acl), path
    assert zksnap.tree_digest(live.values()) == manifest["digest"]
    return tree


def _backed_up(cluster) -> str | None:
    """One try at create-backup: its id, or None while no server can give a snapshot."""
    try:
        return action(cluster, "create-backup")["backup-id"]
    except testing.ActionFailed:
        return None


def test_a_backup_taken_while_the_zookeeper_leader_is_killed_restores_consistently(
    cluster, s3_server
):
    endpoint, client = s3_server
    cluster.deploy(3)
    cluster.wait_serving()
    chroot, user = client_app(cluster)
    cluster.relate_s3(provider_data(endpoint))
    with Writer(cluster.hosts() + chroot, None, sasl=user) as writer:
        deadline_poll(lambda: len(writer.acknowledged) >= 200, 60, "200 writes")
        healths = cluster.wait_serving()
        zk_leader = next(o for o, h in healths.items() if h.mode == "leader")
        before = list(writer.acknowledged)
        cluster.kill_process(cluster.units[zk_leader])
        backup_id = deadline_poll(lambda: _backed_up(cluster), 90, "a backup", every=0.5)
        during = len(writer.acknowledged)
        deadline_poll(lambda: len(writer.acknowledged) >= during + 100, 60, "100 more writes")
    writer.close()
    cluster.wait_serving()
    manifest = action(cluster, "list-backups")["backups"][backup_id]
    parsed = downloaded(client, backup_id)
    assert not [p for p in before if chroot + p not in parsed.nodes]
    tree = restore_and_compare(cluster, backup_id, manifest, parsed)
    assert not [p for p in before if chroot + p not in tree]


def _writes(client) -> bool:
    from kazoo.exceptions import KazooException

    try:
        return bool(client.create("/writes/old-session-", b"z", sequence=True))
    except KazooException:
        return False


def test_a_backup_without_a_bucket_or_with_wrong_endpoint_fails_the_action(cluster, s3_server):
    _endpoint, _ = s3_server
    cluster.deploy(1)
    cluster.wait_serving()
    with pytest.raises(testing.ActionFailed, match="no S3 bucket"):
        action(cluster, "create-backup")
    # A port nothing listens on, in the node's namespace (the tests' own).
    cluster.relate_s3(provider_data(f"http://{network.NODE_ADDRESS}:9"))
    with pytest.raises(testing.ActionFailed, match="unreachable"):
        action(cluster, "create-backup")
    with pytest.raises(testing.ActionFailed, match=r"no backup 20200101-000000|unreachable"):
        action(cluster, "restore", **{"backup-id": "20200101-000000"})


def test_a_backup_taken_while_the_ensemble_scales_from_3_to_5_restores_consistently(
    cluster, s3_server
):
    from tests.live.juju import Hook

    endpoint, client = s3_server
    cluster.deploy(3)
    cluster.wait_serving()
    chroot, user = client_app(cluster)
    cluster.relate_s3(provider_data(endpoint))
    taken: dict[str, object] = {}

    def back_up_while_joining() -> None:
        # Between two of the scale's hooks, once a joiner's server runs and before the
        # scale is over: the action as Juju would run it then, retried at the next hook
        # while no server can give a snapshot.
        joining = [u for o, u in cluster.units.items() if o >= 3 and u.alive]
        if "id" in taken or not joining:
            return
        hook = Hook(cluster.leader, "action")
        try:
            cluster._finish(hook, cluster._begin(hook), name="create-backup", params={})
        except testing.ActionFailed:
            return
        taken["id"] = cluster.action_results["backup-id"]
        taken["acknowledged"] = list(writer.acknowledged)
        taken["voters"] = len(admin_voters(cluster))

    with Writer(cluster.hosts() + chroot, None, sasl=user) as writer:
        deadline_poll(lambda: len(writer.acknowledged) >= 200, 60, "200 writes")
        before = list(writer.acknowledged)
        cluster.after_hook.append(back_up_while_joining)
        try:
            cluster.scale(5)
        finally:
            cluster.after_hook.remove(back_up_while_joining)
        cluster.wait_serving()
    writer.close()
    assert "id" in taken, "no backup was taken while the ensemble scaled"
    assert taken["voters"] < 5  # the joiners were not all voting yet
    backup_id = str(taken["id"])
    manifest = action(cluster, "list-backups")["backups"][backup_id]
    parsed = downloaded(client, backup_id)
    assert not [p for p in before if chroot + p not in parsed.nodes]
    tree = restore_and_compare(cluster, backup_id, manifest, parsed)
    assert len(cluster.units) == 5
    assert not [p for p in before if chroot + p not in tree]


def admin_voters(cluster) -> list[int]:
    with cluster.admin() as session:
        return [s.id for s in session.committed_config().voters]
