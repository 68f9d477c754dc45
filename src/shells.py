"""The I/O one hook does, behind one object the duties share: the workload's Pebble, the
hook's one ZooKeeper admin session, what each server says of itself, Kubernetes, secrets."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import tempfile
from collections.abc import Callable

import ops

import admin
from certificates import Certificates
from cos import Hook
from ensemble import EnsembleConfig
from snapshot import Identity, Snapshot, Space
from state import INTERNAL_SECRET_LABEL, PEER, ClusterAppData, ClusterUnitData, InternalSecret
from workload import Workload


class Shells:
    def __init__(
        self,
        model: ops.Model,
        identity: Identity,
        workload: Workload,
        kubernetes: Callable[[], object],
    ):
        self.model = model
        self.unit = identity
        self.workload = workload
        self._kubernetes = kubernetes
        self._kube = None
        self._health: admin.Health | None = None
        self._session: contextlib.ExitStack | None = None
        self._admin: admin.Admin | None = None
        # The certificates requirer, in the hooks that attach it (certificates.py).
        self.certificates: Certificates | None = None
        # What this hook does on the COS relations, in the hooks that do (cos.py).
        self.cos: Hook | None = None
        self._tls_reach: admin.Reach | None = None
        self._tls_dir: tempfile.TemporaryDirectory | None = None
        self._space: Space | bool | None = False  # False: not read yet this hook

    # -- this unit's server ---------------------------------------------------------------

    @property
    def health(self) -> admin.Health:
        """This unit's server as its admin server last said (one probe until asked again)."""
        if self._health is None:
            self._health = self._probe()
        return self._health

    def forget_health(self) -> None:
        """After something that changes it (a start or restart): the next look probes."""
        self._health = None

    def _probe(self) -> admin.Health:
        if not self.workload.reachable or not self.workload.running():
            return admin.NOT_RUNNING
        return admin.probe(self.unit.local_host)

    @property
    def space(self) -> Space | None:
        """Room on the data volume, read once a hook where Juju mounts the volume in the
        charm container too: the same filesystem ZooKeeper writes to."""
        if self._space is False:
            self._space = self._statvfs()
        return self._space  # type: ignore[return-value]

    def _statvfs(self) -> Space | None:
        try:
            stats = os.statvfs(self.unit.layout.charm_volume)
        except OSError:  # not mounted (yet): nothing to say about it
            return None
        return Space(free=stats.f_bavail * stats.f_frsize, total=stats.f_blocks * stats.f_frsize)

    # -- the other servers, as ZooKeeper itself says ----------------------------------------

    def reach(self, committed: EnsembleConfig | None) -> dict:
        """How to reach the other members' client ports, as admin's keyword arguments:
        plaintext (none) unless `committed` keeps plaintext clients on loopback (TLS on,
        tlsplan.py); then the TLS port, with this unit's stores (read once a hook)."""
        if committed is None or not committed.plaintext_on_loopback:
            return {}
        if self._tls_reach is None:
            layout = self.unit.layout
            self._tls_dir = tempfile.TemporaryDirectory(prefix="zk-tls-")
            paths = []
            for name, source in (("ca.pem", layout.truststore), ("unit.pem", layout.keystore)):
                path = pathlib.Path(self._tls_dir.name) / name
                path.touch(mode=0o600)
                path.write_text(self.workload.read(source) or "")
                paths.append(str(path))
            self._tls_reach = admin.tls_reach(*paths)
        return {"reach": self._tls_reach}

    def serving_now(self, ordinals, committed: EnsembleConfig | None = None) -> frozenset[int]:
        """Ordinals whose server says it serves now (srvr to each): removal decisions count
        health from here, never from peer data, which can lag a unit's pod and its vote."""
        reach = self.reach(committed)
        return frozenset(
            o for o in ordinals if admin.server_stats(self.unit.address_of(o), **reach)
        )

    def leading_now(self, ordinals, committed: EnsembleConfig | None = None) -> frozenset[int]:
        """Ordinals whose server says it is ZooKeeper's leader (empty if none answers)."""
        reach = self.reach(committed)
        return frozenset(
            o
            for o in ordinals
            if admin.server_stats(self.unit.address_of(o), **reach).get("mode") == "leader"
        )

    # -- the hook's one admin session ----------------------------------------------------

    def zookeeper(self, snapshot: Snapshot) -> admin.Admin:
        """Opened on first use (most hooks never need it), closed by close()."""
        return self.session(snapshot.super_passwords, snapshot.published)

    def session(self, passwords: list[str], published: EnsembleConfig | None) -> admin.Admin:
        if self._admin is None:
            others = tuple(
                s.address
                for s in (published or EnsembleConfig(())).servers
                if s.id != self.unit.myid
            )
            self._session = contextlib.ExitStack()
            self._admin = self._session.enter_context(
                admin.session(passwords, self.unit.local_host, fallbacks=others)
            )
        return self._admin

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session, self._admin = None, None
        if self._tls_dir is not None:
            self._tls_dir.cleanup()
        self._tls_dir, self._tls_reach = None, None

    # -- Juju ---------------------------------------------------------------------------

    @property
    def peers(self) -> ops.Relation | None:
        return self.model.get_relation(PEER)

    # databag(), not peers.save: ops saves a dataclass via dataclasses.asdict, which would
    # write the clients' records under attribute names (secret_id), not their keys.
    def save_cluster(self, cluster: ClusterAppData) -> None:
        peers = self.peers
        if peers is not None and peers.load(ClusterAppData, self.model.app) != cluster:
            peers.data[self.model.app].update(cluster.databag())

    def save_app_status(self, said: str) -> None:
        """Record the app status set, alone: an action's changes saved this hook stay."""
        peers = self.peers
        if peers is not None:
            _update(peers.data[self.model.app], {"app-status": json.dumps(said)})

    def save_me(self, me: ClusterUnitData) -> None:
        peers = self.peers
        if peers is not None and peers.load(ClusterUnitData, self.model.unit) != me:
            peers.data[self.model.unit].update(me.databag())

    def relations(self, endpoint: str) -> list[ops.Relation]:
        return list(self.model.relations[endpoint])

    def update_unit_data(self, relation: ops.Relation, data: dict[str, str]) -> None:
        _update(relation.data[self.model.unit], data)

    def update_app_data(self, relation: ops.Relation, data: dict[str, str]) -> None:
        _update(relation.data[self.model.app], data)

    def store_secret(
        self, content: InternalSecret, cluster: ClusterAppData
    ) -> tuple[InternalSecret, ClusterAppData]:
        """A new revision, its generation counted up; the cluster data publishing it, to
        save in the same hook (Juju shows both to other units once the hook ends)."""
        generation = str(int(cluster.secret_generation or 0) + 1)
        content = content.model_copy(update={"generation": generation})
        self.model.get_secret(label=INTERNAL_SECRET_LABEL).set_content(content.content())
        return content, cluster.model_copy(update={"secret_generation": generation})

    def kube(self):
        if self._kube is None:
            self._kube = self._kubernetes()
        return self._kube

    def pod_name(self, ordinal: int) -> str:
        return f"{self.unit.app}-{ordinal}"


def _update(bag: ops.RelationDataContent, data: dict[str, str]) -> None:
    # Each key written is a relation-set, and a changed bag wakes the other side.
    changed = {key: value for key, value in data.items() if bag.get(key) != value}
    if changed:
        bag.update(changed)
