"""Action handlers: thin, validated, each ending in the one reconcile path (no charm import:
they get the hook's reconciler)."""

from __future__ import annotations

import time
from collections.abc import Mapping

import ops

import admin
import backup
import clients
import rotation
import s3
import upgrade
from duties import backup as backups
from duties import upgrade as upgrading
from ensemble import zxid_lag
from layout import SUPER_USER
from reconcile import Reconciler
from snapshot import Snapshot
from state import PEER, ClusterAppData, ClusterUnitData, MemberState, RestorePlan, new_password


class Actions(ops.Object):
    """The charm's actions; an ops Object so that the framework can call its handlers."""

    def __init__(self, parent: ops.Object, reconciler: Reconciler):
        super().__init__(parent, "actions")
        self.reconciler = reconciler
        self.io = reconciler.io

    def get_super_password(self, event: ops.ActionEvent) -> None:
        peers = self.model.get_relation(PEER)
        cluster = peers.load(ClusterAppData, self.model.app) if peers else ClusterAppData()
        if not cluster.internal_secret_id:
            event.fail("the leader has not created the credentials yet; retry once it has")
            return
        event.set_results(
            {
                "username": SUPER_USER,
                "secret-id": cluster.internal_secret_id,
                "how": f"juju show-secret --reveal {cluster.internal_secret_id}",
            }
        )

    def _whole_ensemble(
        self, event: ops.ActionEvent, verb: str, resumes_halted: bool = False
    ) -> Snapshot | None:
        """The snapshot for an action that changes the whole ensemble, or fail it saying why.

        resumes_halted: the action may run while a roll is halted by a unit whose restart
        failed (the restart action: it is the way out that unit's status names).
        """
        if not self.model.unit.is_leader():
            app = self.model.app.name
            event.fail(f"run this on the leader unit: juju run {app}/leader {verb}")
            return None
        snap = self.reconciler.snapshot
        if isinstance(snap, ops.StatusBase):
            event.fail(f"not now: {snap.message}")
            return None
        views = snap.views
        halted = any(v.failed_config for v in views.values())
        busy = snap.cluster.restart_grant is not None or any(
            v.pending_config for v in views.values()
        )
        if resumes_halted and halted and not snap.cluster.rotation:
            busy = False
        if busy or snap.cluster.rotation or snap.secret.super_password_previous:
            event.fail(
                "a rolling restart or password rotation is under way; "
                "retry when every unit is active"
            )
            return None
        return snap

    def rotate_passwords(self, event: ops.ActionEvent) -> None:
        users = event.params.get("users", "all")
        which = {"all": {"super", "sync"}, "super": {"super"}, "sync": {"sync"}}.get(users)
        if which is None:
            event.fail(f"users must be one of all, super, sync (got {users!r})")
            return
        snap = self._whole_ensemble(event, "rotate-passwords")
        if snap is None:
            return
        secret, phase = rotation.start(snap.secret, which, new_password(), new_password())
        secret, cluster = self.io.store_secret(
            secret, snap.cluster.model_copy(update={"rotation": phase})
        )
        self.io.save_cluster(cluster)
        self.reconciler.run(secret)
        event.set_results(
            {
                "rotating": ", ".join(sorted(which)),
                "secret-id": snap.cluster.internal_secret_id,
                "progress": "units restart one at a time; watch juju status",
            }
        )

    def restart(self, event: ops.ActionEvent) -> None:
        snap = self._whole_ensemble(event, "restart", resumes_halted=True)
        if snap is None:
            return
        # New settings for every unit (the generation is part of them): a unit whose restart
        # failed tries again, and the halted roll goes on from there.
        cluster = snap.cluster
        self.io.save_cluster(
            cluster.model_copy(
                update={
                    "restart_generation": cluster.restart_generation + 1,
                    "restart_grant": None,
                }
            )
        )
        self.reconciler.run()
        event.set_results({"restarting": "every unit, one at a time; watch juju status"})

    def ensemble_status(self, event: ops.ActionEvent) -> None:
        snap = self.reconciler.snapshot
        if isinstance(snap, ops.StatusBase) or snap.published is None:
            event.fail("no ensemble yet: wait for the units to start")
            return
        members = snap.published.servers
        reach = self.io.reach(snap.published)
        stats = {s.id: admin.server_stats(s.address, **reach) for s in members}
        leader_zxid = max((st.get("zxid", 0) for st in stats.values()), default=0)
        results = {}
        for server in members:
            st = stats[server.id]
            results[f"server-{server.id}"] = {
                "address": server.address,
                "role": server.role.value,
                "mode": st.get("mode", "unreachable"),
                "zxid": hex(st["zxid"]) if "zxid" in st else "unknown",
                "lag": str(zxid_lag(leader_zxid, st["zxid"])) if "zxid" in st else "unknown",
                "connections": str(st.get("connections", "unknown")),
            }
        version = snap.published.version
        results["config-version"] = hex(version) if version is not None else "unknown"
        event.set_results(results)

    def list_clients(self, event: ops.ActionEvent) -> None:
        """Each client relation's grant and what it holds against its quota."""
        snap = self.reconciler.snapshot
        if isinstance(snap, ops.StatusBase):
            event.fail(f"not ready: {snap.message}")
            return
        results: dict[str, dict[str, str]] = {}
        try:
            zookeeper = self.io.zookeeper(snap) if snap.cluster.clients else None
            for rid, record in sorted(snap.cluster.clients.items()):
                usage = zookeeper.quota_usage(record.chroot) if zookeeper else None
                entry = {
                    "app": record.app,
                    "chroot": record.chroot,
                    "user": clients.user_for(rid),
                    "roles": record.perms.replace("a", ""),
                    "max-znodes": _limit(record.max_znodes),
                    "max-bytes": _limit(record.max_bytes),
                    "znodes": str(usage[0]) if usage else "unknown",
                    "bytes": str(usage[1]) if usage else "unknown",
                    **_sessions(snap.views, record.chroot),
                }
                if record.x509:
                    entry["x509-subject"] = record.x509
                results[f"relation-{rid}"] = entry
        except admin.AdminError as exc:
            event.fail(f"ZooKeeper did not answer, try again once it serves: {exc}")
            return
        finally:
            self.io.close()
        event.set_results(results or {"clients": "none"})

    def pre_upgrade_check(self, event: ops.ActionEvent) -> None:
        """Check that an upgrade is safe now; if it is, hold all pods but the highest."""
        snap = self._whole_ensemble(event, "pre-upgrade-check")
        if snap is None:
            return
        import k8s

        io, unit = self.io, snap.unit
        try:
            view = upgrading.view(snap, io)
            synced = upgrading.quorum_synced(snap, io)
            reasons = upgrade.check(view, synced, roll_pending=False, planned_units=snap.planned)
            if reasons:
                event.fail("not safe to upgrade now: " + "; ".join(reasons))
                return
            partition = upgrade.pre_upgrade_partition(snap.planned)
            kube = io.kube()
            kube.set_partition(unit.app, unit.model, partition)
            cluster = snap.cluster.model_copy(
                update={
                    "upgrade_from_revision": kube.update_revision(unit.app, unit.model),
                    "upgrade_partition": partition,
                }
            )
            io.save_cluster(cluster)
            step = upgrade.next_step(
                view, partition, synced, planned_units=snap.planned, refreshed=False
            )
            if step.bounce_leader is not None:
                upgrading.apply(snap.but(cluster=cluster), io, step)
        except k8s.K8sError as exc:
            event.fail(str(exc))
            return
        except admin.AdminError as exc:
            event.fail(f"could not move ZooKeeper leadership off the first pod: {exc}")
            return
        finally:
            io.close()
        event.set_results(
            {
                "safe": "yes",
                "partition": str(partition),
                "next": f"juju refresh {unit.app}: pods are then replaced one at a time",
            }
        )

    # -- backups -----------------------------------------------------------------------

    def create_backup(self, event: ops.ActionEvent) -> None:
        if not self.model.unit.is_leader():
            event.fail(
                f"run this on the leader unit: juju run {self.model.app.name}/leader create-backup"
            )
            return
        snap = self.reconciler.snapshot
        if isinstance(snap, ops.StatusBase):
            event.fail(f"not now: {snap.message}")
            return
        if snap.cluster.restore is not None:
            event.fail("a restore is under way: retry once it has finished")
            return
        try:
            with backups.opened(self.io) as bucket:
                record, deleted = backups.create(snap, self.io, bucket)
        except (backup.BackupError, s3.S3Error, admin.AdminError) as exc:
            event.fail(str(exc))
            return
        self.io.save_cluster(
            snap.cluster.model_copy(update={"backup_last": time.time(), "backup_error": None})
        )
        self.reconciler.run()
        event.set_results(
            {
                "backup-id": record["id"],
                "zxid": record["zxid"],
                "znodes": str(record["znodes"]),
                "bytes": str(record["snapshot-bytes"]),
                "deleted": ", ".join(deleted) or "none",
            }
        )

    def list_backups(self, event: ops.ActionEvent) -> None:
        try:
            with backups.opened(self.io) as bucket:
                manifests = backups.listing(bucket)
        except (backup.BackupError, s3.S3Error) as exc:
            event.fail(str(exc))
            return
        results = {
            m["id"]: {key: str(value) for key, value in m.items() if key != "id"}
            for m in manifests
        }
        event.set_results({"backups": results} if results else {"backups": "none"})

    def restore(self, event: ops.ActionEvent) -> None:
        backup_id = str(event.params.get("backup-id") or "")
        if not backup.valid_id(backup_id):
            event.fail(
                f"backup-id must be a backup's id as list-backups shows it "
                f"(like 20261202-030000), not {backup_id!r}"
            )
            return
        snap = self._whole_ensemble(event, f"restore backup-id={backup_id}")
        if snap is None:
            return
        cluster = snap.cluster
        views = snap.views
        refusal = None
        if cluster.restore is not None:
            refusal = f"restore of {cluster.restore.backup} is under way"
        elif cluster.upgrade_partition is not None or cluster.upgrade_from_revision:
            refusal = "an upgrade is under way: finish it first"
        elif any(
            v.running_tls is not None and v.running_tls != cluster.tls for v in views.values()
        ):
            refusal = "TLS is being switched: retry when every unit is active"
        elif snap.planned is not None and len(views) != snap.planned:
            refusal = (
                f"{len(views)} of {snap.planned} units are in the ensemble: wait for the scale"
            )
        else:
            down = sorted(o for o, v in views.items() if v.state is not MemberState.SERVING)
            serving = self.io.serving_now(views, snap.published)
            down = sorted(set(down) | (set(views) - serving))
            if down:
                refusal = f"units {', '.join(map(str, down))} do not serve: every unit must"
        if refusal:
            event.fail(f"not restoring: {refusal}")
            return
        try:
            with backups.opened(self.io) as bucket:
                manifest = bucket.get_json(bucket.key(backup_id, backup.MANIFEST))
        except (backup.BackupError, s3.S3Error) as exc:
            event.fail(str(exc))
            return
        if manifest is None:
            event.fail(f"no backup {backup_id} in the bucket: list-backups shows those there")
            return
        run = backup.new_id(time.time())
        previous = cluster.data_dir or "data"
        plan = RestorePlan(
            id=run,
            backup=backup_id,
            data_dir=f"data-restored-{run}",
            previous_data_dir=previous,
        )
        backups.tell_clients(self.io, backup_id)
        self.io.save_cluster(cluster.model_copy(update={"restore": plan, "restore_problem": None}))
        self.reconciler.run()
        event.set_results(
            {
                "restoring": backup_id,
                "zxid": str(manifest.get("zxid")),
                "previous-data": previous,
                "progress": "every server stops, then all start on the backup; the leader "
                "checks the tree against the manifest: watch juju status",
            }
        )


def _limit(value: int | None) -> str:
    return "none" if not value else str(value)


def _sessions(views: Mapping[int, ClusterUnitData], chroot: str) -> dict[str, str]:
    """The app's connections on every server, each as its unit last reported it (at its
    last hook: update-status at the latest), since only a server sees its own."""
    per_unit = {o: view.client_sessions.get(chroot, 0) for o, view in sorted(views.items())}
    return {
        "sessions": str(sum(per_unit.values())),
        "sessions-per-unit": ", ".join(f"{o}: {n}" for o, n in per_unit.items()),
    }
