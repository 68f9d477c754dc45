"""Pure ensemble arithmetic: identities, server strings and ZooKeeper's committed config."""

from __future__ import annotations

import dataclasses
import enum

from layout import CLIENT_PORT, ELECTION_PORT, QUORUM_PORT, Layout


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


def server_for(layout: Layout, app: str, model: str, ordinal: int, role: Role = Role.PARTICIPANT):
    address = layout.address(app, model, ordinal)
    return Server(myid(ordinal), address, role, client_host=layout.bind_host(address))


@dataclasses.dataclass(frozen=True)
class EnsembleConfig:
    """ZooKeeper's committed membership, as in /zookeeper/config or a zoo.cfg.dynamic file."""

    servers: tuple[Server, ...]
    version: int | None = None

    @property
    def voters(self) -> tuple[Server, ...]:
        return tuple(s for s in self.servers if s.role is Role.PARTICIPANT)

    @property
    def ids(self) -> frozenset[int]:
        return frozenset(s.id for s in self.servers)

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
