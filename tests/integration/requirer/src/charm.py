#!/usr/bin/env python3
"""A client charm of zookeeper-k8s built on the requirer library only, for the integration
tests ONLY (lib/charms/zookeeper_k8s/v0/zookeeper.py is copied into its tree when the test
builds it: tests/integration/test_clients.py).

It asks for the chroot in its `chroot` option (empty: /app-<application name>) and is active
once the library reports credentials. The library speaks data_interfaces v0 as Kafka's charm
does, so this is also what an existing v0 requirer sees.

The get-credentials action returns what it read, PASSWORD INCLUDED, so that the test can
connect to ZooKeeper as this app. That is acceptable only because this charm is a test
fixture: a real client must never put a password in action output (Juju keeps action
results and shows them to anyone who can read the model's operations).
"""

from __future__ import annotations

import ops

from charms.zookeeper_k8s.v0.zookeeper import ZooKeeperRequirer

RELATION = "zookeeper"


class RequirerCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.zookeeper = ZooKeeperRequirer(self, chroot=self.chroot, relation_name=RELATION)
        framework.observe(self.on.config_changed, self._on_config_changed)
        framework.observe(self.on.collect_unit_status, self._on_collect_status)
        framework.observe(self.on.get_credentials_action, self._on_get_credentials)

    @property
    def chroot(self) -> str:
        return str(self.config.get("chroot") or "") or f"/app-{self.app.name}"

    def _on_config_changed(self, _: ops.ConfigChangedEvent) -> None:
        self.zookeeper.ask()

    def credentials(self) -> dict[str, str]:
        """Every field as this app reads it now, in v0's names ({} until it is ready)."""
        relation = self.model.get_relation(RELATION)
        info = self.zookeeper.info(relation)
        if relation is None or info is None:
            return {}
        found = {
            "username": info.username,
            "password": info.password,
            "chroot": info.chroot,
            "database": info.chroot,
            "endpoints": info.servers,
            "uris": info.hosts,
            "tls": "enabled" if info.tls else "disabled",
            "version": info.version or "",
        }
        if info.tls_ca:
            found["tls-ca"] = info.tls_ca
        if uri := relation.data[relation.app].get("secret-user"):
            found["secret-user"] = uri
        return found

    def _on_collect_status(self, event: ops.CollectStatusEvent) -> None:
        if self.model.get_relation(RELATION) is None:
            event.add_status(ops.BlockedStatus("no zookeeper relation"))
        elif not self.credentials():
            event.add_status(ops.WaitingStatus("waiting for zookeeper"))
        else:
            event.add_status(ops.ActiveStatus(f"ready: {self.chroot}"))

    def _on_get_credentials(self, event: ops.ActionEvent) -> None:
        if self.model.get_relation(RELATION) is None:
            event.fail("no zookeeper relation")
            return
        found = self.credentials()
        if not found:
            event.fail("not ready: zookeeper has not answered yet")
            return
        # Test fixture only: the password goes into the action's results (see above).
        event.set_results(found)


if __name__ == "__main__":  # pragma: nocover
    ops.main(RequirerCharm)
