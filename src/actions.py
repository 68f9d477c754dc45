"""Action handlers: thin, validated, each ending in the charm's one reconcile path."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ops

import admin
import rotation
import upgrade
from ensemble import zxid_lag
from layout import SUPER_USER
from state import PEER, ClusterAppData, ClusterUnitData, new_password

if TYPE_CHECKING:
    from charm import Inputs


class ActionsMixin:
    """Mixed into ZooKeeperCharm; uses its inputs, views, reconcile and shells."""

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

    def _leader_action_inputs(
        self, event: ops.ActionEvent, verb: str, resumes_halted: bool = False
    ) -> Inputs | None:
        """Inputs for an action that changes the whole ensemble, or fail it saying why.

        resumes_halted: the action may run while a roll is halted by a unit whose restart
        failed (the restart action: it is the way out that unit's status names).
        """
        if not self.unit.is_leader():
            event.fail(f"run this on the leader unit: juju run {self.app.name}/leader {verb}")
            return None
        inputs = self.inputs
        if isinstance(inputs, ops.StatusBase):
            event.fail(f"not now: {inputs.message}")
            return None
        views = self._views(inputs, inputs.peers.load(ClusterUnitData, self.unit))
        halted = any(v.failed_config for v in views.values())
        busy = inputs.cluster.restart_grant is not None or any(
            v.pending_config for v in views.values()
        )
        if resumes_halted and halted and not inputs.cluster.rotation:
            busy = False
        if busy or inputs.cluster.rotation or inputs.secret.super_password_previous:
            event.fail(
                "a rolling restart or password rotation is under way; "
                "retry when every unit is active"
            )
            return None
        return inputs

    def _on_rotate_passwords(self, event: ops.ActionEvent) -> None:
        users = event.params.get("users", "all")
        which = {"all": {"super", "sync"}, "super": {"super"}, "sync": {"sync"}}.get(users)
        if which is None:
            event.fail(f"users must be one of all, super, sync (got {users!r})")
            return
        inputs = self._leader_action_inputs(event, "rotate-passwords")
        if inputs is None:
            return
        secret, phase = rotation.start(inputs.secret, which, new_password(), new_password())
        self._store_secret(secret)
        inputs.cluster.rotation = phase
        inputs.peers.save(inputs.cluster, self.app)
        self._reconcile()
        event.set_results(
            {
                "rotating": ", ".join(sorted(which)),
                "secret-id": inputs.cluster.internal_secret_id,
                "progress": "units restart one at a time; watch juju status",
            }
        )

    def _on_restart(self, event: ops.ActionEvent) -> None:
        inputs = self._leader_action_inputs(event, "restart", resumes_halted=True)
        if inputs is None:
            return
        # New settings for every unit (the generation is part of them): a unit whose restart
        # failed tries again, and the halted roll goes on from there.
        inputs.cluster.restart_generation += 1
        inputs.cluster.restart_grant = None
        inputs.peers.save(inputs.cluster, self.app)
        self._reconcile()
        event.set_results({"restarting": "every unit, one at a time; watch juju status"})

    def _on_ensemble_status(self, event: ops.ActionEvent) -> None:
        inputs = self.inputs
        if isinstance(inputs, ops.StatusBase) or inputs.published is None:
            event.fail("no ensemble yet: wait for the units to start")
            return
        members = inputs.published.servers
        stats = {s.id: admin.server_stats(s.address) for s in members}
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
        version = inputs.published.version
        results["config-version"] = hex(version) if version is not None else "unknown"
        event.set_results(results)

    def _on_pre_upgrade_check(self, event: ops.ActionEvent) -> None:
        """Check that an upgrade is safe now; if it is, hold all pods but the highest."""
        inputs = self._leader_action_inputs(event, "pre-upgrade-check")
        if inputs is None:
            return
        import k8s

        me = inputs.peers.load(ClusterUnitData, self.unit)
        kube = self.kubernetes()
        planned = self.app.planned_units()
        try:
            view = self._upgrade_view(inputs, me, kube)
            synced = self._quorum_synced(inputs)
            reasons = upgrade.check(view, synced, roll_pending=False, planned_units=planned)
            if reasons:
                event.fail("not safe to upgrade now: " + "; ".join(reasons))
                return
            partition = upgrade.pre_upgrade_partition(planned)
            kube.set_partition(self.app.name, self.model.name, partition)
            inputs.cluster.upgrade_from_revision = kube.update_revision(
                self.app.name, self.model.name
            )
            inputs.cluster.upgrade_partition = partition
            inputs.peers.save(inputs.cluster, self.app)
            step = upgrade.next_step(
                view, partition, synced, planned_units=planned, refreshed=False
            )
            if step.bounce_leader is not None:
                self._apply_upgrade_step(inputs, step, kube)
        except k8s.K8sError as exc:
            event.fail(str(exc))
            return
        except admin.AdminError as exc:
            event.fail(f"could not move ZooKeeper leadership off the first pod: {exc}")
            return
        finally:
            self._close_zookeeper()
        event.set_results(
            {
                "safe": "yes",
                "partition": str(partition),
                "next": f"juju refresh {self.app.name}: pods are then replaced one at a time",
            }
        )
