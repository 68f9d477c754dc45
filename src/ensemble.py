"""Pure ensemble arithmetic: identities, server strings and ZooKeeper's committed config."""

from __future__ import annotations

import dataclasses
import enum

from layout import CLIENT_PORT, ELECTION_PORT, LOOPBACK, QUORUM_PORT, Layout
from records import Record, frozen


class Role(enum.StrEnum):
    PARTICIPANT = "participant"
    OBSERVER = "observer"


def myid(ordinal: int) -> int:
    """ZooKeeper ids start at 1; StatefulSet ordinals at 0."""
    return ordinal + 1


def ordinal_of(unit_name: str) -> int:
    return int(unit_name.rsplit("/", 1)[1])


@dataclasses.dataclass(frozen=True, order=True)
class Server:
    """One line of ZooKeeper's dynamic config: server.<id>=<addr>:<q>:<e>:<role>;<client>."""

    id: int
    address: str
    role: Role = Role.PARTICIPANT
    client_host: str = "0.0.0.0"
    quorum_port: int = QUORUM_PORT
    election_port: int = ELECTION_PORT
    client_port: int = CLIENT_PORT

    @property
    def key(self) -> str:
        return f"server.{self.id}"

    @property
    def spec(self) -> str:
        return (
            f"{self.address}:{self.quorum_port}:{self.election_port}:{self.role}"
            f";{self.client_host}:{self.client_port}"
        )

    @property
    def line(self) -> str:
        return f"{self.key}={self.spec}"

    @classmethod
    def parse(cls, key: str, spec: str) -> Server:
        server_part, _, client_part = spec.partition(";")
        address, quorum, election, *rest = server_part.split(":")
        role = Role(rest[0]) if rest else Role.PARTICIPANT
        client_host, _, client_port = client_part.rpartition(":")
        return cls(
            id=int(key.removeprefix("server.")),
            address=address,
            role=role,
            client_host=client_host or "0.0.0.0",
            quorum_port=int(quorum),
            election_port=int(election),
            client_port=int(client_port or CLIENT_PORT),
        )


def server_for(
    layout: Layout,
    app: str,
    model: str,
    ordinal: int,
    role: Role = Role.PARTICIPANT,
    loopback: bool = False,
):
    address = layout.address(app, model, ordinal)
    return Server(myid(ordinal), address, role, client_host=layout.client_host(address, loopback))


def client_rebinds(committed: EnsembleConfig, client_host) -> tuple[Server, ...]:
    """The members whose plaintext client address is not `client_host(address)`, with it:
    ZooKeeper rebinds a member's client port when a reconfig changes it, without a restart."""
    return tuple(
        dataclasses.replace(s, client_host=client_host(s.address))
        for s in committed.servers
        if s.client_host != client_host(s.address)
    )


@frozen
class EnsembleConfig(Record):
    """ZooKeeper's committed membership, as in /zookeeper/config or a zoo.cfg.dynamic file."""

    servers: tuple[Server, ...]
    version: int | None = None

    @property
    def voters(self) -> tuple[Server, ...]:
        return tuple(s for s in self.servers if s.role is Role.PARTICIPANT)

    @property
    def plaintext_on_loopback(self) -> bool:
        """Whether some member takes plaintext clients on loopback only (TLS is on): other
        members are then reached on their TLS port."""
        return any(s.client_host == LOOPBACK for s in self.servers)

    @property
    def ids(self) -> frozenset[int]:
        return frozenset(s.id for s in self.servers)

    def lines(self) -> list[str]:
        """Server lines and the version, as published to peers (parse() reads them back)."""
        version = [] if self.version is None else [f"version={self.version:x}"]
        return [s.line for s in sorted(self.servers)] + version

    def render(self) -> str:
        """The dynamic config file's text (ZooKeeper adds the version itself)."""
        return "".join(f"{s.line}\n" for s in sorted(self.servers))

    @classmethod
    def parse(cls, text: str) -> EnsembleConfig:
        servers, version = [], None
        for raw in text.splitlines():
            key, sep, value = raw.strip().partition("=")
            if not sep:
                continue
            if key.startswith("server."):
                servers.append(Server.parse(key, value))
            elif key == "version":
                version = int(value, 16)
        return cls(tuple(sorted(servers)), version)


def ordinal_of_id(server_id: int) -> int:
    return server_id - 1


@frozen
class Step(Record):
    """One incremental reconfig: add these servers or remove these ids (never both)."""

    joining: tuple[Server, ...] = ()
    leaving: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.joining or self.leaving)


@frozen
class Plan(Record):
    """The next safe step towards the target membership, or why there is none."""

    step: Step = Step()
    # Set when membership differs from the target but no step is safe now.
    held: str | None = None


def _majority(alive: int, size: int) -> bool:
    return alive > size // 2


def plan_membership(
    committed: EnsembleConfig,
    planned_units: int,
    synced: frozenset[int],
    joiners: dict[int, Server],
) -> Plan:
    """Compute the next reconfig from ZooKeeper's committed config and what Juju says.

    planned_units: the application's scale. On Kubernetes the pods of scale N are ordinals
    0..N-1, so a voter whose ordinal is N or more is leaving, whatever the peer list says;
    a voter below N is never removed, even if its peer data has not arrived.
    synced: ordinals whose server reports it is serving (in sync with the leader).
    joiners: ordinal -> the server line it started with, for units not yet voting.

    Removals come first, one member at a time (down ones first, then highest first), because
    the pods are about to go; additions
    take every synced joiner in one reconfig (each is already in sync, so none can stall the
    new quorum).
    """
    if planned_units < 1 or not committed.servers:
        # Application teardown or no view of the ensemble: touch nothing.
        return Plan()
    voters = {s.id for s in committed.voters}
    healthy = {i for i in voters if ordinal_of_id(i) in synced}
    # A leaver that is down goes first: dropping it costs the quorum nothing, while dropping
    # a healthy one first could leave a config whose majority needs the one that is down.
    leaving = sorted(
        (i for i in voters if ordinal_of_id(i) >= planned_units),
        key=lambda i: (i not in healthy, i),
    )
    if leaving:
        victim = leaving[-1]
        remaining = voters - {victim}
        if not remaining:
            return Plan(held=f"member {victim} is the last voter")
        if not _majority(len(healthy), len(voters)) or not _majority(
            len(healthy & remaining), len(remaining)
        ):
            return Plan(
                held=f"cannot remove member {victim} safely: "
                f"{len(healthy)} of {len(voters)} members in sync"
            )
        return Plan(Step(leaving=(victim,)))
    adding = tuple(
        dataclasses.replace(server, role=Role.PARTICIPANT)
        for ordinal, server in sorted(joiners.items())
        if ordinal < planned_units and ordinal in synced and server.id not in voters
    )
    return Plan(Step(joining=adding)) if adding else Plan()


def zxid_lag(leader: int, member: int) -> int:
    """Transactions a member is behind the leader.

    A zxid is (epoch << 32 | counter). A member still on the previous epoch has seen none of
    the current epoch's transactions (it synced everything before them when it joined).
    """
    leader_epoch, leader_counter = leader >> 32, leader & 0xFFFFFFFF
    member_epoch, member_counter = member >> 32, member & 0xFFFFFFFF
    if member_epoch == leader_epoch:
        return max(leader_counter - member_counter, 0)
    return leader_counter if member_epoch < leader_epoch else 0
