"""Backups to S3 and restores from them.

Scheduled backups: the leader, on update-status (the only timer Juju gives a charm; 5
minutes by default), takes one when `backup-schedule-hours` have passed since the last.

A restore moves every member to the backup's snapshot together, through peer data:
1. the restore action (leader) writes a RestorePlan: a new data directory for the backup;
2. every unit fetches the snapshot from S3 into that directory, then stops its server and
   says so (restore-ready); a unit that cannot fetch it says why and keeps serving, and
   the leader then calls the restore off: the stopped servers start again on their data;
3. once every unit is ready, the leader moves the ensemble's data directory to the new one
   (phase start): each unit's server starts on the snapshot, none of them on the old data,
   so no member can hand the old tree back to a restored one;
4. once every member serves, the leader reads the tree back and checks it against the
   snapshot, node by node, and the snapshot against its manifest; the restore is over
   (a difference blocks the leader, naming it) and the current client grants are applied
   again. Until then no duty that writes to ZooKeeper runs (`gate`).
The previous data directory is left as it was: nothing deletes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
import time
from collections.abc import Iterator

import admin
import backup
import s3
import zksnap
from duties import NOTHING, Outcome
from shells import Shells
from snapshot import Snapshot
from state import ClusterAppData, MemberState, RestorePhase, RestorePlan

logger = logging.getLogger(__name__)


# Told to every client relation while a restore is under way (its value: the backup id);
# gone once the restore is over. Clients see the servers stop and come back on older data.
RESTORING_KEY = "restoring"


def tell_clients(io: Shells, backup_id: str | None) -> None:
    """Say in each client relation's app databag that a restore of `backup_id` is under
    way, or (None) that none is; a key set to "" is removed."""
    import provider

    for relation in io.relations(provider.RELATION):
        told = relation.data[io.model.app].get(RESTORING_KEY)
        # Nothing to remove is no relation-set at all (this runs in every leader hook).
        if relation.app is not None and (told or backup_id):
            io.update_app_data(relation, {RESTORING_KEY: backup_id or ""})


class NotConfigured(backup.BackupError):
    """No s3-credentials relation, or it is not complete yet."""


def store(io: Shells) -> s3.Store:
    settings = s3.settings(io.model)
    if settings is None:
        raise NotConfigured(
            "no S3 bucket: juju integrate <this app> s3-integrator (see the README)"
        )
    if isinstance(settings, str):
        raise NotConfigured(settings)
    return s3.Store(settings)


@contextlib.contextmanager
def opened(io: Shells) -> Iterator[s3.Store]:
    """The bucket, closed when done with (store() says why it cannot be had)."""
    bucket = store(io)
    try:
        yield bucket
    finally:
        bucket.close()


def create(snap: Snapshot, io: Shells, bucket: s3.Store) -> tuple[dict, list[str]]:
    """Take a backup from this unit's server; its manifest and the backups retention let go."""
    if not io.health.serving:
        raise backup.BackupError("this unit's ZooKeeper is not serving: retry once it is")
    bucket.check()
    host = snap.unit.local_host
    record = backup.take(
        lambda out: admin.snapshot(host, snap.super_passwords, out),
        lambda bid, stream: bucket.upload(bucket.key(bid, backup.SNAPSHOT), stream),
        lambda bid, value: bucket.put_json(bucket.key(bid, backup.MANIFEST), value),
        time.time(),
        io.health.version,
        backup.charm_revision(),
    )
    logger.info(
        "backup %s taken: zxid %s, %s znodes", record["id"], record["zxid"], record["znodes"]
    )
    return record, prune(bucket, snap.config.backup_retention)


def listing(bucket: s3.Store) -> list[dict]:
    """Every finished backup's manifest, oldest first."""
    manifests = []
    for key in sorted(bucket.names(bucket.key(""))):
        if key.endswith("/" + backup.MANIFEST):
            found = bucket.get_json(key)
            if found is not None:
                manifests.append(found)
    return manifests


def prune(bucket: s3.Store, retention: int) -> list[str]:
    ids = [m["id"] for m in listing(bucket) if backup.valid_id(str(m.get("id")))]
    gone = backup.expired(ids, retention)
    for backup_id in gone:
        bucket.delete(bucket.names(bucket.key(backup_id, "")))
    return gone


def scheduled(snap: Snapshot, io: Shells) -> Outcome:
    """The leader's schedule, and what its status says of backups and restores."""
    s3.request_bucket(io.model, snap.unit.app)
    if snap.cluster.restore is None:
        tell_clients(io, None)
    cluster = snap.cluster
    hours = snap.config.backup_schedule_hours
    now = time.time()
    if snap.periodic and cluster.restore is None and backup.due(cluster.backup_last, hours, now):
        try:
            with opened(io) as bucket:
                record, _ = create(snap, io, bucket)
            cluster = cluster.model_copy(update={"backup_last": now, "backup_error": None})
            logger.info("scheduled backup %s done", record["id"])
        except (backup.BackupError, s3.S3Error, admin.AdminError) as exc:
            logger.warning("scheduled backup failed: %s", exc)
            cluster = cluster.model_copy(update={"backup_error": str(exc)})
    late = backup.overdue(cluster.backup_last, hours, now, cluster.backup_error)
    blocked = cluster.restore_problem or late
    return Outcome(cluster=cluster if cluster != snap.cluster else None, blocked=blocked)


def scheduled_if_due(snap: Snapshot, io: Shells) -> Outcome:
    """A settled leader's update-status (reconcile.py): the schedule, only when a backup is
    due, so a settled hook reads no other relation."""
    cluster = snap.cluster
    if backup.due(cluster.backup_last, snap.config.backup_schedule_hours, time.time()):
        return scheduled(snap, io)
    return NOTHING


def gate(snap: Snapshot, io: Shells) -> Outcome:
    """Nothing after this writes to ZooKeeper while a restore is unchecked."""
    plan = snap.cluster.restore
    if plan is None:
        return NOTHING
    return Outcome(held=f"restoring backup {plan.backup}", stop=True)


def restore(snap: Snapshot, io: Shells) -> Outcome:
    plan = snap.cluster.restore
    if plan is None:
        return NOTHING
    if plan.phase is RestorePhase.STOP:
        return _stop(snap, io, plan)
    if not snap.leader:
        return NOTHING  # server.prepare starts the server on the restored directory
    return _check(snap, io, plan)


def _stop(snap: Snapshot, io: Shells, plan: RestorePlan) -> Outcome:
    me = snap.me
    if me.restore_ready != plan.id:
        try:
            _place(snap, io, plan)
        except (backup.BackupError, s3.S3Error, OSError) as exc:
            logger.error("restore %s: cannot place backup %s: %s", plan.id, plan.backup, exc)
            me = me.model_copy(update={"restore_ready": plan.id, "restore_error": str(exc)})
            return _lead(snap.but(me=me), plan) if snap.leader else Outcome(me=me)
        io.workload.stop()
        io.forget_health()
        me = me.model_copy(
            update={
                "restore_ready": plan.id,
                "restore_error": None,
                "state": MemberState.WAITING,
                "mode": None,
            }
        )
    if snap.leader:
        return _lead(snap.but(me=me), plan)
    return Outcome(
        me=me, held="restore: waiting for every unit to stop with the backup in place", stop=True
    )


def _lead(snap: Snapshot, plan: RestorePlan) -> Outcome:
    views = snap.views
    failed = {
        o: v.restore_error
        for o, v in views.items()
        if v.restore_ready == plan.id and v.restore_error
    }
    cluster = snap.cluster
    if failed:
        # Every server that stopped starts again on the data it had (server.prepare).
        said = "; ".join(f"unit {o}: {error}" for o, error in sorted(failed.items()))
        cluster = cluster.model_copy(
            update={
                "restore": None,
                "restore_problem": f"restore of {plan.backup} called off, nothing changed: {said}",
            }
        )
        return Outcome(me=snap.me, cluster=cluster)
    waiting = sorted(o for o, v in views.items() if v.restore_ready != plan.id)
    if waiting or (snap.planned is not None and len(views) < snap.planned):
        return Outcome(
            me=snap.me,
            held=f"restore: waiting for units {', '.join(map(str, waiting)) or 'to join'} "
            "to stop with the backup in place",
            stop=True,
        )
    logger.info("restore %s: every server stopped; starting them on %s", plan.id, plan.data_dir)
    started = plan.model_copy(update={"phase": RestorePhase.START})
    cluster = cluster.model_copy(update={"restore": started, "data_dir": plan.data_dir})
    return Outcome(me=snap.me, cluster=cluster)


def _fetch(bucket: s3.Store, plan: RestorePlan, spool) -> dict:
    """The backup's manifest, its snapshot downloaded into `spool` and checked against it."""
    found = bucket.get_json(bucket.key(plan.backup, backup.MANIFEST))
    if found is None:
        raise backup.BackupError(f"backup {plan.backup} has no manifest in the bucket")
    bucket.download(bucket.key(plan.backup, backup.SNAPSHOT), spool)
    spool.seek(0)
    hasher = hashlib.sha256()
    while chunk := spool.read(1 << 20):
        hasher.update(chunk)
    if hasher.hexdigest() != found.get("snapshot-sha256"):
        raise backup.BackupError(
            f"backup {plan.backup}'s snapshot does not match its manifest's sha256"
        )
    spool.seek(0)
    return found


def _place(snap: Snapshot, io: Shells, plan: RestorePlan) -> None:
    """Fetch the backup into the plan's data directory (the current one is not touched)."""
    layout = snap.unit.layout
    target = layout.storage / plan.data_dir / "version-2"
    with opened(io) as bucket, tempfile.TemporaryFile() as spool:
        found = _fetch(bucket, plan, spool)
        # Named by its zxid: ZooKeeper resumes from the zxid in the name.
        io.workload.write_stream(target / f"snapshot.{int(found['zxid'], 16):x}", spool)
    # The epochs go with it: restored servers elect a leader in a later epoch than any the
    # ensemble had, so every new zxid is above those its clients saw (a server refuses a
    # client that has seen a later zxid than its own).
    previous = layout.storage / plan.previous_data_dir / "version-2"
    for name in ("currentEpoch", "acceptedEpoch"):
        text = io.workload.read(previous / name)
        if text:
            io.workload.write(target / name, text)


def _check(snap: Snapshot, io: Shells, plan: RestorePlan) -> Outcome:
    """Every member serves on the restored directory: compare the tree with the snapshot."""
    ordinals = sorted(snap.views)
    reach = io.reach(snap.published)
    if len(io.serving_now(ordinals, snap.published)) < len(ordinals) or not io.health.serving:
        return Outcome(held="restore: waiting for every restored server to serve")
    try:
        with opened(io) as bucket, tempfile.TemporaryFile() as spool:
            found = _fetch(bucket, plan, spool)
            expected = zksnap.parse(spool)
        live = io.zookeeper(snap).tree()
    except (admin.AdminError, s3.S3Error, backup.BackupError, zksnap.SnapshotError) as exc:
        return Outcome(held=f"restore: checking the restored tree waits: {exc}")
    problems = backup.differences(expected, live, expected.zxid)
    if found.get("digest") != expected.digest:
        problems.append("the snapshot's digest differs from the manifest's")
    zxids = [admin.server_stats(snap.unit.address_of(o), **reach).get("zxid", 0) for o in ordinals]
    behind = [o for o, z in zip(ordinals, zxids, strict=True) if z < expected.zxid]
    if behind:
        problems.append(f"units {behind} are at a zxid below the backup's {expected.zxid:#x}")
    result = None
    if problems:
        result = (
            f"restore of {plan.backup} does not match its manifest: {backup.summary(problems)}; "
            f"the previous data is kept in {plan.previous_data_dir}"
        )
        logger.error("%s", result)
    else:
        logger.info("restore %s: backup %s checked, %d znodes", plan.id, plan.backup, len(live))
    return Outcome(cluster=_regrant(snap.cluster, result))


def _regrant(cluster: ClusterAppData, problem: str | None) -> ClusterAppData:
    """The restore is over. The restored tree holds the grants of backup time: forget what
    was applied since, so that the clients duty applies every current grant again (the
    policy, the root's ACL, each chroot's ACL and quota, the open chroots) to the relations
    that exist now."""
    return cluster.model_copy(
        update={
            "restore": None,
            "restore_problem": problem,
            # Each relation's user secret is found again by its label: same passwords.
            "clients": {},
            "policy_digest": None,
            "root_closed": False,
            "open_chroots_made": [],
        }
    )
