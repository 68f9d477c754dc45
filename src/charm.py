#!/usr/bin/env python3
"""zookeeper-k8s: every event funnels into one idempotent reconcile()."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time

import ops

import admin
import clients
import provider
import render
import rolling
import rotation
import upgrade
from actions import ActionsMixin
from config import CharmConfig, InvalidConfigError, parse
from ensemble import (
    EnsembleConfig,
    Role,
    Server,
    myid,
    ordinal_of,
    ordinal_of_id,
    plan_membership,
    server_for,
)
from layout import CLIENT_PORT, K8S, Layout
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

# The dynamic file the charm writes to start a server; ZooKeeper writes the versioned ones.
START_DYNAMIC_FILE = "zoo.cfg.dynamic"
# Passes of one reconcile at most: a pass that changed shared state (a new password to roll
# with) is followed by one over a fresh snapshot.
MAX_PASSES = 3
# A joiner syncs in seconds; past this the leader adds it on a later hook.
JOIN_SYNC_TIMEOUT = 60.0
# A server with this many requests queued is struggling; say so in its status.
BUSY_OUTSTANDING_REQUESTS = 1000
# Enough reconfig steps for any scale change of a 7-member ensemble in one hook.
MAX_RECONFIG_STEPS = 8


def _leavers(voter_ids, planned: int) -> set[int]:
    return {i for i in voter_ids if ordinal_of_id(i) >= planned}


class LeaveError(Exception):
    """A leaving unit is still a voter: its teardown hook fails so that Juju retries it."""


@dataclasses.dataclass(frozen=True)
class Inputs:
    """Everything reconcile needs, gathered once per hook."""

    config: CharmConfig
    peers: ops.Relation
    cluster: ClusterAppData
    secret: InternalSecret

    @property
    def published(self) -> EnsembleConfig | None:
        members = self.cluster.members
        return None if members is None else EnsembleConfig.parse("\n".join(members))


class ZooKeeperCharm(ActionsMixin, ops.CharmBase):
    # Live tests swap this for a loopback layout; nothing else differs.
    layout: Layout = K8S
    # How long a restarted server may take to rejoin the quorum before the roll halts.
    restart_timeout: float = 120.0

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self._held: str | None = None  # why membership could not converge this hook
        self._blocked: str | None = None  # a user error found while reconciling
        self._left_out = False  # this server was left out of the config it runs (a joiner)
        self._inputs: Inputs | ops.StatusBase | None = None
        self._health: admin.Health | None = None
        self._again = False  # a duty changed what this pass's snapshot says: pass again
        self._session: contextlib.ExitStack | None = None  # the hook's one admin session
        self._admin: admin.Admin | None = None
        self.workload = Workload(self.unit.get_container(CONTAINER), self.layout)
        self.ordinal = ordinal_of(self.unit.name)
        self.address = self.layout.address(self.app.name, self.model.name, self.ordinal)
        for event in (
            self.on.install,
            self.on.start,
            self.on.config_changed,
            self.on.upgrade_charm,
            self.on.leader_elected,
            self.on.secret_changed,
            self.on.zookeeper_pebble_ready,
            # The workload wakes the charm: its watcher's notice, the health check's changes.
            self.on.zookeeper_pebble_custom_notice,
            self.on.zookeeper_pebble_check_failed,
            self.on.zookeeper_pebble_check_recovered,
            self.on.data_storage_attached,
            self.on[PEER].relation_created,
            self.on[PEER].relation_joined,
            self.on[PEER].relation_changed,
            self.on[provider.RELATION].relation_created,
            self.on[provider.RELATION].relation_changed,
            self.on[provider.RELATION].relation_broken,
        ):
            framework.observe(event, self._reconcile)
        framework.observe(self.on.update_status, self._on_update_status)
        # A leaving unit takes itself out of the vote from whichever of its teardown hooks
        # runs first: Juju gives them in no fixed order (see _on_teardown).
        for event in (
            self.on.stop,
            self.on.remove,
            self.on.data_storage_detaching,
            self.on[PEER].relation_broken,
        ):
            framework.observe(event, self._on_teardown)
        framework.observe(self.on[PEER].relation_departed, self._on_peer_departed)
        framework.observe(self.on.secret_remove, self._on_secret_remove)
        framework.observe(self.on.secret_expired, self._on_secret_expired)
        framework.observe(self.on.collect_unit_status, self._on_collect_unit_status)
        framework.observe(self.on.collect_app_status, self._on_collect_app_status)
        framework.observe(self.on.get_super_password_action, self._on_get_super_password)
        framework.observe(self.on.rotate_passwords_action, self._on_rotate_passwords)
        framework.observe(self.on.restart_action, self._on_restart)
        framework.observe(self.on.ensemble_status_action, self._on_ensemble_status)
        framework.observe(self.on.pre_upgrade_check_action, self._on_pre_upgrade_check)

    # -- inputs -------------------------------------------------------------------------

    @property
    def inputs(self) -> Inputs | ops.StatusBase:
        """This pass's snapshot of the hook's inputs, gathered once per pass (reconcile and
        collect-status both need it); a pass that changed shared state starts a new one."""
        if self._inputs is None:
            self._inputs = self._gather()
        return self._inputs

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

    @property
    def health(self) -> admin.Health:
        """This unit's server as its admin server last said (one probe until asked again)."""
        if self._health is None:
            self._health = self._probe()
        return self._health

    def _probe(self) -> admin.Health:
        if not self.workload.reachable or not self.workload.running():
            return admin.NOT_RUNNING
        return admin.probe(self.layout.local_host(self.address))

    def _probe_again(self) -> admin.Health:
        """After something that changes it (a restart, a wait for sync)."""
        self._health = None
        return self.health

    # -- reconcile ----------------------------------------------------------------------

    def _reconcile(self, _: ops.EventBase | None = None) -> None:
        """Passes of the one reconcile, each over a fresh snapshot, until one changes no
        shared state the next would read differently (bounded: no recursion)."""
        try:
            for _ in range(MAX_PASSES):
                self._inputs, self._health = None, None
                self._held = self._blocked = None
                self._again = False
                self._reconcile_once()
                if not self._again:
                    break
        finally:
            self._close_zookeeper()

    def zookeeper(self, inputs: Inputs) -> admin.Admin:
        """The hook's one admin session, opened on first use (most hooks never need it)."""
        if self._admin is None:
            published = inputs.published or EnsembleConfig(())
            others = tuple(s.address for s in published.servers if s.id != myid(self.ordinal))
            self._session = contextlib.ExitStack()
            self._admin = self._session.enter_context(
                admin.session(
                    self._super_passwords(inputs),
                    self.layout.local_host(self.address),
                    fallbacks=others,
                )
            )
        return self._admin

    def _close_zookeeper(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session, self._admin = None, None

    def _reconcile_once(self) -> None:
        if self.unit.is_leader():
            self._lead()
        inputs = self.inputs
        if isinstance(inputs, ops.StatusBase):
            return
        dynamic_file = self._dynamic_file(inputs)
        if dynamic_file is None:
            self._report(inputs.peers, MemberState.WAITING)
            return
        self.workload.ensure_dirs()
        layer = render.pebble_layer(inputs.config, self.layout, self.address)
        desired = self._write_files(inputs, dynamic_file, layer)
        me = inputs.peers.load(ClusterUnitData, self.unit)
        if me.failed_config == desired and self.health.serving:
            # It came back after all, later than the roll waited: it runs these settings.
            me.running_config, me.running_jaas = desired, self._jaas_fingerprint(inputs)
            me.failed_config = None
        if self._left_out:
            self.workload.restart()  # a non-voter: nobody depends on it
            self._left_out = False
        if not self.workload.running():
            # Nothing to roll: a stopped server starts with the new settings.
            self.workload.apply_layer(layer)
            self.workload.start()
            me.running_config, me.running_jaas = desired, self._jaas_fingerprint(inputs)
        elif me.running_config is None:
            # Running since before the charm tracked it.
            me.running_config, me.running_jaas = desired, self._jaas_fingerprint(inputs)
        me.pending_config = desired if me.running_config != desired else None
        if self.unit.is_leader():
            self._lead_roll(inputs, me)  # the leader may grant itself: no hook would follow
        if me.pending_config and inputs.cluster.restart_grant == self.ordinal:
            self._restart(inputs, layer, me, desired)
            me.pending_config = desired if me.running_config != desired else None
        self._probe_again()
        if not self._votes(inputs) and not self.health.serving:
            self._await_sync()
        me.state = MemberState.SERVING if self.health.serving else MemberState.STARTED
        me.mode = self.health.mode
        if me.failed_config != desired:
            me.failed_config = None  # new settings to try
        self._save_unit(inputs.peers, me)
        if self.unit.is_leader():
            self._converge(inputs)
            self._lead_roll(inputs, me)
            self._lead_rotation(inputs, me)
            self._lead_user_password(inputs, me)
            self._lead_upgrade(inputs, me)
            self._lead_clients(inputs)

    def _restart(self, inputs: Inputs, layer: dict, me: ClusterUnitData, desired: str) -> None:
        """This unit's turn in the roll: restart, then wait for ZooKeeper to say it is back."""
        members = inputs.published or EnsembleConfig(())
        hosts = [s.address for s in members.voters]
        voters = len(members.voters)
        if not admin.quorum_synced(hosts, voters):
            self._held = "waiting for every member to be in sync before restarting"
            return
        self.workload.apply_layer(layer)
        self.workload.restart()
        deadline = time.monotonic() + self.restart_timeout
        while time.monotonic() < deadline:
            if self._probe_again().serving and admin.quorum_synced(hosts, voters):
                me.running_config, me.failed_config = desired, None
                me.running_jaas = self._jaas_fingerprint(inputs)
                return
            time.sleep(0.5)
        logger.error("zookeeper did not rejoin the quorum within %ss", self.restart_timeout)
        me.failed_config = desired

    def _credentials(self, inputs: Inputs) -> render.Credentials:
        cluster = inputs.cluster
        return rotation.credentials(inputs.secret, cluster.quorum_generation, cluster.rotation)

    def _open_chroots(self, inputs: Inputs) -> list[str]:
        """The opted-in chroots for clients without credentials, if the option is valid."""
        paths = inputs.config.open_chroot_list
        if not paths or self._open_chroot_problems(inputs):
            return []
        return paths

    def _open_chroot_problems(self, inputs: Inputs) -> list[str]:
        granted = {
            rid: clients.Grant(rid, rec.app, rec.chroot, rec.perms)
            for rid, rec in inputs.cluster.clients.items()
        }
        return clients.open_chroot_problems(inputs.config.open_chroot_list, granted)

    def _lead_clients(self, inputs: Inputs) -> None:
        """Give each client relation its chroot, user and ACLs; take them back when it goes."""
        published = inputs.published or EnsembleConfig(())
        served_by = provider.Provider(
            self,
            inputs.cluster.clients,
            reserved=self._open_chroots(inputs),  # only a valid option reserves paths
            addresses=[s.address for s in published.voters],
            port=CLIENT_PORT,
            version=self.health.version or "unknown",
            zookeeper=lambda: self.zookeeper(inputs),
            delete_data=inputs.config.delete_client_data,
            refusing=lambda user, password, chroot: admin.refusing(
                [s.address for s in published.voters], user, password, chroot
            ),
            policy_digest=inputs.cluster.policy_digest,
        )
        try:
            served = served_by.serve()
        except admin.AdminError as exc:
            self._held = self._held or f"clients wait for ZooKeeper: {exc}"
            return
        if served.waiting:
            self._held = self._held or (
                f"relations {', '.join(map(str, served.waiting))}: waiting for every server "
                "to accept their users"
            )
        problems = served.problems + self._open_chroot_problems(inputs)
        if problems:
            self._blocked = self._blocked or "; ".join(problems)
        try:
            self._lead_open_chroots(inputs)
        except admin.AdminError as exc:
            self._held = self._held or f"open chroots wait for ZooKeeper: {exc}"
        if (served.records, served.policy_digest) != (
            inputs.cluster.clients,
            inputs.cluster.policy_digest,
        ):
            # Client users live in the policy znode, not in any server's files: nothing rolls.
            inputs.cluster.clients = served.records
            inputs.cluster.policy_digest = served.policy_digest
            inputs.peers.save(inputs.cluster, self.app)

    def _lead_open_chroots(self, inputs: Inputs) -> None:
        """Create the opted-in chroots, once, and close the root before auth goes off."""
        paths = self._open_chroots(inputs)
        done = inputs.cluster.open_chroots_made
        if set(paths) == set(done):
            return
        zk = self.zookeeper(inputs)
        zk.set_acls("/", clients.super_only())
        for path in paths:
            zk.ensure_chroot(path, clients.open_acls(), clients.super_only())
        for path in set(done) - set(paths):
            # No longer opted in: its data stays, closed to all but the super user.
            zk.set_tree_acls(path, clients.super_only())
        inputs.cluster.open_chroots_made = sorted(paths)
        inputs.peers.save(inputs.cluster, self.app)

    def _jaas_fingerprint(self, inputs: Inputs) -> str:
        return rolling.fingerprint([render.jaas(self._credentials(inputs))])

    def _super_passwords(self, inputs: Inputs) -> list[str]:
        return self._passwords(inputs.secret)

    @staticmethod
    def _passwords(secret: InternalSecret) -> list[str]:
        previous = secret.super_password_previous
        return [secret.super_password, *([previous] if previous else [])]

    def _views(self, inputs: Inputs, me: ClusterUnitData) -> dict[int, ClusterUnitData]:
        """Every unit's last report, this unit's as it is now."""
        peers = inputs.peers
        views = {ordinal_of(u.name): peers.load(ClusterUnitData, u) for u in peers.units}
        views[self.ordinal] = me
        return views

    def _lead_rotation(self, inputs: Inputs, me: ClusterUnitData) -> None:
        """Move a password rotation on once every server runs its current credentials."""
        secret, cluster = inputs.secret, inputs.cluster
        if cluster.rotation is None and secret.super_password_previous is None:
            return
        expected = self._jaas_fingerprint(inputs)
        if any(v.running_jaas != expected for v in self._views(inputs, me).values()):
            return
        step = rotation.advance(secret, cluster.quorum_generation, cluster.rotation)
        logger.info("password rotation: %s -> %s", cluster.rotation, step.phase or "done")
        self._store_secret(step.secret)
        cluster.quorum_generation, cluster.rotation = step.generation, step.phase
        inputs.peers.save(cluster, self.app)

    def _lead_user_password(self, inputs: Inputs, me: ClusterUnitData) -> None:
        """Rotate to the super password the admin put in the `system-users` secret."""
        secret_id = inputs.config.system_users
        if secret_id is None:
            return
        try:
            content = self.model.get_secret(id=secret_id).get_content(refresh=True)
        except ops.SecretNotFoundError:
            self._blocked = (
                f"system-users: secret {secret_id} not found or not granted: "
                f"juju grant-secret {secret_id} {self.app.name}"
            )
            return
        except ops.ModelError as exc:
            self._blocked = f"system-users: cannot read secret {secret_id}: {exc}"
            return
        password = content.get("super-password")
        problem = rotation.password_problem(password)
        if problem:
            self._blocked = f"system-users: super-password {problem}; add a new secret revision"
            return
        secret = inputs.secret
        if password in (secret.super_password, secret.super_password_previous):
            return
        views = self._views(inputs, me)
        if (
            inputs.cluster.rotation
            or secret.super_password_previous
            or any(v.pending_config for v in views.values())
        ):
            self._held = self._held or "system-users: new password waits for the current roll"
            return
        logger.info("rotating the super password to the one in system-users")
        rotated, _ = rotation.start(secret, {"super"}, password, "")
        self._store_secret(rotated)
        self._again = True  # the next pass rolls with the new password

    def kubernetes(self):
        """The lightkube shell (a method, so that tests can hand in a fake)."""
        import k8s

        return k8s.Kubernetes(self.app.name)

    def _upgrade_view(self, inputs: Inputs, me: ClusterUnitData, kube) -> list[upgrade.Unit]:
        members = inputs.published or EnsembleConfig(())
        # ZooKeeper's own answer, not peer data: right after a handover peer data is stale.
        leaders = {
            s.id
            for s in members.voters
            if admin.mntr(s.address).get("zk_server_state") == "leader"
        }
        return [
            upgrade.Unit(
                ordinal=ordinal,
                upgraded=kube.pod_upgraded(
                    f"{self.app.name}-{ordinal}", self.app.name, self.model.name
                ),
                serving=data.state is MemberState.SERVING,
                zk_leader=myid(ordinal) in leaders,
            )
            for ordinal, data in self._views(inputs, me).items()
        ]

    def _quorum_synced(self, inputs: Inputs) -> bool:
        members = inputs.published or EnsembleConfig(())
        return admin.quorum_synced([s.address for s in members.voters], len(members.voters))

    def _apply_upgrade_step(self, inputs: Inputs, step: upgrade.Step, kube) -> None:
        if step.bounce_leader is not None:
            # Drop the leader from the voters and add it straight back: ZooKeeper hands
            # leadership to another member; the old leader keeps running and in sync.
            server = next(s for s in inputs.published.servers if s.id == step.bounce_leader)
            zk = self.zookeeper(inputs)
            zk.reconfig([], [server.id])
            zk.reconfig([server.line], [])
        elif step.partition is not None:
            kube.set_partition(self.app.name, self.model.name, step.partition)
            inputs.cluster.upgrade_partition = step.partition
            inputs.peers.save(inputs.cluster, self.app)
        elif step.done:
            inputs.cluster.upgrade_partition = None
            inputs.cluster.upgrade_from_revision = None
            inputs.peers.save(inputs.cluster, self.app)
        elif step.wait:
            self._held = self._held or f"upgrade: {step.wait}"

    def _lead_upgrade(self, inputs: Inputs, me: ClusterUnitData) -> None:
        """Move an upgrade on: one pod at a time, never the ZooKeeper leader's while it leads."""
        cluster = inputs.cluster
        if cluster.upgrade_partition is None:
            return
        import k8s

        kube = self.kubernetes()
        try:
            refreshed = (
                kube.update_revision(self.app.name, self.model.name)
                != cluster.upgrade_from_revision
            )
            step = upgrade.next_step(
                self._upgrade_view(inputs, me, kube),
                cluster.upgrade_partition,
                self._quorum_synced(inputs),
                planned_units=self.app.planned_units(),
                refreshed=refreshed,
            )
            self._apply_upgrade_step(inputs, step, kube)
        except k8s.K8sError as exc:
            self._blocked = f"upgrade: {exc}"
        except admin.AdminError as exc:
            self._held = self._held or f"upgrade: cannot move ZooKeeper leadership yet: {exc}"

    def _store_secret(self, content: InternalSecret) -> None:
        self.model.get_secret(label=INTERNAL_SECRET_LABEL).set_content(content.content())

    def _lead_roll(self, inputs: Inputs, me: ClusterUnitData) -> None:
        """Grant the next restart: one unit at a time, the ZooKeeper leader last."""
        views = self._views(inputs, me)
        # Who leads now, asked of ZooKeeper while a roll is under way: peer data can be a
        # hook behind (a leader change, or a report this hook's view does not have yet).
        rolling_now = any(data.pending_config for data in views.values())
        leaders = self._leading_now(views) if rolling_now else frozenset()
        members = {
            ordinal: rolling.Member(
                pending=data.pending_config is not None,
                serving=data.state is MemberState.SERVING,
                zk_leader=ordinal in leaders if leaders else data.mode == "leader",
                failed=data.failed_config is not None,
                running=data.running_config,
                target=data.pending_config,
            )
            for ordinal, data in views.items()
        }
        decision = rolling.next_restart(members, inputs.cluster.restart_grant)
        upgrading = inputs.cluster.upgrade_partition is not None
        if upgrading and decision.grant not in (None, inputs.cluster.restart_grant):
            decision = rolling.Decision(held="rolling restart waits for the upgrade")
        self._held = self._held or decision.held
        if decision.grant != inputs.cluster.restart_grant:
            logger.info(
                "rolling restart: unit %s next (ZooKeeper leader %s)", decision.grant, leaders
            )
            inputs.cluster.restart_grant = decision.grant
            inputs.peers.save(inputs.cluster, self.app)

    def _on_update_status(self, _: ops.UpdateStatusEvent) -> None:
        """The periodic look: converge if something drifted, and log how the server is."""
        self._reconcile()
        health = self.health
        logger.info(
            "health: serving=%s mode=%s voters=%d outstanding=%d connections=%d zxid=%#x",
            health.serving,
            health.mode,
            health.voters,
            health.outstanding_requests,
            health.connections,
            health.zxid,
        )

    def _leaving(self) -> int | None:
        """The app's planned scale if this unit is being scaled away, else None.

        The pods of scale N are ordinals 0..N-1, and planned_units() drops as soon as the
        user scales down, before any teardown hook: a unit at or past N is leaving. Zero is
        the whole application going, where nothing is left to keep a quorum for.
        """
        planned = self.app.planned_units()
        return planned if 0 < planned <= self.ordinal else None

    def _on_peer_departed(self, event: ops.RelationDepartedEvent) -> None:
        if self._leaving() is not None:
            self._on_teardown(event)
        else:
            self._reconcile(event)  # the leader may have leavers to remove

    def _on_teardown(self, _: ops.EventBase) -> None:
        """A leaving unit's teardown hook: out of the vote before Juju lets the pod go.

        Juju deletes the pods only once every leaving unit has finished its teardown hooks,
        so failing here (Juju retries the hook) keeps this pod, and the quorum it is part
        of, alive until the removal is safe. Needs neither the peer relation nor the leader:
        the internal secret is found by its label and the membership is ZooKeeper's own.
        A pod restarted for any other reason keeps its place.
        """
        planned = self._leaving()
        if planned is None:
            return
        try:
            held = self._leave(planned)
        finally:
            self._close_zookeeper()
        if held:
            raise LeaveError(f"{self.unit.name} cannot leave the ensemble yet: {held}")

    def _leave(self, planned: int) -> str | None:
        """Remove every leaving voter; say why not if that is not safe or possible now."""
        if self.health.serving and not _leavers(self.health.voter_ids, planned):
            return None  # this server's committed config already counts no leaver
        secret = self._internal_secret_by_label()
        if secret is None:
            return "cannot read the internal secret"
        survivors = tuple(self._address_of(o) for o in range(planned))
        local = self.layout.local_host(self.address)
        try:
            with admin.session(self._passwords(secret), local, fallbacks=survivors) as zk:
                committed, held = self._step_membership(zk, planned, {})
        except admin.AdminError as exc:
            return f"ZooKeeper unreachable: {exc}"
        peers = self.model.get_relation(PEER)
        if self.unit.is_leader() and peers is not None:
            cluster = peers.load(ClusterAppData, self.app)
            cluster.members = committed.lines()
            peers.save(cluster, self.app)
        if _leavers({s.id for s in committed.voters}, planned):
            return held or "leaving members still vote"
        return None

    def _internal_secret_by_label(self) -> InternalSecret | None:
        # An app-owned secret: every unit of the app reads it by its label, with or without
        # the peer relation (gone after relation-broken).
        try:
            secret = self.model.get_secret(label=INTERNAL_SECRET_LABEL)
            return InternalSecret.model_validate(secret.get_content(refresh=True))
        except (ops.SecretNotFoundError, ops.ModelError):
            return None

    def _votes(self, inputs: Inputs) -> bool:
        published = inputs.published
        return published is not None and myid(self.ordinal) in {s.id for s in published.voters}

    def _await_sync(self) -> None:
        """A joiner syncs in seconds: wait for it here so the leader can add it at once."""
        deadline = time.monotonic() + JOIN_SYNC_TIMEOUT
        while self.workload.running() and time.monotonic() < deadline:
            if self._probe_again().serving:
                return
            time.sleep(0.5)

    def _reported_serving(self, peers: ops.Relation) -> frozenset[int]:
        """Ordinals whose unit last said its server serves: cheap, but only a hint."""
        serving = {
            ordinal_of(unit.name)
            for unit in peers.units
            if peers.load(ClusterUnitData, unit).state is MemberState.SERVING
        }
        if self.health.serving:
            serving.add(self.ordinal)
        return frozenset(serving)

    def _serving_now(self, ordinals) -> frozenset[int]:
        """Ordinals whose server ZooKeeper itself says serves now (srvr to each).

        Removal decisions count health from here, never from peer data: the units leaving
        may already be gone from this unit's view of the relation while their pods (and
        votes) are still there.
        """
        return frozenset(o for o in ordinals if admin.server_stats(self._address_of(o)))

    def _leading_now(self, ordinals) -> frozenset[int]:
        """Ordinals whose server says it is ZooKeeper's leader (empty if none answers)."""
        return frozenset(
            o for o in ordinals if admin.server_stats(self._address_of(o)).get("mode") == "leader"
        )

    def _address_of(self, ordinal: int) -> str:
        return self.layout.address(self.app.name, self.model.name, ordinal)

    def _step_membership(
        self, zk: admin.Admin, planned: int, joiners: dict[int, Server]
    ) -> tuple[EnsembleConfig, str | None]:
        """Reconfig step by step towards `planned` voters; the committed config and why it
        stopped short, if it did."""
        committed = zk.committed_config()
        held = None
        for _ in range(MAX_RECONFIG_STEPS):
            candidates = {ordinal_of_id(i) for i in committed.ids} | set(joiners)
            plan = plan_membership(committed, planned, self._serving_now(candidates), joiners)
            held = plan.held
            if not plan.step:
                break
            logger.info("reconfig: adding %s, removing %s", plan.step.joining, plan.step.leaving)
            committed = zk.reconfig([s.line for s in plan.step.joining], list(plan.step.leaving))
        return committed, held

    def _converge(self, inputs: Inputs) -> None:
        """Step ZooKeeper's membership towards the units Juju plans, in one admin session."""
        planned = self.app.planned_units()
        reported = self._reported_serving(inputs.peers)
        joiners = {o: self._server(o) for o in reported}
        published = inputs.published or EnsembleConfig(())
        expected = plan_membership(published, planned, reported, joiners)
        if not expected.step and not expected.held:
            return  # what the leader last saw is what Juju plans: no session needed
        try:
            committed, self._held = self._step_membership(self.zookeeper(inputs), planned, joiners)
        except admin.AdminError as exc:
            logger.warning("membership change deferred to the next hook: %s", exc)
            self._held = "cannot reach ZooKeeper to change membership; retrying on the next hook"
            return
        if self.unit.is_leader():
            inputs.cluster.members = committed.lines()
            inputs.peers.save(inputs.cluster, self.app)

    def _server(self, ordinal: int, role: Role = Role.PARTICIPANT) -> Server:
        return server_for(self.layout, self.app.name, self.model.name, ordinal, role)

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
        if cluster.members is None:
            cluster.members = [self._server(o).line for o in cluster.bootstrap_members]
        peers.save(cluster, self.app)

    def _dynamic_file(self, inputs: Inputs) -> str | None:
        """The dynamic config file this unit's server runs with.

        ZooKeeper's own latest file if this unit votes (or its server runs); otherwise the
        committed ensemble the leader published, plus this unit as an observer: a joiner
        syncs as a non-voter and the leader then adds it (ZooKeeper's reconfig guide).
        """
        published = inputs.published
        if published is None:
            return None  # the leader has not published the ensemble yet
        on_disk = self.workload.read(self.layout.zoo_cfg)
        current = render.parse_properties(on_disk or "").get("dynamicConfigFile")
        have_current = bool(current) and self.workload.exists(current)
        if have_current and (self._votes(inputs) or self.workload.running()):
            if self._votes(inputs) or myid(self.ordinal) in self._ids_in(current):
                return current
            # A joiner whose server ZooKeeper left out: it synced as an observer, then the
            # leader committed a config that added another joiner without it, and a server
            # outside its own config never serves again. It votes nowhere: start it afresh.
            logger.warning("this server was left out of the ensemble's config; restarting it")
            self._left_out = True
        me = self._server(self.ordinal, Role.PARTICIPANT if self._votes(inputs) else Role.OBSERVER)
        others = tuple(s for s in published.servers if s.id != me.id)
        path = str(self.layout.conf_dir / START_DYNAMIC_FILE)
        self.workload.ensure_dirs()
        self.workload.write(path, EnsembleConfig((*others, me)).render())
        return path

    def _ids_in(self, dynamic_file: str) -> frozenset[int]:
        return EnsembleConfig.parse(self.workload.read(dynamic_file) or "").ids

    def _write_files(self, inputs: Inputs, dynamic_file: str, layer: dict) -> str:
        """Write what differs; return the fingerprint of what a (re)started server reads.

        Files are written at once, restarts wait for the roll: a server reads its files only
        when it starts, and one that crashes meanwhile comes back with the new settings.
        """
        layout = self.layout
        jaas = render.jaas(self._credentials(inputs))
        log_config = render.log_config(layout, inputs.config.log_level)
        wanted = {
            layout.myid: render.myid_file(myid(self.ordinal)),
            layout.jaas: jaas,
            layout.log_config: log_config,
        }
        for path, text in wanted.items():
            if self.workload.read(path) != text:
                self.workload.write(path, text, secret=path == layout.jaas)
        zoo_cfg = render.zoo_cfg(
            inputs.config,
            layout,
            self.address,
            dynamic_file,
            enforce_auth=not self._open_chroots(inputs),
        )
        on_disk = self.workload.read(layout.zoo_cfg) or ""
        # ZooKeeper rewrites zoo.cfg itself; only a change in the charm's settings counts.
        if render.parse_properties(on_disk).get("dynamicConfigFile") != dynamic_file or (
            render.static_settings(on_disk) != render.static_settings(zoo_cfg)
        ):
            self.workload.write(layout.zoo_cfg, zoo_cfg)
        static = render.static_settings(zoo_cfg)
        return rolling.fingerprint(
            [
                *(f"{key}={value}" for key, value in sorted(static.items())),
                jaas,
                # logback rereads its file while running: a log level needs no restart.
                "" if layout.live_log_config else log_config,
                json.dumps(layer, sort_keys=True),
                str(inputs.cluster.restart_generation),
            ]
        )

    def _save_unit(self, peers: ops.Relation, data: ClusterUnitData) -> None:
        if peers.load(ClusterUnitData, self.unit) != data:
            peers.save(data, self.unit)

    def _report(self, peers: ops.Relation, state: MemberState) -> None:
        me = peers.load(ClusterUnitData, self.unit)
        self._save_unit(peers, me.model_copy(update={"state": state}))

    # -- status ---------------------------------------------------------------------------

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

    def _on_collect_app_status(self, event: ops.CollectStatusEvent) -> None:
        """What `juju status` shows for the application (the leader's view)."""
        inputs = self._add_pass_statuses(event)
        if inputs is None:
            return
        published = inputs.published
        if published is None:
            event.add_status(ops.WaitingStatus("the ensemble is forming"))
            return
        voters, planned = len(published.voters), self.app.planned_units()
        if voters != planned:
            event.add_status(
                ops.MaintenanceStatus(f"{voters} voting members, moving to {planned}")
            )
        clients_served = len(inputs.cluster.clients)
        event.add_status(
            ops.ActiveStatus(
                f"{voters} voting members, {clients_served} client app"
                + ("" if clients_served == 1 else "s")
            )
        )

    def _add_pass_statuses(self, event: ops.CollectStatusEvent) -> Inputs | None:
        """What this hook's reconcile found (bad inputs, a hold, a user error), for the unit's
        status and the app's alike; the inputs, if they were good enough to go on."""
        inputs = self.inputs
        if isinstance(inputs, ops.StatusBase):
            event.add_status(inputs)
            return None
        if self._held:
            event.add_status(ops.WaitingStatus(self._held))
        if self._blocked:
            event.add_status(ops.BlockedStatus(self._blocked))
        return inputs

    def _on_collect_unit_status(self, event: ops.CollectStatusEvent) -> None:
        inputs = self._add_pass_statuses(event)
        if inputs is None:
            return
        me = inputs.peers.load(ClusterUnitData, self.unit)
        if me.failed_config is not None:
            event.add_status(
                ops.BlockedStatus(
                    f"restart failed: zookeeper did not rejoin the quorum within "
                    f"{self.restart_timeout:.0f}s; fix the cause, then run the restart action"
                )
            )
        elif me.pending_config is not None:
            event.add_status(ops.MaintenanceStatus("settings changed: waiting to restart in turn"))
        if inputs.published is None:
            event.add_status(ops.WaitingStatus("waiting for the leader to publish the ensemble"))
        elif not self.workload.running():
            event.add_status(ops.MaintenanceStatus("starting zookeeper"))
        elif not self.health.serving:
            event.add_status(ops.WaitingStatus("zookeeper started, waiting for quorum"))
        elif not self._votes(inputs):
            event.add_status(ops.WaitingStatus("in sync, waiting to be added to the ensemble"))
        else:
            event.add_status(ops.ActiveStatus(self._serving_message()))

    def _serving_message(self) -> str:
        voters = self.health.voters
        message = f"{self.health.mode}, {voters} member" + ("s" if voters != 1 else "")
        if voters % 2 == 0:
            message += f" (even: tolerates {voters // 2 - 1} failure(s), like {voters - 1})"
        if self.health.outstanding_requests >= BUSY_OUTSTANDING_REQUESTS:
            message += f"; {self.health.outstanding_requests} requests queued"
        return message


if __name__ == "__main__":  # pragma: nocover
    import gc

    # Every hook is a fresh process: skip collecting the import graph at exit (~50 ms).
    gc.freeze()
    ops.main(ZooKeeperCharm)
