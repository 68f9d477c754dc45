"""Pure: the Kubernetes objects the leader keeps beside Juju's own (a PodDisruptionBudget,
and the Service `expose-external` asks for), and what clients are told once they exist.

Both objects name the application's StatefulSet as their owner: Juju deletes the StatefulSet
when the application is removed, and Kubernetes' garbage collector then deletes them too,
whatever hooks ran or did not run.

The Service keeps the clients' source addresses (externalTrafficPolicy Local): ZooKeeper
counts connections per client IP (maxClientCnxns), and with the default policy every
outside client would arrive from a node's address. A NodePort then answers only on nodes
that run a unit, so those are the nodes clients are told.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterable, Mapping

from config import ExposeExternal
from layout import CLIENT_PORT, SECURE_CLIENT_PORT
from records import Record, frozen
from state import ClusterAppData, TLSPhase

# The label Juju gives every pod of an application (its StatefulSet's selector).
APP_LABEL = "app.kubernetes.io/name"
# Node addresses in the order a client outside the cluster can most likely use them.
NODE_ADDRESS_TYPES = ("ExternalIP", "ExternalDNS", "InternalIP", "InternalDNS", "Hostname")
PORT_NAMES = {CLIENT_PORT: "client", SECURE_CLIENT_PORT: "client-tls"}


def service_name(app: str) -> str:
    return f"{app}-external"


def pdb_name(app: str) -> str:
    return app


def client_ports(phase: TLSPhase, plaintext_on_loopback: bool) -> list[int]:
    """The client ports servers answer off the pod: plaintext unless TLS moved it to
    loopback, TLS from the first step of the switch on (tlsplan.py)."""
    ports = [] if plaintext_on_loopback else [CLIENT_PORT]
    return ports + ([SECURE_CLIENT_PORT] if phase is not TLSPhase.OFF else [])


def owner(statefulset: str, uid: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": statefulset, "uid": uid}


def pdb(app: str, namespace: str, owner_uid: str | None) -> dict:
    """At most one of the app's pods down by choice (a drain, an eviction): with three or
    more voters the quorum survives it. Juju's own pod replacements (upgrade, scale) delete
    pods directly and are not held back by it."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(pdb_name(app), namespace, app, owner_uid),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {APP_LABEL: app}}},
    }


def service(
    app: str, namespace: str, mode: ExposeExternal, ports: Iterable[int], owner_uid: str | None
) -> dict:
    kind = {ExposeExternal.NODEPORT: "NodePort", ExposeExternal.LOADBALANCER: "LoadBalancer"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(service_name(app), namespace, app, owner_uid),
        "spec": {
            "type": kind[mode],
            "selector": {APP_LABEL: app},
            "externalTrafficPolicy": "Local",
            "ports": [
                {"name": PORT_NAMES[p], "port": p, "targetPort": p, "protocol": "TCP"}
                for p in sorted(ports)
            ],
        },
    }


def _metadata(name: str, namespace: str, app: str, owner_uid: str | None) -> dict:
    meta: dict = {"name": name, "namespace": namespace}
    if owner_uid is not None:
        meta["ownerReferences"] = [owner(app, owner_uid)]
    return meta


@frozen
class Wanted(Record):
    """The objects one hook wants, without their owner's uid (the fingerprint is what
    Kubernetes must hold, the uid only where it comes from)."""

    app: str
    namespace: str
    mode: ExposeExternal
    ports: tuple[int, ...]

    @property
    def exposed(self) -> bool:
        return self.mode is not ExposeExternal.FALSE

    def manifests(self, owner_uid: str | None) -> list[dict]:
        objects = [pdb(self.app, self.namespace, owner_uid)]
        if self.exposed:
            objects.append(service(self.app, self.namespace, self.mode, self.ports, owner_uid))
        return objects

    @property
    def fingerprint(self) -> str:
        text = json.dumps(self.manifests(None), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def wanted(
    app: str, namespace: str, mode: ExposeExternal, phase: TLSPhase, plaintext_on_loopback: bool
) -> Wanted:
    return Wanted(app, namespace, mode, tuple(client_ports(phase, plaintext_on_loopback)))


def node_address(addresses: Iterable[tuple[str, str]]) -> str | None:
    """The address of a node (its status' (type, address) pairs) a client should use."""
    by_type: dict[str, str] = {}
    for kind, address in addresses:
        by_type.setdefault(kind, address)
    return next((by_type[t] for t in NODE_ADDRESS_TYPES if t in by_type), None)


def complete(cluster: ClusterAppData, ordinals: Iterable[int], wanted: Wanted) -> bool:
    """Whether what the leader recorded tells clients where every unit is, on every port."""
    if not wanted.exposed:
        return not cluster.external_hosts and not cluster.external_ports
    return set(cluster.external_hosts) == set(ordinals) and set(cluster.external_ports) == set(
        wanted.ports
    )


def endpoints(cluster: ClusterAppData, internal: list[str], port: int) -> tuple[list[str], int]:
    """The hosts and port a client is told for `port` (the client port it is to use): the
    Service's while the app is exposed and its addresses are known, else the pods' own.

    Clients outside Kubernetes can use only the Service; those inside reach node and
    load-balancer addresses too, so one answer serves both (a relation does not say
    where its client runs)."""
    external = cluster.external_ports.get(port)
    if external is None or not cluster.external_hosts:
        return internal, port
    hosts = sorted(set(cluster.external_hosts.values()), key=_host_order)
    return [_connectable(h) for h in hosts], external


def _host_order(host: str) -> tuple:
    """IPv4 addresses first, in numeric order, then IPv6, then names."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return (2, 0, host)
    return (0 if address.version == 4 else 1, int(address), host)


def _connectable(host: str) -> str:
    """As a ZooKeeper connect string needs it: an IPv6 address in brackets."""
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def sans(cluster: ClusterAppData, ordinal: int) -> tuple[list[str], list[str]]:
    """The external (DNS names, IP addresses) this unit's certificate must carry: clients
    that connect through the Service verify the server against the address they dialled."""
    host = cluster.external_hosts.get(ordinal)
    if host is None:
        return [], []
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return [host], []
    return [], [host]


def resolved(
    mode: ExposeExternal,
    ordinals: Iterable[int],
    service_ports: Mapping[int, int | None],
    pod_nodes: Mapping[int, str | None],
    node_addresses: Mapping[str, str | None],
    balancer: str | None,
) -> tuple[dict[int, str], dict[int, int]]:
    """What the leader records of the Service as Kubernetes reports it: each unit's
    address and the port for each client port. A unit or port not known yet is left out
    (the record is then incomplete, and a later hook looks again)."""
    if mode is ExposeExternal.FALSE:
        return {}, {}
    ports = {p: e for p, e in service_ports.items() if e}
    hosts: dict[int, str] = {}
    for ordinal in ordinals:
        if mode is ExposeExternal.LOADBALANCER:
            host = balancer
        else:
            node = pod_nodes.get(ordinal)
            host = node_addresses.get(node) if node else None
        if host:
            hosts[ordinal] = host
    return hosts, ports
