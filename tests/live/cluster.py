"""A Juju stand-in for live tests, the demo and the benches.

Each unit is the real charm class run by ops.testing, with its container's storage mounted
on a directory of this machine, so the files the charm pushes land on disk. What Juju would
share between units (peer data, the app's secrets, who leads) is carried from one run to the
next here, and each unit's Pebble plan is executed as a real ZooKeeper process on its own
loopback address 127.0.0.<ordinal+1>. Only the Layout differs from Kubernetes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

import yaml
from ops import pebble, testing

import admin
from charm import ZooKeeperCharm
from layout import Layout
from render import CHECK, SERVICE
from state import PEER

REPO = Path(__file__).resolve().parents[2]
APP = "zookeeper-k8s"
MODEL = "live"

# Keys Juju itself puts in every unit databag (what ops.testing adds by default).
JUJU_KEYS = {"egress-subnets": "", "ingress-address": "", "private-address": ""}

# Debian's zookeeper 3.8.0 package; the manifest of zookeeper.jar names the rest.
DEBIAN_ZK_HOME = PurePosixPath("/usr/share/zookeeper")
DEBIAN_JARS = (
    "zookeeper",
    "slf4j-log4j12",
    "log4j-1.2",
    "netty-codec",
    "netty-resolver",
    "netty-transport-native-unix-common",
    "servlet-api",
)
# Test-only JVM flags: fast start and small footprint, and no fsync on a laptop disk.
TEST_JVM_FLAGS = (
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xss512k",
    "-Dzookeeper.forceSync=no",
)


# Every server any Cluster started in this process, so that nothing outlives the tests.
STARTED: list[subprocess.Popen] = []


def stop_everything() -> None:
    for process in STARTED:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    STARTED.clear()


def java_home() -> str:
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("no java on PATH: run `make deps` (installs OpenJDK and ZooKeeper)")
    return str(Path(java).resolve().parents[1])


def loopback_address(_app: str, _model: str, ordinal: int) -> str:
    return f"127.0.0.{ordinal + 1}"


def loopback_layout(storage: Path) -> Layout:
    return Layout(
        storage=PurePosixPath(storage),
        zk_home=DEBIAN_ZK_HOME,
        java_home=java_home(),
        classpath=":".join(f"/usr/share/java/{jar}.jar" for jar in DEBIAN_JARS),
        user=None,
        group=None,
        logging="log4j",
        prometheus_metrics=False,  # Debian's build lacks the Prometheus provider
        extra_jvm_flags=TEST_JVM_FLAGS,
        python=sys.executable,  # this venv has kazoo, as the rock's python3 does
        address=loopback_address,
        per_unit_bind=True,
    )


def raw_server_argv(layout: Layout, *flags: str) -> list[str]:
    """A plain ZooKeeper server, no charm: the same JVM, jars and test flags (for benches)."""
    from render import MAIN_CLASS

    return [
        layout.java,
        "-Xmx128m",
        f"-Dlog4j.configuration=file:{layout.log_config}",
        *flags,
        *layout.extra_jvm_flags,
        "-cp",
        layout.classpath,
        MAIN_CLASS,
        str(layout.zoo_cfg),
    ]


def _load(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


def deadline_poll(predicate: Callable[[], object], timeout: float, what: str, every=0.1):
    """Poll until predicate() is truthy; fail with `what` after timeout seconds."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


@dataclasses.dataclass
class Unit:
    ordinal: int
    storage: Path
    layout: Layout
    charm: type[ZooKeeperCharm]
    unit_data: dict[str, str] = dataclasses.field(default_factory=dict)
    layers: dict[str, pebble.Layer] = dataclasses.field(default_factory=dict)
    process: subprocess.Popen | None = None
    command: str | None = None
    status: testing.StatusBase | None = None
    restarts: int = 0  # restarts the charm asked Pebble for
    # Other services of the plan (the guard), by name.
    services: dict[str, subprocess.Popen] = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{APP}/{self.ordinal}"

    @property
    def address(self) -> str:
        return loopback_address(APP, MODEL, self.ordinal)

    @property
    def log(self) -> Path:
        return self.storage.parent / f"unit-{self.ordinal}.log"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def health(self) -> admin.Health:
        return admin.probe(self.layout.local_host(self.address), timeout=1.0)


@dataclasses.dataclass
class ClientRelation:
    """A client application related to ZooKeeper, as the requirer side of `zookeeper`."""

    id: int
    app: str
    request: dict[str, str]
    answer: dict[str, str] = dataclasses.field(default_factory=dict)


class Cluster:
    """Units of one application, the Juju state they share, and their real servers."""

    def __init__(
        self,
        workdir: Path,
        config: dict | None = None,
        autostart: bool = True,
        restart_timeout: float = 30.0,
    ):
        self.workdir = Path(workdir)
        # False: record each unit's plan but start nothing (benches start all at once).
        self.autostart = autostart
        self.config = dict(config or {"jvm-heap-mb": 128})
        self.units: dict[int, Unit] = {}
        self.leader: int | None = None
        # Juju's planned_units(); None: as many as there are units.
        self.planned: int | None = None
        self.restart_timeout = restart_timeout
        # Client relations: id -> (client app, its databag, our answer in our app databag).
        self.clients: dict[int, ClientRelation] = {}
        self.action_results: dict | None = None
        # Ordinals in the order the charm restarted their servers.
        self.restart_log: list[int] = []
        # relation-changed events owed to units, as (unit, the unit whose data changed).
        self._queue: list[tuple[int, int]] = []
        self._delivering = False
        self.app_data: dict[str, str] = {}
        self.secrets: frozenset[testing.Secret] = frozenset()
        self._meta, self._config_meta, self._actions = (
            _load("metadata.yaml"),
            _load("config.yaml"),
            _load("actions.yaml"),
        )

    # -- Juju's side --------------------------------------------------------------------

    def add_unit(self, ordinal: int) -> Unit:
        storage = self.workdir / f"unit-{ordinal}"
        storage.mkdir(parents=True, exist_ok=True)
        layout = loopback_layout(storage)
        unit = self.units[ordinal] = Unit(ordinal, storage, layout, self._charm_for(layout))
        if self.leader is None:
            self.leader = ordinal
        return unit

    def _charm_for(self, layout: Layout) -> type[ZooKeeperCharm]:
        attributes = {"layout": layout, "restart_timeout": self.restart_timeout}
        return type("LoopbackCharm", (ZooKeeperCharm,), attributes)

    def change_layout(self, ordinal: int, **changes) -> None:
        """What the rock gives this unit changes (tests: a broken image)."""
        unit = self.units[ordinal]
        unit.layout = dataclasses.replace(unit.layout, **changes)
        unit.charm = self._charm_for(unit.layout)

    def _state(self, unit: Unit) -> testing.State:
        peer = testing.PeerRelation(
            PEER,
            id=1,
            local_app_data=dict(self.app_data),
            local_unit_data={**JUJU_KEYS, **unit.unit_data},
            peers_data={
                other.ordinal: {**JUJU_KEYS, **other.unit_data}
                for other in self.units.values()
                if other is not unit
            },
        )
        container = testing.Container(
            "zookeeper",
            can_connect=True,
            layers=dict(unit.layers),
            service_statuses={
                SERVICE: pebble.ServiceStatus.ACTIVE
                if unit.alive
                else pebble.ServiceStatus.INACTIVE
            },
            mounts={"data": testing.Mount(location=str(unit.storage), source=unit.storage)},
        )
        client_relations = {
            testing.Relation(
                "zookeeper",
                id=client.id,
                remote_app_name=client.app,
                remote_app_data=dict(client.request),
                local_app_data=dict(client.answer),
            )
            for client in self.clients.values()
        }
        return testing.State(
            leader=unit.ordinal == self.leader,
            config=self.config,
            relations={peer, *client_relations},
            containers={container},
            secrets=set(self.secrets),
            planned_units=len(self.units) if self.planned is None else self.planned,
            model=testing.Model(name=MODEL),
        )

    def _context(self, unit: Unit) -> testing.Context:
        return testing.Context(
            unit.charm,
            meta=self._meta,
            config=self._config_meta,
            actions=self._actions,
            app_name=APP,
            unit_id=unit.ordinal,
        )

    def run(self, ordinal: int, event: str, **kwargs) -> testing.State:
        """Dispatch one event, then the relation-changed events its data changes cause."""
        out = self._dispatch(ordinal, event, **kwargs)
        if self._delivering:
            return out
        self._delivering = True
        try:
            for _ in range(500):
                if not self._queue:
                    break
                target, remote = self._queue.pop(0)
                if target in self.units and remote in self.units:
                    self._dispatch(target, "relation_changed", remote_unit=remote)
            else:
                raise RuntimeError("relation-changed events never settled")
        finally:
            self._delivering = False
        return out

    def _notify(self, source: int) -> None:
        """Juju tells every other unit that `source` changed its (or the app's) data."""
        for other in sorted(self.units):
            if other != source and (other, source) not in self._queue:
                self._queue.append((other, source))

    def _dispatch(self, ordinal: int, event: str, **kwargs) -> testing.State:
        """Dispatch one event to one unit and carry its effects."""
        unit = self.units[ordinal]
        ctx = self._context(unit)
        state = self._state(unit)
        with self._real_pebble(unit):
            if event == "action":
                out = ctx.run(ctx.on.action(kwargs.pop("name"), **kwargs), state)
                self.action_results = ctx.action_results
            else:
                hook = getattr(ctx.on, event)
                args = [state.get_container("zookeeper")] if event == "pebble_ready" else []
                if event.startswith("relation_"):
                    args = [state.get_relation(kwargs.pop("relation_id", 1))]
                out = ctx.run(hook(*args, **kwargs), state)
        relation = out.get_relation(1)
        if unit.ordinal == self.leader:
            for client in self.clients.values():
                if any(r.id == client.id for r in out.relations):
                    client.answer = dict(out.get_relation(client.id).local_app_data)
            if dict(relation.local_app_data) != self.app_data:
                self._notify(unit.ordinal)
            self.app_data = dict(relation.local_app_data)
            self.secrets = frozenset(out.secrets)
        unit_data = {k: v for k, v in relation.local_unit_data.items() if k not in JUJU_KEYS}
        if unit_data != unit.unit_data:
            self._notify(unit.ordinal)
        unit.unit_data = unit_data
        container = out.get_container("zookeeper")
        unit.layers = dict(container.layers)
        unit.status = out.unit_status
        return out

    def deploy(self, size: int) -> None:
        """`juju deploy -n size`: every unit runs its first hooks; the leader goes first."""
        for ordinal in range(size):
            self.add_unit(ordinal)
        order = sorted(self.units, key=lambda o: o != self.leader)
        for ordinal in order:
            self.run(ordinal, "install")
        self.run(self.leader, "leader_elected")
        for ordinal in order:
            for event in ("config_changed", "start", "pebble_ready"):
                self.run(ordinal, event)

    def scale(self, size: int) -> None:
        """`juju scale-application` as Kubernetes and Juju carry it out."""
        current = sorted(self.units)
        if size > len(current):
            joiners = list(range(len(current), size))
            for ordinal in joiners:
                self.add_unit(ordinal)
            self.planned = size
            for ordinal in joiners:
                for event in ("install", "config_changed", "start", "pebble_ready"):
                    self.run(ordinal, event)
            for ordinal in joiners:
                self.run(self.leader, "relation_joined", remote_unit=ordinal)
                self.run(self.leader, "relation_changed", remote_unit=ordinal)
            return
        leaving = [o for o in current if o >= size]
        # planned_units drops at once; then each departing pod's stop hook runs while its
        # server still runs; then Kubernetes stops the pods together.
        self.planned = size
        for ordinal in sorted(leaving, reverse=True):
            self.run(ordinal, "stop")
        for ordinal in leaving:
            gone = self.units.pop(ordinal)
            self.stop_process(gone)
            for process in gone.services.values():
                process.terminate()
                process.wait(timeout=30)
        if self.leader in leaving:
            self.leader = min(self.units)
            self.run(self.leader, "leader_elected")
        for ordinal in leaving:
            for remaining in sorted(self.units):
                self.run(
                    remaining, "relation_departed", remote_unit=ordinal, departing_unit=ordinal
                )
        self.planned = None

    def settle(self) -> None:
        """An update-status round, so each unit reports what its server says now."""
        for ordinal in sorted(self.units):
            self.run(ordinal, "update_status")

    # -- Pebble's side ------------------------------------------------------------------

    @contextlib.contextmanager
    def _real_pebble(self, unit: Unit) -> Iterator[None]:
        """Make the simulated Pebble of one run start and stop the unit's real server."""
        from scenario.mocking import _MockPebbleClient

        cluster, names = self, ("replan_services", "start_services", "restart_services")
        originals = {name: getattr(_MockPebbleClient, name) for name in names}

        def run_plan(client, restart: bool) -> None:
            for name, other in client.get_plan().services.items():
                if name != SERVICE and cluster.autostart:
                    cluster.start_service(unit, name, other.command)
            service = client.get_plan().services.get(SERVICE)
            if service is None:
                return
            if not cluster.autostart:
                unit.command = service.command
                return
            if unit.alive and (restart or service.command != unit.command):
                cluster.stop_process(unit)
            if not unit.alive:
                cluster.start_process(unit, service.command)

        def replan_services(client, *args, **kwargs):
            originals["replan_services"](client, *args, **kwargs)
            run_plan(client, restart=False)

        def start_services(client, services, *args, **kwargs):
            result = originals["start_services"](client, services, *args, **kwargs)
            if SERVICE in services:
                run_plan(client, restart=False)
            return result

        def restart_services(client, services, *args, **kwargs):
            result = originals["restart_services"](client, services, *args, **kwargs)
            if SERVICE in services:
                unit.restarts += 1
                cluster.restart_log.append(unit.ordinal)
                run_plan(client, restart=True)
            return result

        patched = {
            "replan_services": replan_services,
            "start_services": start_services,
            "restart_services": restart_services,
        }
        for name, function in patched.items():
            setattr(_MockPebbleClient, name, function)
        try:
            yield
        finally:
            for name, function in originals.items():
                setattr(_MockPebbleClient, name, function)

    def start_process(self, unit: Unit, command: str | None = None) -> None:
        """Start the unit's server (as Pebble would); a running one is stopped first."""
        command = command or unit.command
        assert command, "no plan to start"
        self.stop_process(unit)
        with unit.log.open("ab") as log:
            unit.process = subprocess.Popen(
                shlex.split(command), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        STARTED.append(unit.process)
        unit.command = command

    def start_service(self, unit: Unit, name: str, command: str) -> None:
        """Another service of the unit's plan; started once, as Pebble would."""
        process = unit.services.get(name)
        if process is not None and process.poll() is None:
            return
        with (unit.storage.parent / f"unit-{unit.ordinal}-{name}.log").open("ab") as log:
            process = subprocess.Popen(
                shlex.split(command), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        unit.services[name] = process
        STARTED.append(process)

    def stop_process(self, unit: Unit, sig: int = signal.SIGTERM) -> None:
        if unit.process is None:
            return
        if unit.process.poll() is None:
            os.killpg(unit.process.pid, sig)
            unit.process.wait(timeout=30)
        unit.process = None

    def check(self, ordinal: int) -> subprocess.CompletedProcess:
        """Run the Pebble health check of this unit's plan, as Pebble would."""
        unit = self.units[ordinal]
        layer = unit.layers[SERVICE]
        spec = layer.checks[CHECK].exec
        return subprocess.run(
            shlex.split(spec["command"]),
            env={**os.environ, **spec.get("environment", {})},
            capture_output=True,
            text=True,
            timeout=60,
        )

    # -- observation --------------------------------------------------------------------

    def wait_serving(self, ordinals=None, timeout: float = 60.0) -> dict[int, admin.Health]:
        ordinals = sorted(self.units) if ordinals is None else ordinals

        def all_serving():
            healths = {o: self.units[o].health() for o in ordinals}
            return healths if all(h.serving for h in healths.values()) else None

        return deadline_poll(all_serving, timeout, f"units {ordinals} to serve", every=0.2)

    def super_password(self) -> str:
        return self.secret(label="zookeeper-internal")["super-password"]

    def secret(self, *, label: str | None = None, id: str | None = None) -> dict[str, str]:
        """A secret's latest content, as a unit it is granted to reads it."""
        for secret in self.secrets:
            if (label and secret.label == label) or (id and secret.id == id):
                return dict(secret.latest_content)
        raise KeyError(label or id)

    # -- client applications ------------------------------------------------------------

    def relate(self, app: str, request: dict[str, str], relation_id: int) -> ClientRelation:
        """`juju integrate zookeeper-k8s <app>`; the client writes its request."""
        client = self.clients[relation_id] = ClientRelation(relation_id, app, dict(request))
        for ordinal in sorted(self.units, key=lambda o: o != self.leader):
            self.run(ordinal, "relation_created", relation_id=relation_id)
            self.run(ordinal, "relation_changed", relation_id=relation_id)
        return client

    def credentials(self, relation_id: int) -> dict[str, str]:
        """What the client reads: our answer plus the secrets it was granted."""
        client = self.clients[relation_id]
        seen = dict(client.answer)
        for field in ("secret-user", "secret-tls"):
            if field in seen:
                seen |= self.secret(id=seen[field])
        return seen

    def unrelate(self, relation_id: int) -> None:
        """`juju remove-relation`: relation-broken on every unit, then the relation is gone."""
        for ordinal in sorted(self.units, key=lambda o: o != self.leader):
            self.run(ordinal, "relation_broken", relation_id=relation_id)
        del self.clients[relation_id]
        self.settle()

    def hosts(self, ordinals=None) -> str:
        ordinals = sorted(self.units) if ordinals is None else ordinals
        return ",".join(f"{self.units[o].address}:2181" for o in ordinals)

    def stop(self) -> None:
        for unit in self.units.values():
            self.stop_process(unit)
        stop_everything()
