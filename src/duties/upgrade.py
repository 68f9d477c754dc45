"""The leader's duty in an upgrade (`juju refresh`): one pod at a time, never the ZooKeeper
leader's while it leads (upgrade.py decides; the StatefulSet partition holds the rest)."""

from __future__ import annotations

import admin
import upgrade
from duties import NOTHING, Outcome
from shells import Shells
from snapshot import Snapshot
from state import MemberState


def run(snap: Snapshot, io: Shells) -> Outcome:
    cluster = snap.cluster
    if cluster.upgrade_partition is None:
        return NOTHING
    import k8s

    kube = io.kube()
    try:
        refreshed = (
            kube.update_revision(snap.unit.app, snap.unit.model) != cluster.upgrade_from_revision
        )
        step = upgrade.next_step(
            view(snap, io),
            cluster.upgrade_partition,
            quorum_synced(snap, io),
            planned_units=snap.planned,
            refreshed=refreshed,
        )
        return apply(snap, io, step)
    except k8s.K8sError as exc:
        return Outcome(blocked=f"upgrade: {exc}")
    except admin.AdminError as exc:
        return Outcome(held=f"upgrade: cannot move ZooKeeper leadership yet: {exc}")


def view(snap: Snapshot, io: Shells) -> list[upgrade.Unit]:
    members = snap.published.voters if snap.published else ()
    # ZooKeeper's own answer, not peer data: right after a handover peer data is stale.
    reach = io.reach(snap.published)
    leaders = {
        s.id for s in members if admin.mntr(s.address, **reach).get("zk_server_state") == "leader"
    }
    kube, unit = io.kube(), snap.unit
    return [
        upgrade.Unit(
            ordinal=ordinal,
            upgraded=kube.pod_upgraded(io.pod_name(ordinal), unit.app, unit.model),
            serving=data.state is MemberState.SERVING,
            zk_leader=unit.server(ordinal).id in leaders,
        )
        for ordinal, data in snap.views.items()
    ]


def quorum_synced(snap: Snapshot, io: Shells) -> bool:
    hosts = snap.voter_addresses
    return admin.quorum_synced(hosts, len(hosts), **io.reach(snap.published))


def apply(snap: Snapshot, io: Shells, step: upgrade.Step) -> Outcome:
    cluster = snap.cluster
    if step.bounce_leader is not None:
        # Drop the leader from the voters and add it straight back: ZooKeeper hands
        # leadership to another member; the old leader keeps running and in sync.
        server = next(s for s in snap.published.servers if s.id == step.bounce_leader)
        zk = io.zookeeper(snap)
        zk.reconfig([], [server.id])
        zk.reconfig([server.line], [])
    elif step.partition is not None:
        io.kube().set_partition(snap.unit.app, snap.unit.model, step.partition)
        return Outcome(cluster=cluster.model_copy(update={"upgrade_partition": step.partition}))
    elif step.done:
        return Outcome(
            cluster=cluster.model_copy(
                update={"upgrade_partition": None, "upgrade_from_revision": None}
            )
        )
    elif step.wait:
        return Outcome(held=f"upgrade: {step.wait}")
    return NOTHING
