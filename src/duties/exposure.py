"""The leader's duty to Kubernetes beside Juju's own objects: the PodDisruptionBudget, the
Service `expose-external` asks for, and where that Service lets clients reach each unit.

A hook asks Kubernetes only for what it cannot know from peer data: the objects when they
differ from the fingerprint of those last applied; the Service's addresses while they are
not all known; with node ports, the nodes the pods run on in every hook but update-status
(a unit whose pod moved to another node has just started its server again: its report
wakes the leader). Without `juju trust` the leader is blocked with the command to run and
update-status leaves Kubernetes alone; `juju trust` runs config-changed, which tries again.
"""

from __future__ import annotations

import logging

import exposure
import status
from config import ExposeExternal
from duties import NOTHING, Outcome
from ensemble import EnsembleConfig
from shells import Shells
from snapshot import Snapshot

logger = logging.getLogger(__name__)


def run(snap: Snapshot, io: Shells) -> Outcome:
    import k8s

    cluster, unit = snap.cluster, snap.unit
    published = snap.published or EnsembleConfig(())
    want = exposure.wanted(
        unit.app,
        unit.model,
        snap.config.expose_external,
        cluster.tls,
        published.plaintext_on_loopback,
    )
    fingerprint = want.fingerprint
    if cluster.k8s_forbidden == fingerprint and snap.periodic:
        return Outcome(blocked=status.trust_needed(unit.app))
    ordinals = sorted(snap.views)
    apply = fingerprint != cluster.k8s_applied
    known = exposure.complete(cluster, ordinals, want)
    look = want.exposed and (
        apply or not known or (want.mode is ExposeExternal.NODEPORT and not snap.periodic)
    )
    if not apply and not look:
        return NOTHING
    kube = io.kube()
    try:
        if apply:
            uid = kube.statefulset_uid(unit.app, unit.model)
            for manifest in want.manifests(uid):
                kube.apply(manifest)
            if not want.exposed:
                kube.delete_service(exposure.service_name(unit.app), unit.model)
        hosts, ports = _look(snap, kube, want, ordinals) if want.exposed else ({}, {})
    except k8s.K8sError as exc:
        if not exc.forbidden:
            return Outcome(held=f"waiting for Kubernetes: {exc}")
        logger.warning("%s", exc)
        refused = cluster.model_copy(update={"k8s_forbidden": fingerprint})
        return Outcome(cluster=refused, blocked=status.trust_needed(unit.app))
    cluster = cluster.model_copy(
        update={
            "k8s_applied": fingerprint,
            "k8s_forbidden": None,
            "external_hosts": hosts,
            "external_ports": ports,
        }
    )
    held = None
    if not exposure.complete(cluster, ordinals, want):
        held = status.waiting_for_external(want.mode)
    return Outcome(cluster=cluster, held=held)


def _look(snap: Snapshot, kube, want: exposure.Wanted, ordinals: list[int]):
    unit = snap.unit
    ports, balancer = kube.service_ports(exposure.service_name(unit.app), unit.model)
    pod_nodes: dict[int, str | None] = {}
    addresses: dict[str, str | None] = {}
    if want.mode is ExposeExternal.NODEPORT:
        prefix = f"{unit.app}-"
        for pod, node in kube.pod_nodes(unit.app, unit.model).items():
            if pod.startswith(prefix) and pod[len(prefix) :].isdigit():
                pod_nodes[int(pod[len(prefix) :])] = node
        addresses = {
            node: exposure.node_address(pairs) for node, pairs in kube.node_addresses().items()
        }
    else:
        # A load balancer listens on the Service's own ports.
        ports = {port: port for port in ports}
    return exposure.resolved(want.mode, ordinals, ports, pod_nodes, addresses, balancer)
