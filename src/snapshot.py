"""The inputs of one reconcile pass, read once and never changed: a duty that wants a change
returns it (duties/__init__.py), and the pass goes on over a new snapshot with it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import PurePosixPath

import ops

import clients
import cos
import render
import rolling
import rotation
from certificates import RELATION
from config import CharmConfig, InvalidConfigError, parse
from ensemble import EnsembleConfig, Role, Server, myid, ordinal_of, server_for
from layout import Layout
from records import Record, frozen
from state import PEER, ClusterAppData, ClusterUnitData, InternalSecret


@frozen
class Identity(Record):
    """Who this unit is: fixed for the life of its pod."""

    app: str
    model: str
    ordinal: int
    layout: Layout

    @property
    def myid(self) -> int:
        return myid(self.ordinal)

    @property
    def address(self) -> str:
        return self.address_of(self.ordinal)

    @property
    def local_host(self) -> str:
        """Where this unit's charm reaches its own server."""
        return self.layout.local_host(self.address)

    def address_of(self, ordinal: int) -> str:
        return self.layout.address(self.app, self.model, ordinal)

    def server(
        self, ordinal: int, role: Role = Role.PARTICIPANT, loopback: bool = False
    ) -> Server:
        return server_for(self.layout, self.app, self.model, ordinal, role, loopback)


@frozen
class Space(Record):
    """Room on the unit's data volume, in bytes, as the charm container sees its mount."""

    free: int  # what a non-root writer (ZooKeeper) may still use
    total: int


@frozen
class Snapshot(Record):
    unit: Identity
    leader: bool
    config: CharmConfig
    cluster: ClusterAppData
    secret: InternalSecret
    me: ClusterUnitData
    # What only the leader acts on (read on the leader only: each is a hook tool call):
    # Juju's planned_units(), and the other units' last reports as this hook sees them.
    planned: int | None = None
    others: Mapping[int, ClusterUnitData] = dataclasses.field(default_factory=dict)
    # Whether a certificates relation exists (leader only): TLS is to be on.
    tls_wanted: bool = False
    # The hook is update-status: only what cannot wait is done.
    periodic: bool = False
    # The leader's update-status while settled (ClusterAppData.settled): neither the other
    # units' reports nor planned_units() were read (two hook tools and more a unit).
    own_only: bool = False
    # Room on the data volume (None: no volume attached, or it cannot be read).
    space: Space | None = None

    def but(self, **changes) -> Snapshot:
        return dataclasses.replace(self, **changes)

    @property
    def published(self) -> EnsembleConfig | None:
        """The committed ensemble the leader last published (None before bootstrap)."""
        members = self.cluster.members
        return None if members is None else EnsembleConfig.parse("\n".join(members))

    @property
    def voter_addresses(self) -> list[str]:
        return [s.address for s in (self.published or EnsembleConfig(())).voters]

    @property
    def votes(self) -> bool:
        published = self.published
        return published is not None and self.unit.myid in {s.id for s in published.voters}

    @property
    def views(self) -> dict[int, ClusterUnitData]:
        """Every unit's last report, this unit's as it is now."""
        if self.own_only:
            # Loud rather than a partial view: a duty needing it must not run in such a pass.
            raise RuntimeError("the other units' reports were not read in this pass")
        return {**self.others, self.unit.ordinal: self.me}

    @property
    def super_passwords(self) -> list[str]:
        return passwords(self.secret)

    @property
    def credentials(self) -> render.Credentials:
        cluster = self.cluster
        return rotation.credentials(self.secret, cluster.quorum_generation, cluster.rotation)

    @property
    def jaas_fingerprint(self) -> str:
        return rolling.fingerprint([render.jaas(self.credentials)])

    @property
    def backup_digest(self) -> str:
        """The digest the backup identity is checked against (admin.BACKUP_USER): of the
        super password, so that rotating it rotates this too, in the same roll."""
        import admin

        return admin.super_digest(self.secret.super_password)

    @property
    def data_dir(self) -> PurePosixPath:
        """The data directory every server runs on (a restore moves it)."""
        layout = self.unit.layout
        name = self.cluster.data_dir
        return layout.storage / name if name else layout.data_dir

    @property
    def open_chroot_problems(self) -> list[str]:
        granted = {
            rid: clients.Grant(rid, rec.app, rec.chroot, rec.perms)
            for rid, rec in self.cluster.clients.items()
        }
        return clients.open_chroot_problems(self.config.open_chroot_list, granted)

    @property
    def open_chroots(self) -> list[str]:
        """The opted-in chroots for clients without credentials, if the option is valid."""
        paths = self.config.open_chroot_list
        return [] if not paths or self.open_chroot_problems else paths


def passwords(secret: InternalSecret) -> list[str]:
    """The super passwords a server may accept now: the new one first during a rotation."""
    previous = secret.super_password_previous
    return [secret.super_password, *([previous] if previous else [])]


_ANY = object()


def internal_secret(
    model: ops.Model, generation: object = _ANY, **where: str
) -> InternalSecret | None:
    """The internal secret by id or by its label (a leaving unit may no longer have the
    peer relation that holds the id; every unit of the app can read it by label).

    `generation`: the one the leader says the latest revision holds. The revision this unit
    tracks is read first (one secret-get); only if it holds another generation is the latest
    read, and tracked from then on. Without it, the latest is always read (two secret-gets).
    """
    try:
        secret = model.get_secret(**where)
        if generation is not _ANY:
            tracked = InternalSecret.model_validate(secret.get_content())
            if tracked.generation == generation:
                return tracked
        return InternalSecret.model_validate(secret.get_content(refresh=True))
    except (ops.SecretNotFoundError, ops.ModelError):
        return None


def gather(
    model: ops.Model,
    identity: Identity,
    reachable: bool,
    config: Mapping,
    certificates_hook: bool = False,
    own_only_if_settled: bool = False,
    space: Space | None = None,
) -> Snapshot | ops.StatusBase:
    """Read the world once; a status says why reconcile cannot go on yet.

    `certificates_hook`: this hook may have changed the certificates relation (its own hooks
    and those that attach its requirer); only then does the leader look at it, other hooks
    go by what the leader recorded (a relation comes and goes with hooks on every unit).
    `own_only_if_settled`: a leader whose last full pass settled reads only its own unit."""
    try:
        charm_config = parse(dict(config))
    except InvalidConfigError as exc:
        return ops.BlockedStatus(f"invalid config: {exc}")
    peers = model.get_relation(PEER)
    if peers is None:
        return ops.WaitingStatus("waiting for the peer relation")
    cluster = peers.load(ClusterAppData, model.app)
    secret = (
        internal_secret(model, cluster.secret_generation, id=cluster.internal_secret_id)
        if cluster.internal_secret_id
        else None
    )
    if secret is None:
        return ops.WaitingStatus("waiting for the leader to create credentials")
    if not reachable:
        return ops.WaitingStatus("waiting for the zookeeper container")
    leader = model.unit.is_leader()
    own_only = leader and own_only_if_settled and cluster.settled
    everyone = leader and not own_only
    return Snapshot(
        unit=identity,
        leader=leader,
        config=charm_config,
        cluster=cluster,
        secret=secret,
        me=peers.load(ClusterUnitData, model.unit),
        planned=model.app.planned_units() if everyone else None,
        others={ordinal_of(u.name): peers.load(ClusterUnitData, u) for u in peers.units}
        if everyone
        else {},
        own_only=own_only,
        tls_wanted=leader
        and (
            model.get_relation(RELATION) is not None if certificates_hook else cluster.tls_related
        ),
        space=space,
    )


def observe(model: ops.Model, identity: Identity, hook: cos.Hook) -> cos.Inputs:
    """The COS duty's inputs. Read whatever ZooKeeper's own state is: Prometheus, Grafana
    and Loki may be related before the ensemble exists, and these hooks are the only ones
    that look at them."""
    loki: dict[str, str] = {}
    if hook.forward:
        for relation in model.relations[cos.LOGGING]:
            loki |= cos.loki_endpoints({u.name: relation.data[u] for u in relation.units})
    topology = cos.Topology(
        model=model.name,
        model_uuid=model.uuid,
        application=model.app.name,
        unit=model.unit.name,
        charm_name=hook.charm_name,
    )
    return cos.Inputs(
        hook=hook,
        leader=model.unit.is_leader(),
        topology=topology,
        address=identity.address,
        loki=loki,
    )
