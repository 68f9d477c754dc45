#!/usr/bin/env python3
"""zookeeper-k8s: every event funnels into one idempotent reconcile (reconcile.py)."""

from __future__ import annotations

import logging
import os

import ops

import certificates
import cos
import exposure
import provider
import s3
import status
import tls
from actions import Actions
from ensemble import ordinal_of
from layout import K8S, Layout
from reconcile import Reconciler
from shells import Shells
from snapshot import Identity
from state import CONTAINER, PEER, ClusterAppData, ClusterUnitData
from workload import Workload

logger = logging.getLogger(__name__)


class ZooKeeperCharm(ops.CharmBase):
    # Live tests swap this for a loopback layout; nothing else differs.
    layout: Layout = K8S
    # How long a restarted server may take to rejoin the quorum before the roll halts.
    restart_timeout: float = 120.0

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        identity = Identity(
            self.app.name, self.model.name, ordinal_of(self.unit.name), self.layout
        )
        self.workload = Workload(self.unit.get_container(CONTAINER), self.layout)
        shells = Shells(self.model, identity, self.workload, self.kubernetes)
        dispatch = os.environ.get("JUJU_DISPATCH_PATH", "")
        shells.cos = cos.Hook.of(dispatch, self.meta.name)
        external_dns, external_ips, moved = self._external_sans(identity.ordinal)
        if certificates.needed(dispatch) or moved:
            # Its handlers run first (observed first): a certificate it finds in this hook
            # is there for the reconcile that follows.
            shells.certificates = self._certificates(identity, external_dns, external_ips)
        self.reconciler = Reconciler(self.model, shells, self.restart_timeout)
        self.actions = actions = Actions(self, self.reconciler)
        on = self.on
        for event in (
            on.install,
            on.start,
            on.config_changed,
            on.upgrade_charm,
            on.leader_elected,
            on.secret_changed,
            on.zookeeper_pebble_ready,
            # The workload wakes the charm: its watcher's notice, the health check's changes.
            on.zookeeper_pebble_custom_notice,
            on.zookeeper_pebble_check_failed,
            on.zookeeper_pebble_check_recovered,
            on.data_storage_attached,
            on[PEER].relation_created,
            on[PEER].relation_joined,
            on[PEER].relation_changed,
            on[provider.RELATION].relation_created,
            on[provider.RELATION].relation_changed,
            on[provider.RELATION].relation_broken,
            on[certificates.RELATION].relation_created,
            on[certificates.RELATION].relation_changed,
            on[certificates.RELATION].relation_broken,
            # What COS reads is written in its relations' hooks (cos.py).
            on[cos.METRICS].relation_created,
            on[cos.METRICS].relation_joined,
            on[cos.DASHBOARDS].relation_created,
            on[cos.LOGGING].relation_created,
            on[cos.LOGGING].relation_joined,
            on[cos.LOGGING].relation_changed,
            on[cos.LOGGING].relation_departed,
            on[cos.LOGGING].relation_broken,
            on[s3.RELATION].relation_created,
            on[s3.RELATION].relation_changed,
            on[s3.RELATION].relation_broken,
        ):
            framework.observe(event, self._reconcile)
        framework.observe(on.update_status, self._on_update_status)
        # A leaving unit takes itself out of the vote from whichever of its teardown hooks
        # runs first: Juju gives them in no fixed order (Reconciler.leave).
        for event in (on.stop, on.remove, on.data_storage_detaching, on[PEER].relation_broken):
            framework.observe(event, self._on_teardown)
        framework.observe(on[PEER].relation_departed, self._on_peer_departed)
        framework.observe(on.secret_remove, self._on_secret_remove)
        framework.observe(on.secret_expired, self._on_secret_expired)
        framework.observe(on.collect_unit_status, self._on_collect_unit_status)
        framework.observe(on.collect_app_status, self._on_collect_app_status)
        framework.observe(on.get_super_password_action, actions.get_super_password)
        framework.observe(on.rotate_passwords_action, actions.rotate_passwords)
        framework.observe(on.restart_action, actions.restart)
        framework.observe(on.ensemble_status_action, actions.ensemble_status)
        framework.observe(on.pre_upgrade_check_action, actions.pre_upgrade_check)
        framework.observe(on.list_clients_action, actions.list_clients)
        framework.observe(on.create_backup_action, actions.create_backup)
        framework.observe(on.list_backups_action, actions.list_backups)
        framework.observe(on.restore_action, actions.restore)

    def _certificates(
        self, identity: Identity, external_dns: list[str], external_ips: list[str]
    ) -> certificates.Certificates:
        ips = []
        if self.config.get("tls-sans-ip") is True:
            binding = self.model.get_binding(PEER)
            if binding is not None and binding.network.ingress_address is not None:
                ips.append(str(binding.network.ingress_address))
        names = tls.sans(identity.layout, identity.app, identity.model, identity.ordinal)
        return certificates.Certificates(
            self,
            names[0].split(".")[0],
            list(dict.fromkeys(names + external_dns)),
            list(dict.fromkeys(ips + external_ips)),
            external=external_dns + external_ips,
        )

    def _external_sans(self, ordinal: int) -> tuple[list[str], list[str], bool]:
        """The names and addresses `expose-external` adds to this unit's certificate (the
        leader records them), and whether they differ from those this unit last asked for:
        then this hook asks again, whatever hook it is."""
        peers = self.model.get_relation(PEER)
        if peers is None:
            return [], [], False
        dns, ips = exposure.sans(peers.load(ClusterAppData, self.app), ordinal)
        asked = peers.load(ClusterUnitData, self.unit).external_sans
        return dns, ips, sorted(dns + ips) != asked

    def kubernetes(self):
        """The lightkube shell (a method, so that tests can hand in a fake)."""
        import k8s

        return k8s.Kubernetes(self.app.name)

    def _reconcile(self, _: ops.EventBase) -> None:
        self.reconciler.run()

    def _on_update_status(self, _: ops.UpdateStatusEvent) -> None:
        """The periodic look: converge if something drifted; log a server in trouble (a
        healthy one is in the status already, and every log line is a hook tool call)."""
        self.reconciler.run(periodic=True)
        health = self.reconciler.io.health
        if not health.serving or health.outstanding_requests >= status.BUSY_OUTSTANDING_REQUESTS:
            logger.warning(
                "health: serving=%s mode=%s voters=%d outstanding=%d connections=%d zxid=%#x",
                health.serving,
                health.mode,
                health.voters,
                health.outstanding_requests,
                health.connections,
                health.zxid,
            )

    def _on_peer_departed(self, event: ops.RelationDepartedEvent) -> None:
        if self.reconciler.leaving() is not None:
            self.reconciler.leave()
        else:
            self.reconciler.run()  # the leader may have leavers to remove

    def _on_teardown(self, _: ops.EventBase) -> None:
        self.reconciler.leave()

    def _on_secret_remove(self, event: ops.SecretRemoveEvent) -> None:
        """No one tracks this revision of a secret we own any more (a rotated password, a
        client's user secret before its endpoints changed): drop it, do not keep it around."""
        event.remove_revision()

    def _on_secret_expired(self, event: ops.SecretExpiredEvent) -> None:
        # The charm sets no expiry on its secrets: an expiry is someone else's doing.
        logger.warning(
            "secret %s revision %s expired; the charm sets no expiry and keeps using it",
            event.secret.id or event.secret.label,
            event.revision,
        )

    def _on_collect_unit_status(self, event: ops.CollectStatusEvent) -> None:
        snap = self._add_found(event)
        if snap is not None:
            health = self.reconciler.io.health
            running = self.workload.running()
            for found in status.unit(snap, running, health, self.restart_timeout):
                event.add_status(found)

    def _on_collect_app_status(self, event: ops.CollectStatusEvent) -> None:
        reconciler = self.reconciler
        snap = reconciler.snapshot
        found = status.found(snap, reconciler.held, reconciler.blocked)
        if isinstance(snap, ops.StatusBase):
            for one in found:
                event.add_status(one)
            return
        if snap.own_only:
            return  # settled, the status the leader last set stands (planned was not read)
        shown = status.chosen([*found, status.app(snap)])
        if snap.cluster.app_status != status.said(shown):
            event.add_status(shown)
            reconciler.io.save_app_status(status.said(shown))

    def _add_found(self, event: ops.CollectStatusEvent):
        reconciler = self.reconciler
        snap = reconciler.snapshot
        for found in status.found(snap, reconciler.held, reconciler.blocked):
            event.add_status(found)
        return None if isinstance(snap, ops.StatusBase) else snap


if __name__ == "__main__":  # pragma: nocover
    import gc

    # Every hook is a fresh process: skip collecting the import graph at exit (~50 ms).
    gc.freeze()
    ops.main(ZooKeeperCharm)
