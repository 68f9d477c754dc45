#!/usr/bin/env python3
"""A data_interfaces v0 requirer of the `zookeeper` relation, for the integration tests ONLY.

It speaks the protocol the way Kafka's charm does (docs/zookeeper-relation-protocol.md), as
the hand-written stand-in of tests/unit/test_protocol.py (`V0RequirerCharm`) does:

- The leader writes into its application databag `database` = the chroot it asks for (the
  `chroot` option; empty means /app-<application name>) and `requested-secrets` = Kafka's
  list, on relation-created and again whenever the option changes.
- It reads the provider's answer: `endpoints`, `database` (or `chroot`), `version` from the
  provider's databag; `username`, `password`, `uris` from the Juju secret in `secret-user`,
  and `tls`, `tls-ca` from the one in `secret-tls` (each requested field from its secret
  first, the databag only when that secret is absent), opened with v0's consumer label and
  `get_content(refresh=True)`.
- Ready (active) when Kafka's `zookeeper_connected` holds: username, password, endpoints,
  chroot and uris are all non-empty.

The get-credentials action returns what it read, PASSWORD INCLUDED, so that the test can
connect to ZooKeeper as this app. That is acceptable only because this charm is a test
fixture: a real client must never put a password in action output (Juju keeps action
results and shows them to anyone who can read the model's operations).
"""

from __future__ import annotations

import json
import logging

import ops

logger = logging.getLogger(__name__)

RELATION = "zookeeper"
# What Kafka's charm asks to receive through secrets.
REQUESTED_SECRETS = ["username", "password", "tls", "tls-ca", "uris"]
# data_interfaces v0: which secret group holds each secret field.
GROUPS = {"username": "user", "password": "user", "uris": "user", "tls": "tls", "tls-ca": "tls"}
FIELDS = ("endpoints", "database", "chroot", "version", *GROUPS)
READY = ("username", "password", "endpoints", "chroot", "uris")


class RequirerCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        relation = self.on[RELATION]
        for event in (
            relation.relation_created,
            self.on.config_changed,
            self.on.leader_elected,
            self.on.upgrade_charm,
        ):
            framework.observe(event, self._on_request)
        framework.observe(self.on.collect_unit_status, self._on_collect_status)
        framework.observe(self.on.get_credentials_action, self._on_get_credentials)

    @property
    def chroot(self) -> str:
        return str(self.config.get("chroot") or "") or f"/app-{self.app.name}"

    def _on_request(self, _: ops.EventBase) -> None:
        """The leader asks for its chroot (and the secrets) on every relation."""
        if not self.unit.is_leader():
            return
        request = {"database": self.chroot, "requested-secrets": json.dumps(REQUESTED_SECRETS)}
        for relation in self.model.relations[RELATION]:
            databag = relation.data[self.app]
            for key, value in request.items():
                if databag.get(key) != value:
                    databag[key] = value

    def _secret(self, relation: ops.Relation, group: str) -> dict[str, str]:
        uri = relation.data[relation.app].get(f"secret-{group}")
        if not uri:
            return {}
        label = f"{relation.name}.{relation.id}.{group}.secret"  # v0's consumer label
        try:
            return self.model.get_secret(id=uri, label=label).get_content(refresh=True)
        except (ops.SecretNotFoundError, ops.ModelError) as exc:
            # Not granted yet, or already removed (the relation is going).
            logger.info("secret-%s %s not readable: %s", group, uri, exc)
            return {}

    def credentials(self) -> dict[str, str]:
        """Every field as this app reads it now ({} without a relation)."""
        relation = self.model.get_relation(RELATION)
        if relation is None or relation.app is None:
            return {}
        bag = relation.data[relation.app]
        secrets = {group: self._secret(relation, group) for group in set(GROUPS.values())}
        found: dict[str, str] = {}
        for field in FIELDS:
            # A requested field comes from its group's secret; the databag only without one.
            group = secrets.get(GROUPS.get(field, ""))
            value = group.get(field) if group else bag.get(field)
            if value:
                found[field] = value
        # The granted chroot: `database` first, `chroot` from older providers.
        chroot = found.get("database") or found.get("chroot")
        if chroot:
            found["chroot"] = chroot
        if uri := bag.get("secret-user"):
            found["secret-user"] = uri
        return found

    def _on_collect_status(self, event: ops.CollectStatusEvent) -> None:
        if self.model.get_relation(RELATION) is None:
            event.add_status(ops.BlockedStatus("no zookeeper relation"))
            return
        found = self.credentials()
        missing = [key for key in READY if not found.get(key)]
        if missing:
            event.add_status(ops.WaitingStatus(f"waiting for zookeeper: {', '.join(missing)}"))
        else:
            event.add_status(ops.ActiveStatus(f"ready: {found['chroot']}"))

    def _on_get_credentials(self, event: ops.ActionEvent) -> None:
        if self.model.get_relation(RELATION) is None:
            event.fail("no zookeeper relation")
            return
        found = self.credentials()
        missing = [key for key in READY if not found.get(key)]
        if missing:
            event.fail(f"not ready, missing: {', '.join(missing)}")
            return
        # Test fixture only: the password goes into the action's results (see above).
        event.set_results(found)


if __name__ == "__main__":  # pragma: nocover
    ops.main(RequirerCharm)
