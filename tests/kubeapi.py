"""A stand-in Kubernetes API server behind lightkube's real client, at its HTTP transport
(httpx2.MockTransport, what lightkube 1.0's Client accepts as `transport`).

It keeps the objects the charm applies, as the API server would (server-side apply merges
into what is there; a NodePort Service gets node ports allocated once and keeps them), and
holds the StatefulSet, pods and nodes Juju and the cluster would have made. Every request
is recorded as (method, path, query, body) for tests to assert what the charm sent.
Objects are found by kind and name in whichever namespace is asked (state tests run in
models of different names); the paths recorded say which one the charm asked for.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from urllib.parse import parse_qs

import httpx2

SERVER = "https://kubernetes.test"
CONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "test", "cluster": {"server": SERVER}}],
    "users": [{"name": "test", "user": {"token": "not-a-real-token"}}],
    "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
    "current-context": "test",
}

# The collections the charm touches: path segment -> (kind, API path prefix, namespaced).
COLLECTIONS = {
    "statefulsets": ("StatefulSet", "/apis/apps/v1", True),
    "services": ("Service", "/api/v1", True),
    "poddisruptionbudgets": ("PodDisruptionBudget", "/apis/policy/v1", True),
    "pods": ("Pod", "/api/v1", True),
    "nodes": ("Node", "/api/v1", False),
}


@dataclasses.dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict
    body: dict | None

    @property
    def verb(self) -> str:
        """What kubectl would call it: get, list, apply, patch, delete."""
        if self.method == "PATCH":
            return "apply" if "fieldManager" in self.query else "patch"
        if self.method == "GET":
            return "get" if self.path.rsplit("/", 1)[1] not in COLLECTIONS else "list"
        return self.method.lower()


class KubeAPI:
    def __init__(self, namespace: str = "prod", app: str = "zookeeper-k8s", units: int = 3):
        self.namespace = namespace
        self.objects: dict[tuple[str, str], dict] = {}
        self.requests: list[Request] = []
        self.clients = 0  # lightkube clients made over this API
        self.forbidden = False  # no `juju trust`: every request is refused
        self.down = False  # the API server does not answer at all
        self.balancer: dict | None = None  # what a cloud load balancer reports, once ready
        self._uids = 0
        self._node_ports = 30000
        self._store(
            "statefulsets",
            {
                "metadata": {"name": app, "namespace": namespace},
                "spec": {
                    "replicas": units,
                    "serviceName": f"{app}-endpoints",
                    "selector": {"matchLabels": {"app.kubernetes.io/name": app}},
                    "template": {
                        "metadata": {"labels": {"app.kubernetes.io/name": app}},
                        "spec": {"containers": []},
                    },
                },
            },
        )
        for ordinal in range(units):
            self.schedule(app, ordinal, f"node-{ordinal}")
            self.add_node(f"node-{ordinal}", f"10.0.0.{ordinal + 1}")

    # -- what Juju and the cluster made ---------------------------------------------------

    def schedule(self, app: str, ordinal: int, node: str) -> None:
        self._store(
            "pods",
            {
                "metadata": {
                    "name": f"{app}-{ordinal}",
                    "namespace": self.namespace,
                    "labels": {"app.kubernetes.io/name": app},
                },
                "spec": {"nodeName": node, "containers": []},
            },
        )

    def add_node(self, name: str, internal: str, external: str | None = None) -> None:
        addresses = [
            {"type": "InternalIP", "address": internal},
            {"type": "Hostname", "address": name},
        ]
        if external:
            addresses.insert(0, {"type": "ExternalIP", "address": external})
        self._store("nodes", {"metadata": {"name": name}, "status": {"addresses": addresses}})

    def get(self, collection: str, name: str) -> dict | None:
        return self.objects.get((collection, name))

    # -- what tests look at ----------------------------------------------------------------

    def sent(self, *verbs: str) -> list[Request]:
        """The requests the charm sent, or those with these verbs."""
        return [r for r in self.requests if not verbs or r.verb in verbs]

    def writes(self) -> list[Request]:
        return self.sent("apply", "patch", "delete")

    # -- the transport ---------------------------------------------------------------------

    @property
    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self._handle)

    def client(self):
        """A lightkube client of this API, as the charm's in-cluster one would be."""
        from lightkube import Client
        from lightkube.config.kubeconfig import KubeConfig

        self.clients += 1
        return Client(config=KubeConfig.from_dict(CONFIG), transport=self.transport)

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content) if request.content else None
        query = {k: v[0] for k, v in parse_qs(request.url.query.decode()).items()}
        path = request.url.path
        self.requests.append(Request(request.method, path, query, body))
        if self.down:
            raise httpx2.ConnectError("connection refused", request=request)
        if self.forbidden:
            return _status(403, "Forbidden", f"{path} is forbidden: the app is not trusted")
        collection, namespace, name = _parse(path)
        if request.method == "GET" and name is None:
            return self._list(collection, namespace, query)
        key = (collection, name)
        if request.method == "GET":
            found = self.objects.get(key)
            return _json(found) if found else _status(404, "NotFound", f"{name} not found")
        if request.method == "DELETE":
            if self.objects.pop(key, None) is None:
                return _status(404, "NotFound", f"{name} not found")
            return _json({"kind": "Status", "apiVersion": "v1", "status": "Success"})
        if request.method == "PATCH":
            return _json(self._apply(key, body))
        return _status(405, "MethodNotAllowed", request.method)

    def _list(self, collection: str, namespace: str | None, query: dict) -> httpx2.Response:
        kind = COLLECTIONS[collection][0]
        wanted = dict(
            pair.split("=", 1) for pair in query.get("labelSelector", "").split(",") if pair
        )
        items = [
            obj
            for (c, _), obj in sorted(self.objects.items())
            if c == collection and wanted.items() <= obj["metadata"].get("labels", {}).items()
        ]
        return _json({"apiVersion": "v1", "kind": f"{kind}List", "metadata": {}, "items": items})

    def _apply(self, key, body: dict) -> dict:
        current = self.objects.get(key)
        merged = _merge(copy.deepcopy(current) if current else {}, body)
        if current is None:
            merged["metadata"]["uid"] = self._uid()
        if merged["kind"] == "Service":
            self._allocate(merged, current)
        self.objects[key] = merged
        return merged

    def _allocate(self, service: dict, before: dict | None) -> None:
        """Node ports as the API server allocates them: once per port, kept on re-apply."""
        kept = {
            p["port"]: p.get("nodePort") for p in (before or {}).get("spec", {}).get("ports", [])
        }
        if service["spec"].get("type") in ("NodePort", "LoadBalancer"):
            for port in service["spec"]["ports"]:
                port["nodePort"] = kept.get(port["port"]) or self._node_port()
        if service["spec"].get("type") == "LoadBalancer" and self.balancer:
            service["status"] = {"loadBalancer": {"ingress": [self.balancer]}}

    def _uid(self) -> str:
        self._uids += 1
        return f"uid-{self._uids}"

    def _node_port(self) -> int:
        self._node_ports += 1
        return self._node_ports

    def _store(self, collection: str, obj: dict) -> dict:
        kind, prefix, _ = COLLECTIONS[collection]
        obj = {"apiVersion": _api_version(prefix), "kind": kind, **obj}
        obj["metadata"].setdefault("uid", self._uid())
        self.objects[(collection, obj["metadata"]["name"])] = obj
        return obj


def _api_version(prefix: str) -> str:
    parts = prefix.strip("/").split("/")
    return "v1" if parts == ["api", "v1"] else "/".join(parts[1:])


def _parse(path: str) -> tuple[str, str | None, str | None]:
    parts = path.strip("/").split("/")
    parts = parts[2:] if parts[0] == "api" else parts[3:]
    namespace = None
    if parts[0] == "namespaces" and len(parts) > 2:
        namespace, parts = parts[1], parts[2:]
    return parts[0], namespace, parts[1] if len(parts) > 1 else None


def _merge(into: dict, patch: dict) -> dict:
    """Apply's merge as far as these objects need it: maps merge, lists are replaced (a
    Service's node ports are carried over by _allocate)."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)
    return into


def _json(obj: dict) -> httpx2.Response:
    return httpx2.Response(200, json=obj)


def _status(code: int, reason: str, message: str) -> httpx2.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return httpx2.Response(code, json=body)


@dataclasses.dataclass
class CharmKubernetes:
    """A charm class's `kubernetes()` over this API: the charm's own lightkube shell with a
    client of the stand-in. A descriptor, not a closure, so that a charm class made with it
    pickles (the benches hand live units' charms to child processes)."""

    api: KubeAPI

    def __get__(self, charm, owner=None):
        if charm is None:
            return self
        import k8s

        return lambda: k8s.Kubernetes(charm.app.name, client=self.api.client())
