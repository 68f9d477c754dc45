"""Kubernetes shell: the StatefulSet's update partition and which pods run its new revision.

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


class Kubernetes:
    """The few StatefulSet operations an upgrade needs, over one (injectable) lightkube Client."""

    def __init__(self, app_name: str, client: Any = None):
        self.app_name = app_name
        self._client = client

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

    def _statefulset(self, name: str, namespace: str):
        from lightkube.resources.apps_v1 import StatefulSet

        with self._errors(f"read StatefulSet {namespace}/{name}"):
            return self.client.get(StatefulSet, name, namespace=namespace)

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Every lightkube and HTTP failure becomes one K8sError naming the likely fix."""
        import httpx2
        from lightkube.core.exceptions import ApiError, ConfigError

        try:
            yield
        except ApiError as exc:
            raise K8sError(self._api_message(doing, exc)) from exc
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
        status = getattr(exc, "status", None)
        code = getattr(status, "code", None)
        if code is None and getattr(exc, "response", None) is not None:
            code = exc.response.status_code
        reason = getattr(status, "message", None) or str(exc)
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
