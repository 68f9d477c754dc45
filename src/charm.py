#!/usr/bin/env python3
"""zookeeper-k8s: every event funnels into one idempotent reconcile()."""

from __future__ import annotations

import dataclasses
import functools
import logging

import ops

import admin
import render
from config import CharmConfig, InvalidConfigError, parse
from ensemble import EnsembleConfig, myid, ordinal_of, server_for
from layout import K8S, SUPER_USER, Layout
from state import (
    CONTAINER,
    INTERNAL_SECRET_LABEL,
    PEER,
    ClusterAppData,
    ClusterUnitData,
    InternalSecret,
    MemberState,
)
from workload import Workload

logger = logging.getLogger(__name__)

BOOTSTRAP_DYNAMIC_FILE = "zoo.cfg.dynamic"


@dataclasses.dataclass(frozen=True)
class Inputs:
    """Everything reconcile needs, gathered once per hook."""

    config: CharmConfig
    peers: ops.Relation
    cluster: ClusterAppData
    secret: InternalSecret


class ZooKeeperCharm(ops.CharmBase):
    # Live tests swap this for a loopback layout; nothing else differs.
    layout: Layout = K8S

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.workload = Workload(self.unit.get_container(CONTAINER), self.layout)
        self.ordinal = ordinal_of(self.unit.name)
        self.address = self.layout.address(self.app.name, self.model.name, self.ordinal)
        for event in (
            self.on.install,
            self.on.start,
            self.on.config_changed,
            self.on.upgrade_charm,
            self.on.update_status,
            self.on.leader_elected,
            self.on.secret_changed,
            self.on.zookeeper_pebble_ready,
            self.on.data_storage_attached,
            self.on[PEER].relation_created,
            self.on[PEER].relation_joined,
            self.on[PEER].relation_changed,
            self.on[PEER].relation_departed,
        ):
            framework.observe(event, self._reconcile)
        framework.observe(self.on.collect_unit_status, self._on_collect_unit_status)
        framework.observe(self.on.get_super_password_action, self._on_get_super_password)

    # -- inputs -------------------------------------------------------------------------

    def _gather(self) -> Inputs | ops.StatusBase:
        """Read the world; a status says why reconcile cannot go on yet."""
        try:
            config = parse(dict(self.config))
        except InvalidConfigError as exc:
            return ops.BlockedStatus(f"invalid config: {exc}")
        peers = self.model.get_relation(PEER)
        if peers is None:
            return ops.WaitingStatus("waiting for the peer relation")
        cluster = peers.load(ClusterAppData, self.app)
        secret = self._internal_secret(cluster)
        if secret is None:
            return ops.WaitingStatus("waiting for the leader to create credentials")
        if not self.workload.reachable:
            return ops.WaitingStatus("waiting for the zookeeper container")
        return Inputs(config, peers, cluster, secret)

    def _internal_secret(self, cluster: ClusterAppData) -> InternalSecret | None:
        if not cluster.internal_secret_id:
            return None
        try:
            secret = self.model.get_secret(id=cluster.internal_secret_id)
            return InternalSecret.model_validate(secret.get_content(refresh=True))
        except (ops.SecretNotFoundError, ops.ModelError):
            return None

    @functools.cached_property
    def health(self) -> admin.Health:
        """One probe of this unit's admin server per hook."""
        if not self.workload.reachable or not self.workload.running():
            return admin.NOT_RUNNING
        return admin.probe(self.layout.admin_host(self.address))

    # -- reconcile ----------------------------------------------------------------------

    def _reconcile(self, _: ops.EventBase | None = None) -> None:
        if self.unit.is_leader():
            self._lead()
        inputs = self._gather()
        if isinstance(inputs, ops.StatusBase):
            return
        dynamic_file = self._dynamic_file(inputs)
        if dynamic_file is None:
            self._report(inputs.peers, MemberState.WAITING)
            return
        self.workload.ensure_dirs()
        changed = self._write_files(inputs, dynamic_file)
        layer_changed = self.workload.apply_layer(render.pebble_layer(inputs.config, self.layout))
        if not self.workload.running() or layer_changed:
            self.workload.start()
        elif changed:
            self.workload.restart()
        self.__dict__.pop("health", None)
        self._report(
            inputs.peers, MemberState.SERVING if self.health.serving else MemberState.STARTED
        )

    def _lead(self) -> None:
        """Leader duties that happen once: the internal secret and the bootstrap members."""
        peers = self.model.get_relation(PEER)
        if peers is None:
            return
        cluster = peers.load(ClusterAppData, self.app)
        if cluster.internal_secret_id is None:
            secret = self.app.add_secret(
                InternalSecret.generate().content(),
                label=INTERNAL_SECRET_LABEL,
                description="ZooKeeper super user and quorum passwords",
            )
            cluster.internal_secret_id = secret.id
        if cluster.bootstrap_members is None:
            # Pod ordinals of a fresh StatefulSet are 0..n-1 and their DNS names are known in
            # advance, so every unit of the deployment can start at once with the same
            # ensemble instead of joining one after another.
            cluster.bootstrap_members = list(range(max(self.app.planned_units(), 1)))
        peers.save(cluster, self.app)

    def _dynamic_file(self, inputs: Inputs) -> str | None:
        """The dynamic config file to start with: ZooKeeper's own if it has one."""
        on_disk = self.workload.read(self.layout.zoo_cfg)
        current = render.parse_properties(on_disk or "").get("dynamicConfigFile")
        if current and self.workload.exists(current):
            return current
        if self.ordinal in (inputs.cluster.bootstrap_members or []):
            members = EnsembleConfig(
                tuple(
                    server_for(self.layout, self.app.name, self.model.name, ordinal)
                    for ordinal in inputs.cluster.bootstrap_members
                )
            )
            path = str(self.layout.conf_dir / BOOTSTRAP_DYNAMIC_FILE)
            self.workload.ensure_dirs()
            self.workload.write(path, members.render())
            return path
        return None

    def _write_files(self, inputs: Inputs, dynamic_file: str) -> bool:
        """Write what differs; True if the running server must restart to see it."""
        layout, changed = self.layout, False
        wanted = {
            layout.myid: render.myid_file(myid(self.ordinal)),
            layout.jaas: render.jaas(
                render.Credentials(inputs.secret.super_password, inputs.secret.sync_password)
            ),
            layout.log_config: render.log_config(layout, inputs.config.log_level),
        }
        for path, text in wanted.items():
            if self.workload.read(path) != text:
                self.workload.write(path, text, secret=path == layout.jaas)
                changed = True
        zoo_cfg = render.zoo_cfg(inputs.config, layout, self.address, dynamic_file)
        on_disk = self.workload.read(layout.zoo_cfg)
        # ZooKeeper rewrites zoo.cfg itself; only a change in the charm's settings counts.
        if on_disk is None or render.static_settings(on_disk) != render.static_settings(zoo_cfg):
            self.workload.write(layout.zoo_cfg, zoo_cfg)
            changed = True
        return changed

    def _report(self, peers: ops.Relation, state: MemberState) -> None:
        if peers.load(ClusterUnitData, self.unit).state != state:
            peers.save(ClusterUnitData(state=state), self.unit)

    # -- status and actions -------------------------------------------------------------

    def _on_collect_unit_status(self, event: ops.CollectStatusEvent) -> None:
        inputs = self._gather()
        if isinstance(inputs, ops.StatusBase):
            event.add_status(inputs)
            return
        if not self.workload.exists(self.layout.myid):
            event.add_status(ops.WaitingStatus("waiting to be added to the ensemble"))
        elif not self.workload.running():
            event.add_status(ops.MaintenanceStatus("starting zookeeper"))
        elif not self.health.serving:
            event.add_status(ops.WaitingStatus("zookeeper started, waiting for quorum"))
        else:
            voters = self.health.voters
            members = f"{voters} member" + ("s" if voters != 1 else "")
            event.add_status(ops.ActiveStatus(f"{self.health.mode}, {members}"))

    def _on_get_super_password(self, event: ops.ActionEvent) -> None:
        peers = self.model.get_relation(PEER)
        cluster = peers.load(ClusterAppData, self.app) if peers else ClusterAppData()
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


if __name__ == "__main__":  # pragma: nocover
    ops.main(ZooKeeperCharm)
