"""Kubernetes shell: the StatefulSet's update partition and which pods run its new revision;
the objects the charm keeps beside Juju's (exposure.py builds them) and what they report.

On Juju Kubernetes the StatefulSet is named after the application and lives in the namespace
named after the model. lightkube is imported inside the methods: hooks that never touch the
Kubernetes API do not pay for the import.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)

REVISION_LABEL = "controller-revision-hash"


class K8sError(Exception):
    """The Kubernetes API could not be reached or refused the request; says what to fix."""

    def __init__(self, message: str, forbidden: bool = False):
        super().__init__(message)
        # Refused for want of permissions: only `juju trust` gets out of it.
        self.forbidden = forbidden


def _code(exc) -> int | None:
    code = getattr(getattr(exc, "status", None), "code", None)
    if code is None and getattr(exc, "response", None) is not None:
        code = exc.response.status_code
    return code


class Kubernetes:
    """The few StatefulSet operations an upgrade needs, over one (injectable) lightkube Client."""

    def __init__(self, app_name: str, client: Any = None):
        self.app_name = app_name
        self._client = client
        # Once Kubernetes refused this hook (no trust), nothing else is asked in it.
        self._forbidden: str | None = None
        # What the Service, pods and nodes said this hook, until the charm changes something:
        # a hook's later reconcile passes ask no second time.
        self._seen: dict[tuple, Any] = {}

    @property
    def client(self):
        if self._client is None:
            with self._errors("connect to the Kubernetes API"):
                from lightkube import Client

                self._client = Client(field_manager=self.app_name)
        return self._client

    def partition(self, statefulset: str, namespace: str) -> int | None:
        """The RollingUpdate partition, None if the StatefulSet sets none."""
        sts = self._statefulset(statefulset, namespace)
        strategy = sts.spec.updateStrategy if sts.spec else None
        rolling = strategy.rollingUpdate if strategy else None
        return rolling.partition if rolling else None

    def set_partition(self, statefulset: str, namespace: str, value: int) -> None:
        """Kubernetes replaces only pods whose ordinal is `value` or more."""
        from lightkube.resources.apps_v1 import StatefulSet
        from lightkube.types import PatchType

        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"partition must be a non-negative int, not {value!r}")
        # The partition means something only under RollingUpdate (Juju's default); naming the
        # type keeps the patch valid on its own.
        body = {
            "spec": {
                "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": value}}
            }
        }
        with self._errors(f"set the partition of StatefulSet {namespace}/{statefulset}"):
            self.client.patch(
                StatefulSet, statefulset, body, namespace=namespace, patch_type=PatchType.MERGE
            )
        logger.info("StatefulSet %s/%s: partition %d", namespace, statefulset, value)

    def update_revision(self, statefulset: str, namespace: str) -> str | None:
        """The revision new pods get (None until the controller has reported one)."""
        sts = self._statefulset(statefulset, namespace)
        return sts.status.updateRevision if sts.status else None

    def pod_upgraded(self, pod_name: str, statefulset: str, namespace: str) -> bool:
        """Whether the pod runs the StatefulSet's update revision."""
        from lightkube.resources.core_v1 import Pod

        wanted = self.update_revision(statefulset, namespace)
        with self._errors(f"read pod {namespace}/{pod_name}"):
            pod = self.client.get(Pod, pod_name, namespace=namespace)
        labels = (pod.metadata.labels if pod.metadata else None) or {}
        return wanted is not None and labels.get(REVISION_LABEL) == wanted

    def statefulset_uid(self, statefulset: str, namespace: str) -> str:
        sts = self._statefulset(statefulset, namespace)
        return sts.metadata.uid

    def apply(self, manifest: dict) -> None:
        """Server-side apply, as this app's field manager: fields it does not set (a
        Service's allocated node ports) stay as Kubernetes chose them."""
        from lightkube import codecs

        meta = manifest["metadata"]
        obj = codecs.from_dict(manifest)
        self._seen.clear()
        with self._errors(f"apply {manifest['kind']} {meta['namespace']}/{meta['name']}"):
            self.client.apply(obj, field_manager=self.app_name, force=True)
        logger.info("applied %s %s/%s", manifest["kind"], meta["namespace"], meta["name"])

    def delete_service(self, name: str, namespace: str) -> None:
        """Gone afterwards, whether or not it existed."""
        from lightkube.core.exceptions import ApiError
        from lightkube.resources.core_v1 import Service

        self._seen.clear()
        with self._errors(f"delete Service {namespace}/{name}"):
            try:
                self.client.delete(Service, name, namespace=namespace)
            except ApiError as exc:
                if _code(exc) != 404:
                    raise
                return
        logger.info("deleted Service %s/%s", namespace, name)

    def service_ports(self, name: str, namespace: str) -> tuple[dict[int, int | None], str | None]:
        """The Service's port -> node port, and its load balancer's address (None until
        the cloud provided one)."""
        from lightkube.resources.core_v1 import Service

        key = ("service", name, namespace)
        if key not in self._seen:
            with self._errors(f"read Service {namespace}/{name}"):
                self._seen[key] = self.client.get(Service, name, namespace=namespace)
        svc = self._seen[key]
        ports = {p.port: p.nodePort for p in (svc.spec.ports if svc.spec else None) or []}
        ingress = (
            svc.status.loadBalancer.ingress if svc.status and svc.status.loadBalancer else None
        )
        balancer = next((i.ip or i.hostname for i in ingress or [] if i.ip or i.hostname), None)
        return ports, balancer

    def pod_nodes(self, app: str, namespace: str) -> dict[str, str | None]:
        """Pod name -> the node it is scheduled on, for the app's pods."""
        from lightkube.resources.core_v1 import Pod

        with self._errors(f"list the pods of {namespace}/{app}"):
            pods = list(
                self.client.list(Pod, namespace=namespace, labels={"app.kubernetes.io/name": app})
            )
        return {p.metadata.name: p.spec.nodeName if p.spec else None for p in pods}

    def node_addresses(self) -> dict[str, list[tuple[str, str]]]:
        """Node name -> its (type, address) pairs."""
        from lightkube.resources.core_v1 import Node

        if ("nodes",) not in self._seen:
            with self._errors("list the nodes"):
                self._seen[("nodes",)] = list(self.client.list(Node))
        nodes = self._seen[("nodes",)]
        return {
            n.metadata.name: [
                (a.type, a.address)
                for a in (n.status.addresses if n.status and n.status.addresses else [])
            ]
            for n in nodes
        }

    def _statefulset(self, name: str, namespace: str):
        from lightkube.resources.apps_v1 import StatefulSet

        with self._errors(f"read StatefulSet {namespace}/{name}"):
            return self.client.get(StatefulSet, name, namespace=namespace)

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Every lightkube and HTTP failure becomes one K8sError naming the likely fix."""
        import httpx2
        from lightkube.core.exceptions import ApiError, ConfigError

        if self._forbidden is not None:
            raise K8sError(self._forbidden, forbidden=True)
        try:
            yield
        except ApiError as exc:
            message = self._api_message(doing, exc)
            if _code(exc) == 403:
                self._forbidden = message
            raise K8sError(message, forbidden=_code(exc) == 403) from exc
        except httpx2.HTTPError as exc:
            raise K8sError(
                f"cannot {doing}: the Kubernetes API did not answer ({exc!r}); "
                "the charm tries again on its next hook"
            ) from exc
        except ConfigError as exc:
            raise K8sError(
                f"cannot {doing}: no Kubernetes credentials in this pod ({exc}); "
                "the charm must run on a Juju Kubernetes model"
            ) from exc

    def _api_message(self, doing: str, exc) -> str:
        code = _code(exc)
        reason = getattr(getattr(exc, "status", None), "message", None) or str(exc)
        if code == 403:
            return (
                f"cannot {doing}: forbidden ({reason}); deploy with --trust "
                f"or run `juju trust {self.app_name} --scope=cluster`"
            )
        if code == 401:
            return (
                f"cannot {doing}: unauthorised ({reason}); the pod's service account token "
                "was rejected: check the model's Kubernetes credentials"
            )
        if code == 404:
            return (
                f"cannot {doing}: not found ({reason}); the StatefulSet is named after the "
                "application in the model's namespace"
            )
        return f"cannot {doing}: Kubernetes answered {code} ({reason})"
