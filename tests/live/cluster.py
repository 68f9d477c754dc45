"""A Juju and Kubernetes stand-in for live tests, the demo and the benches.

Each unit is the real charm class run by ops.testing, one hook at a time, in the hook
orders JUJU.md documents: what Juju fixes is fixed here, everything else (which unit goes
next, a dying unit's teardown hooks among themselves, when a leader moves, whether a hook
starts before another unit's hook has finished) is chosen from a seed (juju.py).

Each unit is a pod: its own network namespace and address, its DNS name resolving for every
process of the run (network.py), its hooks running inside that namespace, and its Pebble plan
run as real processes in a root laid out as the rock (rootfs.py), as the rock's user, with
the unit's storage mounted at /var/lib/zookeeper and its own /charm/bin. Between hooks the
pod's Pebble acts on its own (pebbled.py: service restarts, checks, `pebble notify`), and
what it reports reaches the charm as Juju's pebble-custom-notice / pebble-check-* hooks.
What still differs from a pod is listed in LIVE_DIFFERENCES.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml
from ops import pebble, testing

import admin
from charm import ZooKeeperCharm
from layout import ADMIN_PORT, K8S, Layout
from render import CHECK, NOTICE_KEY, NOTIFY_POLL_SECONDS, NOTIFY_SERVICE, SERVICE
from state import PEER
from tests.kubeapi import CharmKubernetes, KubeAPI
from tests.live import network, pebbled, rootfs
from tests.live.juju import (
    PEER_RELATION_ID,
    Hook,
    Scheduler,
    deploy_hooks,
    join_hooks,
    restart_hooks,
    seed_from_env,
    teardown_hooks,
)

REPO = Path(__file__).resolve().parents[2]
APP = "zookeeper-k8s"
MODEL = "live"
# Juju gives a model one UUID for its life (COS labels everything with it).
MODEL_UUID = "0b7a2f4e-5c1d-4e8a-9f36-2d4c6b8e1a57"

# Keys Juju itself puts in every unit databag (what ops.testing adds by default).
JUJU_KEYS = {"egress-subnets": "", "ingress-address": "", "private-address": ""}
# Test-only JVM flags: fast start and small footprint, and no fsync on a laptop disk.
TEST_JVM_FLAGS = (
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xss512k",
    "-Dzookeeper.forceSync=no",
    # One admin snapshot per second, not per 5 minutes: the backup tests take several.
    "-Dzookeeper.admin.rateLimiterIntervalInMS=1000",
)
LIVE_DIFFERENCES = {
    "ZooKeeper 3.9.3 (Debian 13) instead of the rock's 3.9.4": "the newest 3.9 reachable here",
    "Debian 13 packages instead of Ubuntu 24.04's": "Ubuntu's archive is not reachable",
    "no Prometheus metrics provider (Layout.prometheus_metrics off)": "Debian's ZooKeeper "
    "build lacks its classes, and no Debian suite (bookworm, trixie, sid: 2026-12-01) packages "
    "the Prometheus Java simpleclient they are built on",
    "Pebble keeps log targets in the plan and forwards nothing": "no Loki here",
    "test JVM flags (TEST_JVM_FLAGS)": "start in seconds on two cores; no fsync",
    "the charm sees its data volume at the pod's storage directory (Layout.charm_volume)": (
        "the charm runs in the test process, which has no /var/lib/zookeeper of its own"
    ),
    "names resolve through /etc/hosts, not CoreDNS": "no Kubernetes DNS here",
    "hooks run one at a time in one process": "ops.testing; overlap is modelled by each "
    "hook seeing relation data as of its start",
    "the Kubernetes API is a stand-in (tests/kubeapi.py) behind lightkube's real client": (
        "no Kubernetes here; it keeps the StatefulSet, pods and what the charm applies"
    ),
}
# A hook that keeps failing is retried (Juju backs off up to 5 minutes); past this the run
# is stuck and the test says which hook.
RETRY_FOR = 120.0
# Far more hooks than any flow needs: past this, units keep waking each other up.
MAX_HOOKS_PER_DRAIN = 3000
# Far longer than any flow takes: past this, a workload keeps waking its charm (a server
# that flaps, restarted by its own hooks) and nothing settles.
DRAIN_FOR = 600.0
# How long drain() waits for the watcher to report a server that Pebble stopped (its poll
# is a second; a loaded machine may take a few).
STOP_REPORTED_WITHIN = 10.0

# Every process any Cluster started in this process, so that nothing outlives the tests.
STARTED: list[subprocess.Popen] = []


def stop_everything() -> None:
    for process in STARTED:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    STARTED.clear()


def live_layout() -> Layout:
    """The production layout; only what LIVE_DIFFERENCES names is changed."""
    return dataclasses.replace(K8S, prometheus_metrics=False, extra_jvm_flags=TEST_JVM_FLAGS)


def pod_name(ordinal: int) -> str:
    return K8S.address(APP, MODEL, ordinal)


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


class HookFailed(RuntimeError):
    """A hook kept failing: Juju would show the unit in error."""


@dataclasses.dataclass
class Awaiting:
    """A change of a unit's server already under way that its watcher has yet to report:
    that it serves (after a start), or that it no longer does (after a stop or a crash)."""

    since: float  # wall clock, as the pod's `date` in each notice
    serving: bool
    deadline: float  # monotonic: past it, drain() gives up on this one
    process: subprocess.Popen | None = None  # the start it is about: it may die first


@dataclasses.dataclass
class Unit:
    ordinal: int
    storage: Path
    netns: str
    layout: Layout
    charm: type[ZooKeeperCharm]
    unit_data: dict[str, str] = dataclasses.field(default_factory=dict)
    layers: dict[str, pebble.Layer] = dataclasses.field(default_factory=dict)
    status: testing.StatusBase | None = None
    restarts: int = 0  # restarts the charm asked Pebble for
    # Pebble's services of this pod: name -> process, and the spec each last ran with.
    services: dict[str, subprocess.Popen] = dataclasses.field(default_factory=dict)
    specs: dict[str, pebble.Service] = dataclasses.field(default_factory=dict)
    # Remote units in this unit's view of the peer relation (relation-list).
    peers: set[int] = dataclasses.field(default_factory=set)
    in_peer_relation: bool = True
    dying: bool = False
    dead: bool = False
    # Pebble's own state in this pod (pebbled.py): restart bookkeeping per service, the
    # plan's checks, the custom notices by key, and how far the pod's notice log is read.
    charm_bin: Path | None = None
    supervision: dict[str, pebbled.Supervision] = dataclasses.field(default_factory=dict)
    checks: dict[str, pebbled.Check] = dataclasses.field(default_factory=dict)
    notices: dict[str, testing.Notice] = dataclasses.field(default_factory=dict)
    notices_read: int = 0
    # What drain() still waits for the watcher to report (see Cluster._awaited).
    awaiting: list[Awaiting] = dataclasses.field(default_factory=list)
    # Secrets this unit owns (the certificates library keeps its private key in one).
    secrets: frozenset = frozenset()

    @property
    def name(self) -> str:
        return f"{APP}/{self.ordinal}"

    @property
    def address(self) -> str:
        """The pod's DNS name, as the charm's production layout computes it."""
        return pod_name(self.ordinal)

    @property
    def hostname(self) -> str:
        return f"{APP}-{self.ordinal}"  # a StatefulSet pod's hostname is its name

    @property
    def log(self) -> Path:
        return self.storage.parent / f"unit-{self.ordinal}.log"

    @property
    def process(self) -> subprocess.Popen | None:
        return self.services.get(SERVICE)

    @property
    def command(self) -> str | None:
        spec = self.specs.get(SERVICE)
        return spec.command if spec else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def health(self) -> admin.Health:
        # The admin server listens on the pod's loopback only, as in production.
        with network.inside(self.netns):
            return admin.probe(self.layout.local_host(self.address), timeout=1.0)

    def admin_command(self, command: str) -> dict:
        """One admin-server command's JSON answer, asked from inside the pod."""
        host = self.layout.local_host(self.address)
        with network.inside(self.netns):
            url = f"http://{host}:{ADMIN_PORT}/commands/{command}"
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())


@dataclasses.dataclass
class ClientRelation:
    """A client application related to ZooKeeper, as the requirer side of `zookeeper`."""

    id: int
    app: str
    request: dict[str, str]
    answer: dict[str, str] = dataclasses.field(default_factory=dict)
    # Units that ran relation-broken for it: from then on they no longer see it.
    broken_on: set[int] = dataclasses.field(default_factory=set)


@dataclasses.dataclass
class LoggingRelation:
    """`juju integrate zookeeper-k8s loki`: each Loki unit's push URL in its unit data
    (loki_push_api). Nothing receives the logs: the stand-in Pebble keeps log targets in
    the plan, as Pebble does, and forwards nothing."""

    id: int
    urls: dict[int, str]  # Loki unit number -> its push URL
    app: str = "loki"
    broken_on: set[int] = dataclasses.field(default_factory=set)
    # The Loki units each of our units no longer lists (from its relation-departed on).
    departed: dict[int, set[int]] = dataclasses.field(default_factory=dict)

    def units_data(self, ordinal: int) -> dict[int, dict[str, str]]:
        gone = self.departed.get(ordinal, set())
        return {
            n: {"endpoint": json.dumps({"url": url})}
            for n, url in self.urls.items()
            if n not in gone
        }


@dataclasses.dataclass
class CertificatesRelation:
    """`juju integrate zookeeper-k8s self-signed-certificates`: the provider's one unit signs
    every unit's request with the test's CA (tls-certificates v4, its app databag)."""

    id: int
    ca: object  # ca.CA
    app: str = "self-signed-certificates"
    # Each requirer unit's own databag on this relation (its certificate requests).
    requests: dict[int, dict[str, str]] = dataclasses.field(default_factory=dict)
    provider_data: dict[str, str] = dataclasses.field(default_factory=dict)
    broken_on: set[int] = dataclasses.field(default_factory=set)

    def answer(self) -> bool:
        """Sign what is asked and not yet signed; drop what is no longer asked. True if
        the provider's databag changed."""
        issued = {
            c["certificate_signing_request"].strip(): c
            for c in json.loads(self.provider_data.get("certificates", "[]"))
        }
        wanted = {}
        for data in self.requests.values():
            for request in json.loads(data.get("certificate_signing_requests", "[]")):
                csr = request["certificate_signing_request"].strip()
                wanted[csr] = issued.get(csr) or {
                    "certificate_signing_request": csr,
                    "certificate": self.ca.sign(csr),
                    "ca": self.ca.pem,
                    "chain": [self.ca.pem],
                }
        if wanted == issued:
            return False
        self.provider_data = {"certificates": json.dumps(list(wanted.values()))}
        return True

    def renew(self, ca=None) -> None:
        """The provider issues every certificate again (a new serial; a new CA if given)."""
        self.ca = ca or self.ca
        self.provider_data = {}
        self.answer()


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """The relation data a hook sees: as it was when the hook started."""

    app_data: dict
    unit_data: dict
    peers: dict[int, dict]
    in_peer_relation: bool
    clients: tuple[tuple[int, str, dict, dict], ...]
    # The certificates relation: (id, provider app, provider's databag, this unit's own).
    certificates: tuple[int, str, dict, dict] | None = None
    # The logging relation: (id, Loki app, each Loki unit's data).
    logging: tuple[int, str, dict[int, dict]] | None = None


class Cluster:
    """Units of one application, the Juju state they share, and their real pods."""

    def __init__(
        self,
        workdir: Path,
        config: dict | None = None,
        autostart: bool = True,
        restart_timeout: float = 30.0,
        seed: int | None = None,
    ):
        network.enter()
        with network.machine_network():  # a cold build fetches Debian packages
            self.root = rootfs.ensure_root()
        self.workdir = Path(workdir)
        # False: record each unit's plan but start nothing (benches start all at once).
        self.autostart = autostart
        self.config = dict(config or {"jvm-heap-mb": 128})
        self.units: dict[int, Unit] = {}
        self.leader: int | None = None
        # Juju's planned_units() (goal state); None: as many as there are live units.
        self.planned: int | None = None
        self.restart_timeout = restart_timeout
        self.clients: dict[int, ClientRelation] = {}
        self.certificates: CertificatesRelation | None = None
        self.logging: LoggingRelation | None = None
        # The s3-credentials relation: (id, the provider's app databag), None: not related.
        self.s3: tuple[int, dict[str, str]] | None = None
        # The API server the leader applies its PodDisruptionBudget (and Service) to.
        self.kube = KubeAPI(namespace=MODEL, app=APP, units=0)
        # Called after every hook (a client app that follows its relation data).
        self.after_hook: list[Callable[[], None]] = []
        self.action_results: dict | None = None
        # The application status as Juju keeps it: set by leaders, shown to the next one.
        self.app_status = testing.UnknownStatus()
        # Ordinals in the order the charm restarted their servers.
        self.restart_log: list[int] = []
        # (ordinal, ZooKeeper mode just before the restart), in the same order.
        self.restart_modes: list[tuple[int, str | None]] = []
        self.app_data: dict[str, str] = {}
        self.former: dict[int, dict[str, str]] = {}
        self.secrets: frozenset[testing.Secret] = frozenset()
        self.seed = seed_from_env() if seed is None else seed
        self.juju = Scheduler(self.seed)
        # What Pebble did on its own (restarts, checks going down and up), for tests.
        self.pebble_log: list[str] = []
        rootfs.ensure_mount_point(self.root, pebbled.CHARM_BIN)
        # Hooks (main thread) and the pods' Pebble (its own thread) take turns on processes.
        self.pebble_lock = threading.RLock()
        self.pebble = pebbled.Daemon(
            units=lambda: list(self.units.values()),
            lock=self.pebble_lock,
            start=self._start,
            in_pod=self.in_pod,
            log=self.pebble_log.append,
        )
        self._meta, self._config_meta, self._actions = (
            _load("metadata.yaml"),
            _load("config.yaml"),
            _load("actions.yaml"),
        )

    # -- Kubernetes' side -------------------------------------------------------------

    def add_unit(self, ordinal: int) -> Unit:
        """The StatefulSet's pod for this ordinal: namespace, DNS name, storage."""
        storage = self.workdir / f"unit-{ordinal}"
        storage.mkdir(parents=True, exist_ok=True)
        netns = network.add_unit(ordinal)
        network.publish(pod_name(ordinal), network.unit_address(ordinal))
        self.kube.add_node(f"node-{ordinal}", network.unit_address(ordinal))
        self.kube.schedule(APP, ordinal, f"node-{ordinal}")
        # The charm runs in this process: its container's mount of the volume is the pod's.
        layout = dataclasses.replace(live_layout(), charm_volume=str(storage.resolve()))
        unit = Unit(ordinal, storage, netns, layout, self._charm_for(layout))
        unit.charm_bin = pebbled.make_charm_bin(self.workdir / f"pod-{ordinal}-charm-bin")
        self.units[ordinal] = unit
        if self.leader is None:
            self.leader = ordinal
        return unit

    def remove_pod(self, ordinal: int) -> None:
        """Kubernetes deletes the pod: its processes, address and name go."""
        with self.pebble_lock:
            unit = self.units.pop(ordinal)
            self.former[ordinal] = unit.unit_data
            for name in list(unit.services):
                self._stop_service(unit, name)
            self.pebble.forget_checks(unit)
        network.publish(pod_name(ordinal), None)
        network.remove_unit(ordinal)
        self.kube.objects.pop(("pods", f"{APP}-{ordinal}"), None)

    def _charm_for(self, layout: Layout) -> type[ZooKeeperCharm]:
        attributes = {
            "layout": layout,
            "restart_timeout": self.restart_timeout,
            "kubernetes": CharmKubernetes(self.kube),
        }
        return type("LiveCharm", (ZooKeeperCharm,), attributes)

    def change_layout(self, ordinal: int, **changes) -> None:
        """What the rock gives this unit changes (tests: a broken image)."""
        unit = self.units[ordinal]
        unit.layout = dataclasses.replace(unit.layout, **changes)
        unit.charm = self._charm_for(unit.layout)

    # -- Juju's side --------------------------------------------------------------------

    def _snapshot(self, unit: Unit) -> Snapshot:
        return Snapshot(
            app_data=dict(self.app_data),
            unit_data=dict(unit.unit_data),
            peers={o: dict(self._unit_data(o)) for o in unit.peers},
            in_peer_relation=unit.in_peer_relation,
            clients=tuple(
                (c.id, c.app, dict(c.request), dict(c.answer))
                for c in self.clients.values()
                if unit.ordinal not in c.broken_on
            ),
            certificates=None
            if (c := self.certificates) is None or unit.ordinal in c.broken_on
            else (c.id, c.app, dict(c.provider_data), dict(c.requests.get(unit.ordinal, {}))),
            logging=None
            if (g := self.logging) is None or unit.ordinal in g.broken_on
            else (g.id, g.app, g.units_data(unit.ordinal)),
        )

    def _unit_data(self, ordinal: int) -> dict[str, str]:
        # A deleted pod's data stays readable until a unit's relation-departed for it.
        unit = self.units.get(ordinal)
        return unit.unit_data if unit is not None else self.former.get(ordinal, {})

    def _state(self, unit: Unit, seen: Snapshot) -> testing.State:
        relations = set()
        if seen.in_peer_relation:
            relations.add(
                testing.PeerRelation(
                    PEER,
                    id=PEER_RELATION_ID,
                    local_app_data=seen.app_data,
                    local_unit_data={**JUJU_KEYS, **seen.unit_data},
                    peers_data={o: {**JUJU_KEYS, **data} for o, data in seen.peers.items()},
                )
            )
        for relation_id, app, request, answer in seen.clients:
            relations.add(
                testing.Relation(
                    "zookeeper",
                    id=relation_id,
                    remote_app_name=app,
                    remote_app_data=request,
                    local_app_data=answer,
                )
            )
        if seen.certificates is not None:
            relation_id, app, provider_data, own = seen.certificates
            relations.add(
                testing.Relation(
                    "certificates",
                    id=relation_id,
                    remote_app_name=app,
                    remote_app_data=provider_data,
                    # Juju's own keys as it sets them (never empty: ops cannot clear a
                    # databag holding an empty value, and Juju never stores one).
                    local_unit_data={
                        "egress-subnets": f"{unit.address}/32",
                        "ingress-address": unit.address,
                        "private-address": unit.address,
                        **own,
                    },
                )
            )
        if self.s3 is not None:
            relation_id, provider = self.s3
            relations.add(
                testing.Relation(
                    "s3-credentials",
                    id=relation_id,
                    remote_app_name="s3-integrator",
                    remote_app_data=dict(provider),
                )
            )
        if seen.logging is not None:
            relation_id, app, units_data = seen.logging
            relations.add(
                testing.Relation(
                    "logging",
                    id=relation_id,
                    remote_app_name=app,
                    remote_units_data=units_data,
                )
            )
        # Pebble is live, not a snapshot: the plan and service states as they are now.
        container = testing.Container(
            "zookeeper",
            can_connect=True,
            layers=dict(unit.layers),
            service_statuses={
                name: pebble.ServiceStatus.ACTIVE
                if unit.services.get(name) and unit.services[name].poll() is None
                else pebble.ServiceStatus.INACTIVE
                for name in {SERVICE, *unit.specs}
            },
            mounts={"data": testing.Mount(location=str(K8S.storage), source=unit.storage)},
            notices=list(unit.notices.values()),
            check_infos=self._check_infos(unit),
        )
        planned = len([u for u in self.units.values() if not u.dying])
        return testing.State(
            leader=unit.ordinal == self.leader,
            config=self.config,
            relations=relations,
            containers={container},
            storages={testing.Storage("data", index=0)},
            secrets=set(self.secrets) | set(unit.secrets),
            planned_units=planned if self.planned is None else self.planned,
            model=testing.Model(name=MODEL, uuid=MODEL_UUID),
            app_status=self.app_status,
        )

    def _check_infos(self, unit: Unit) -> frozenset[testing.CheckInfo]:
        """Pebble's checks as `pebble checks` shows them now (only those in the plan)."""
        with self.pebble_lock:
            planned = pebbled.plan_checks(unit.layers)
            return frozenset(
                testing.CheckInfo(
                    check.name,
                    level=pebble.CheckLevel(planned[check.name].get("level") or "unset"),
                    status=pebble.CheckStatus(check.status),
                    successes=check.successes,
                    failures=check.failures,
                    threshold=check.threshold,
                    change_id=pebble.ChangeID(str(check.change)),
                )
                for check in unit.checks.values()
                if check.name in planned
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

    def _event(self, ctx: testing.Context, state: testing.State, hook: Hook, kwargs: dict):
        on = ctx.on
        if hook.event == "action":
            return on.action(kwargs.pop("name"), **kwargs)
        if hook.event == "pebble_ready":
            return on.pebble_ready(state.get_container("zookeeper"))
        if hook.event == "pebble_custom_notice":
            container = state.get_container("zookeeper")
            notice = next(n for n in container.notices if n.key == hook.workload)
            return on.pebble_custom_notice(container, notice)
        if hook.event in ("pebble_check_failed", "pebble_check_recovered"):
            container = state.get_container("zookeeper")
            info = next(c for c in container.check_infos if c.name == hook.workload)
            return getattr(on, hook.event)(container, info=info)
        if hook.event.startswith("storage_"):
            return getattr(on, hook.event)(state.get_storage("data"))
        if hook.event.startswith("relation_"):
            relation = state.get_relation(hook.relation_id)
            extra = {}
            if hook.remote is not None:
                extra["remote_unit"] = hook.remote
            if hook.departing is not None:
                extra["departing_unit"] = hook.departing
            return getattr(on, hook.event)(relation, **extra)
        return getattr(on, hook.event)(**kwargs)

    def _begin(self, hook: Hook) -> Snapshot:
        """The hook starts: what the unit sees of the relation changes as Juju says."""
        unit = self.units[hook.unit]
        if hook.relation_id == PEER_RELATION_ID and hook.remote is not None:
            if hook.event == "relation_joined":
                unit.peers.add(hook.remote)
            elif hook.event == "relation_departed":
                unit.peers.discard(hook.remote)
        logging = self.logging
        if (
            logging is not None
            and hook.relation_id == logging.id
            and hook.event == "relation_departed"
            and hook.remote is not None
        ):
            logging.departed.setdefault(unit.ordinal, set()).add(hook.remote)
        return self._snapshot(unit)

    def _finish(self, hook: Hook, seen: Snapshot, **kwargs) -> testing.State:
        """Run the hook on what it saw at its start; publish its changes as Juju would."""
        unit = self.units[hook.unit]
        ctx = self._context(unit)
        state = self._state(unit, seen)
        try:
            event = self._event(ctx, state, hook, kwargs)
        except StopIteration:  # its check left the plan since: Juju has nothing to report
            self.juju.log.append(f"{hook} dropped: {hook.workload} is gone")
            return state
        with network.inside(unit.netns), self._real_pebble(unit):
            out = ctx.run(event, state)
        if hook.event == "action":
            self.action_results = ctx.action_results
        if hook.event == "relation_broken":  # after relation-broken the unit no longer sees it
            if hook.relation_id == PEER_RELATION_ID:
                unit.in_peer_relation = False
            elif hook.relation_id in self.clients:
                self.clients[hook.relation_id].broken_on.add(unit.ordinal)
            elif self.certificates is not None and hook.relation_id == self.certificates.id:
                self.certificates.broken_on.add(unit.ordinal)
            elif self.logging is not None and hook.relation_id == self.logging.id:
                self.logging.broken_on.add(unit.ordinal)
        self._publish(unit, out, hook)
        return out

    def _publish(self, unit: Unit, out: testing.State, hook: Hook) -> None:
        """A hook's relation changes reach the other units as relation-changed hooks."""
        unit.layers = dict(out.get_container("zookeeper").layers)
        unit.status = out.unit_status
        self.app_status = out.app_status
        unit.secrets = frozenset(s for s in out.secrets if s.owner == "unit")
        self._publish_certificates(unit, out)
        if not unit.in_peer_relation or (unit.dying and hook.event == "relation_departed"):
            return  # a dying unit's writes in relation-departed are not published
        relation = out.get_relation(PEER_RELATION_ID)
        if unit.ordinal == self.leader:
            for client in self.clients.values():
                if any(r.id == client.id for r in out.relations):
                    client.answer = dict(out.get_relation(client.id).local_app_data)
            if dict(relation.local_app_data) != self.app_data:
                self.app_data = dict(relation.local_app_data)
                self._changed(unit.ordinal)
            self.secrets = frozenset(s for s in out.secrets if s.owner != "unit")
        data = {k: v for k, v in relation.local_unit_data.items() if k not in JUJU_KEYS}
        if data != unit.unit_data and not unit.dying:
            unit.unit_data = data
            self._changed(unit.ordinal)

    def _publish_certificates(self, unit: Unit, out: testing.State) -> None:
        """A unit's new certificate request reaches the provider, whose answer (written to
        its app databag) brings relation-changed to every unit still related."""
        relation = self.certificates
        if relation is None or not any(r.id == relation.id for r in out.relations):
            return
        data = out.get_relation(relation.id).local_unit_data
        data = {k: v for k, v in data.items() if k not in JUJU_KEYS}
        if data == relation.requests.get(unit.ordinal, {}):
            return
        relation.requests[unit.ordinal] = data
        if relation.answer():
            self._certificates_changed()

    def _certificates_changed(self) -> None:
        relation = self.certificates
        self.juju.add(
            Hook(o, "relation_changed", remote=0, relation_id=relation.id)
            for o, u in sorted(self.units.items())
            if o not in relation.broken_on and not u.dying
        )

    def _integrated_with_one_unit(self, relation_id: int) -> None:
        """A provider app of one unit integrated: relation-created, then its unit's
        relation-joined and relation-changed, on every unit (Juju's documented order for a
        new relation: created first, then joined and changed per remote unit)."""
        for ordinal in sorted(self.units):
            self.juju.add(
                [
                    Hook(ordinal, "relation_created", relation_id=relation_id),
                    Hook(ordinal, "relation_joined", remote=0, relation_id=relation_id),
                    Hook(ordinal, "relation_changed", remote=0, relation_id=relation_id),
                ]
            )
        self.drain()

    def relate_certificates(self, ca, relation_id: int = 80) -> CertificatesRelation:
        """`juju integrate zookeeper-k8s self-signed-certificates`: relation-created, then
        the provider unit's relation-joined and relation-changed, on every unit."""
        self.certificates = CertificatesRelation(relation_id, ca)
        self._integrated_with_one_unit(relation_id)
        return self.certificates

    def renew_certificates(self, ca=None) -> None:
        """The provider renews every certificate (from a new CA, if given)."""
        self.certificates.renew(ca)
        self._certificates_changed()
        self.drain()

    def unrelate_certificates(self) -> None:
        """`juju remove-relation`: relation-departed for the provider unit, then
        relation-broken, on every unit; then the relation is gone."""
        relation_id = self.certificates.id
        for ordinal in sorted(self.units):
            self.juju.add(
                [
                    Hook(
                        ordinal,
                        "relation_departed",
                        remote=0,
                        departing=0,
                        relation_id=relation_id,
                    ),
                    Hook(ordinal, "relation_broken", relation_id=relation_id),
                ]
            )
        self.drain()
        self.certificates = None
        self.settle()

    def relate_s3(self, provider: dict[str, str], relation_id: int = 82) -> None:
        """`juju integrate zookeeper-k8s s3-integrator`, the provider's answer already in
        its databag (s3-integrator writes it in its first relation-changed)."""
        self.s3 = (relation_id, dict(provider))
        self._integrated_with_one_unit(relation_id)

    def relate_logging(self, urls: dict[int, str], relation_id: int = 81) -> LoggingRelation:
        """`juju integrate zookeeper-k8s loki`, Loki's units having written their URLs:
        relation-created, then each Loki unit's relation-joined and -changed, on every unit."""
        self.logging = LoggingRelation(relation_id, dict(urls))
        for ordinal in sorted(self.units):
            self.juju.add([Hook(ordinal, "relation_created", relation_id=relation_id)])
            for remote in sorted(urls):
                self.juju.add(
                    [
                        Hook(ordinal, "relation_joined", remote=remote, relation_id=relation_id),
                        Hook(ordinal, "relation_changed", remote=remote, relation_id=relation_id),
                    ]
                )
        self.drain()
        return self.logging

    def unrelate_logging(self) -> None:
        """`juju remove-relation`: relation-departed for each Loki unit, then
        relation-broken, on every unit; then the relation is gone."""
        relation = self.logging
        for ordinal in sorted(self.units):
            for remote in sorted(relation.urls):
                self.juju.add(
                    [
                        Hook(
                            ordinal,
                            "relation_departed",
                            remote=remote,
                            departing=remote,
                            relation_id=relation.id,
                        )
                    ]
                )
            self.juju.add([Hook(ordinal, "relation_broken", relation_id=relation.id)])
        self.drain()
        self.logging = None
        self.settle()

    def _changed(self, source: int) -> None:
        for other in self.units.values():
            if other.ordinal != source and source in other.peers and not other.dying:
                self.juju.add([Hook(other.ordinal, "relation_changed", source)])

    def run(self, ordinal: int, event: str, **kwargs) -> testing.State:
        """Dispatch one hook now (a test's own choice), then let Juju deliver what follows."""
        hook = Hook(
            ordinal,
            event,
            remote=kwargs.pop("remote_unit", None),
            departing=kwargs.pop("departing_unit", None),
            relation_id=kwargs.pop("relation_id", PEER_RELATION_ID),
        )
        out = self._finish(hook, self._begin(hook), **kwargs)
        self.drain()
        return out

    def drain(self) -> None:
        """Run queued hooks until none is left, in a seeded order, some of them overlapping.

        Pebble's events are hooks like the others: each look delivers what the pods' Pebble
        saw meanwhile (`_absorb`). With no hook left, drain still returns only once no
        change already under way is still to be reported by a watcher (`_awaited`): a
        charm that returns from its hook right after a restart learns from the notice
        that its server serves again, and that notice's hook runs before drain returns.
        """
        failing: dict[Hook, float] = {}
        hooks = 0
        deadline = time.monotonic() + DRAIN_FOR
        while hooks < MAX_HOOKS_PER_DRAIN and time.monotonic() < deadline:
            self._absorb()
            self._kill_dead_pods()
            self._move_leadership()
            first = self.juju.pick()
            if first is None:
                if self._awaited():
                    time.sleep(pebbled.TICK)
                    continue
                return
            if first.unit not in self.units:
                # A hook Juju queued for a unit whose pod is gone since: nobody runs it.
                self.juju.discard(first, "its pod is gone")
                continue
            hooks += 1
            started = [(first, self._begin(first))]
            if self.juju.overlaps():
                second = self.juju.pick(busy=[first.unit])
                if second is not None:
                    started.append((second, self._begin(second)))
            for hook, seen in started:
                self._attempt(hook, seen, failing)
            for follow in self.after_hook:
                follow()
        raise HookFailed(
            f"hooks never settled (seed {self.seed}); last: {' '.join(self.juju.log[-40:])}"
        )

    # -- Pebble's events, as Juju delivers them ----------------------------------------

    def _absorb(self) -> None:
        """What the pods' Pebble saw since the last look becomes hooks (JUJU.md section 9).

        Pebble keeps one notice per key and counts its occurrences; Juju's notice watcher
        runs one pebble-custom-notice per notice that occurred (repeated) since it last
        looked, so occurrences between two looks make one hook, which sees the last data.
        """
        noticed: dict[tuple[int, str], None] = {}
        inbox = self.pebble.inbox
        while inbox:
            event = inbox.popleft()
            unit = self.units.get(event.ordinal)
            if unit is None or unit.dead:
                # The pod is gone, and its Pebble with it; or its unit is dead, its agent
                # gone, while its pod waits for the other leaving units: no hook for it.
                continue
            if event.kind == "notice":
                self._record_notice(unit, event.occurrence)
                if event.occurrence.uid == 0:
                    # Juju emits pebble-custom-notice for public notices only, those root
                    # recorded (canonical/operator#2639): another uid's notice wakes nobody.
                    noticed[(unit.ordinal, event.occurrence.key)] = None
            elif event.kind in ("check-failed", "check-recovered"):
                hook = "pebble_" + event.kind.replace("-", "_")
                self.juju.add_workload(Hook(unit.ordinal, hook, workload=event.name))
            elif event.name == SERVICE and event.kind == "exited":
                self._await(unit, False, STOP_REPORTED_WITHIN, since=event.time)
            elif event.name == SERVICE and event.kind == "restarted" and event.first_restart:
                # A crash of a server that ran: it should come back. A crash loop's later
                # restarts are not awaited (nothing says they will ever serve).
                self._await(unit, True, self.restart_timeout, unit.process, since=event.time)
        for ordinal, key in noticed:
            self.juju.add_workload(Hook(ordinal, "pebble_custom_notice", workload=key))

    def _record_notice(self, unit: Unit, seen: pebbled.Occurrence) -> None:
        """Pebble's notice state: one notice per (uid, type, key), repeated each time."""
        when = datetime.datetime.fromtimestamp(seen.time, tz=datetime.UTC)
        old = unit.notices.get(seen.key)
        unit.notices[seen.key] = testing.Notice(
            seen.key,
            id=old.id if old else None,
            user_id=seen.uid,
            first_occurred=old.first_occurred if old else when,
            last_occurred=when,
            last_repeated=when,  # no repeat-after: every occurrence repeats
            occurrences=(old.occurrences + 1) if old else 1,
            last_data=seen.data,
        )
        unit.awaiting = [a for a in unit.awaiting if not self._reports(seen, a)]

    @staticmethod
    def _reports(seen: pebbled.Occurrence, waiting: Awaiting) -> bool:
        serving = seen.data.get("state") == "serving"
        if waiting.serving:  # the server cannot serve before the start it is about
            return serving and seen.time >= waiting.since
        # The watcher may see a server gone a moment before Pebble does: allow it a look.
        margin = 2 * NOTIFY_POLL_SECONDS
        return not serving and seen.time >= waiting.since - margin

    def _await(
        self,
        unit: Unit,
        serving: bool,
        within: float,
        start: subprocess.Popen | None = None,
        since: float | None = None,
    ) -> None:
        """Make drain() wait until the unit's watcher reports this change (or `within`)."""
        waiting = Awaiting(
            time.time() if since is None else since, serving, time.monotonic() + within, start
        )
        unit.awaiting = [a for a in unit.awaiting if a.serving != serving]
        notice = unit.notices.get(NOTICE_KEY)
        last = (
            pebbled.Occurrence(notice.last_occurred.timestamp(), 0, NOTICE_KEY, notice.last_data)
            if notice is not None
            else None
        )
        if serving and last is not None and self._reports(last, waiting):
            return
        if not serving and (last is None or last.data.get("state") != "serving"):
            return  # the watcher already says it does not serve: nothing new to report
        unit.awaiting.append(waiting)

    def _awaited(self) -> bool:
        """Whether a change under way is still to be reported by a watcher.

        Only for a unit whose watcher runs and that is not dying (a dying unit's queue takes
        teardown hooks only). A start is awaited until the watcher says the server serves,
        and then until a check of the unit that is down has recovered; it is given up when
        the process it started exits (a crash loop follows) or at its deadline.
        """
        waiting = False
        for unit in self.units.values():
            watcher = unit.services.get(NOTIFY_SERVICE)
            if unit.dying or watcher is None or watcher.poll() is not None:
                unit.awaiting.clear()
                continue
            for item in list(unit.awaiting):
                died = item.process is not None and item.process.poll() is not None
                if died or time.monotonic() > item.deadline:
                    unit.awaiting.remove(item)
                    if not died:
                        self.juju.log.append(
                            f"{unit.ordinal}: gave up waiting for its watcher to report "
                            f"{'serving' if item.serving else 'not serving'}"
                        )
            if unit.awaiting or self._recovering(unit):
                waiting = True
        return waiting

    def _recovering(self, unit: Unit) -> bool:
        """A check is down though the watcher last said the server serves: its next run
        (within a period, plus its timeout) brings it up, and Juju runs check-recovered."""
        notice = unit.notices.get(NOTICE_KEY)
        if not unit.alive or notice is None or notice.last_data.get("state") != "serving":
            return False
        age = time.time() - notice.last_occurred.timestamp()
        with self.pebble_lock:
            return any(
                c.status == "down" and age < 2 * c.period + c.timeout for c in unit.checks.values()
            )

    def _attempt(self, hook: Hook, seen: Snapshot, failing: dict[Hook, float]) -> None:
        try:
            self._finish(hook, seen)
        except testing.errors.UncaughtCharmError as exc:
            # Juju keeps the unit on this hook and retries it later; its changes are lost.
            first_failure = failing.setdefault(hook, time.monotonic())
            self.juju.log.append(f"{hook} failed: {exc.__cause__!r}")
            if time.monotonic() - first_failure > RETRY_FOR:
                raise HookFailed(f"{hook} kept failing (seed {self.seed})") from exc
            if not any(self.juju.pending(u) for u in self.units if u != hook.unit):
                time.sleep(0.5)  # only this retry is left: Juju's back-off
            return
        failing.pop(hook, None)
        self.juju.done(hook)
        if hook.event == "remove":
            self.units[hook.unit].dead = True
            self.juju.drop(hook.unit)

    def _kill_dead_pods(self) -> None:
        """Juju scales the StatefulSet down once every leaving unit is dead."""
        dying = [u for u in self.units.values() if u.dying]
        if dying and all(u.dead for u in dying):
            for unit in dying:
                self.remove_pod(unit.ordinal)

    def _move_leadership(self) -> None:
        """A dying leader keeps its lease for a while, then a remaining unit is elected."""
        leader = self.units.get(self.leader) if self.leader is not None else None
        if leader is not None and not leader.dead and not leader.dying:
            return
        # When a dying leader's lease lapses is not documented (JUJU.md section 4): any step.
        if leader is not None and not leader.dead and self.juju.rng.random() >= 0.2:
            return
        survivors = sorted(o for o, u in self.units.items() if not u.dying)
        if survivors:
            self.leader = self.juju.rng.choice(survivors)
            self.juju.add([Hook(self.leader, "leader_elected")])

    def elect(self, ordinal: int) -> None:
        """Juju moves leadership (the old leader's lease lapsed): leader-elected on the new one."""
        self.leader = ordinal
        self.juju.add([Hook(ordinal, "leader_elected")])
        self.drain()

    def deploy(self, size: int) -> None:
        """`juju deploy -n size`: every unit's first hooks, in any order across units."""
        for ordinal in range(size):
            self.add_unit(ordinal)
        for ordinal in range(size):
            self.juju.add(deploy_hooks(ordinal, ordinal == self.leader, self.juju.rng))
            for other in range(size):
                if other != ordinal:
                    self.juju.add(join_hooks(ordinal, other))
        self.drain()

    def scale(self, size: int) -> None:
        """`juju scale-application`, as Juju >= 3.1 and Kubernetes carry it out."""
        current = sorted(o for o, u in self.units.items() if not u.dying)
        self.planned = size
        if size > len(current):
            joiners = list(range(len(current), size))
            for ordinal in joiners:
                self.add_unit(ordinal)
            for ordinal in joiners:
                self.juju.add(deploy_hooks(ordinal, False, self.juju.rng))
                for other in sorted(self.units):
                    if other != ordinal:
                        self.juju.add(join_hooks(ordinal, other))
                        self.juju.add(join_hooks(other, ordinal))
        else:
            leaving = [o for o in current if o >= size]
            for ordinal in leaving:
                unit = self.units[ordinal]
                unit.dying = True
                self.juju.dying(ordinal)
                self.juju.add(teardown_hooks(ordinal, sorted(unit.peers), self.juju.rng))
                for other in current:
                    if other not in leaving:
                        self.juju.add([Hook(other, "relation_departed", ordinal, ordinal)])
        self.drain()
        self.planned = None

    def settle(self) -> None:
        """An update-status round, so each unit reports what its server says now."""
        self.drain()  # update-status runs only when nothing else is pending
        self.juju.add(
            Hook(o, "update_status") for o, u in sorted(self.units.items()) if not u.dying
        )
        self.drain()

    # -- Pebble's side ------------------------------------------------------------------

    @contextlib.contextmanager
    def _real_pebble(self, unit: Unit) -> Iterator[None]:
        """Make the simulated Pebble of one hook act on the pod's real processes and files."""
        from scenario.mocking import _MockPebbleClient

        cluster = self
        names = (
            "replan_services",
            "start_services",
            "restart_services",
            "stop_services",
            "push",
            "make_dir",
        )
        originals = {name: getattr(_MockPebbleClient, name) for name in names}

        def run_plan(client, restart: tuple[str, ...] = ()) -> None:
            with cluster.pebble_lock:
                plan(client, restart)

        def plan(client, restart: tuple[str, ...]) -> None:
            for name, service in client.get_plan().services.items():
                if not cluster.autostart:
                    unit.specs[name] = service
                    continue
                running = unit.services.get(name)
                changed = unit.specs.get(name) is None or (
                    unit.specs[name].to_dict() != service.to_dict()
                )
                if running is not None and running.poll() is None and (name in restart or changed):
                    cluster._stop_service(unit, name)
                if unit.services.get(name) is None or unit.services[name].poll() is not None:
                    cluster._start_service(unit, name, service)

        def replan_services(client, *args, **kwargs):
            originals["replan_services"](client, *args, **kwargs)
            run_plan(client)

        def start_services(client, services, *args, **kwargs):
            result = originals["start_services"](client, services, *args, **kwargs)
            run_plan(client)
            return result

        def restart_services(client, services, *args, **kwargs):
            result = originals["restart_services"](client, services, *args, **kwargs)
            if SERVICE in services:
                unit.restarts += 1
                cluster.restart_log.append(unit.ordinal)
                # What the server was just before: the roll must restart a leader last.
                mode = admin.probe("127.0.0.1", timeout=1.0).mode  # in the pod's namespace
                cluster.restart_modes.append((unit.ordinal, mode))
            run_plan(client, restart=tuple(services))
            return result

        def stop_services(client, services, *args, **kwargs):
            result = originals["stop_services"](client, services, *args, **kwargs)
            for name in services:
                cluster._stop_service(unit, name)
            return result

        def push(client, path, source, *args, user=None, group=None, **kwargs):
            originals["push"](client, path, source, *args, user=user, group=group, **kwargs)
            cluster._own(client, path, user, group)

        def make_dir(client, path, *args, user=None, group=None, **kwargs):
            originals["make_dir"](client, path, *args, user=user, group=group, **kwargs)
            cluster._own(client, path, user, group)

        patched = {
            "replan_services": replan_services,
            "start_services": start_services,
            "restart_services": restart_services,
            "stop_services": stop_services,
            "push": push,
            "make_dir": make_dir,
        }
        for name, function in patched.items():
            setattr(_MockPebbleClient, name, function)
        try:
            yield
        finally:
            for name, function in originals.items():
                setattr(_MockPebbleClient, name, function)

    def _own(self, client, path, user: str | None, group: str | None) -> None:
        """Pebble sets owners by the names in the container's own /etc/passwd and /etc/group."""
        if user is None and group is None:
            return
        uid, gid = rootfs._resolve_ids(self.root, user, group)
        os.chown(client._root / str(path).lstrip("/"), uid, gid)

    def in_pod(self, unit: Unit, command: str, user=None, group=None, env=None) -> list[str]:
        """The argv that runs `command` in the unit's pod, as Pebble runs it in the container."""
        return rootfs.pod_argv(
            self.root,
            shlex.split(command),
            storage=unit.storage,
            hosts=network.HOSTS,
            netns=unit.netns,
            user=user or None,
            group=group or None,
            env=dict(env or {}),
            hostname=unit.hostname,
            binds={pebbled.CHARM_BIN: unit.charm_bin} if unit.charm_bin else None,
        )

    def _start_service(self, unit: Unit, name: str, service: pebble.Service) -> None:
        with self.pebble_lock:
            self._start(unit, name, service)
        if name == SERVICE:  # drain() waits for the watcher to see it serve
            self._await(unit, serving=True, within=self.restart_timeout, start=unit.process)

    def _start(self, unit: Unit, name: str, service: pebble.Service) -> None:
        unit.supervision[name] = pebbled.Supervision(time.monotonic())
        argv = self.in_pod(unit, service.command, service.user, service.group, service.environment)
        log = (
            unit.log if name == SERVICE else unit.log.with_name(f"unit-{unit.ordinal}-{name}.log")
        )
        with log.open("ab") as out:
            process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        unit.services[name] = process
        unit.specs[name] = service
        STARTED.append(process)

    def _stop_service(self, unit: Unit, name: str, sig: int = signal.SIGTERM) -> None:
        """Pebble stops the service: it stays down until Pebble is told to start it."""
        with self.pebble_lock:
            process = unit.services.pop(name, None)
            unit.supervision.pop(name, None)
            if process is not None and process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, sig)
                process.wait(timeout=30)
                if name == SERVICE and unit.ordinal in self.units:
                    self._await(unit, serving=False, within=STOP_REPORTED_WITHIN)

    def start_process(self, unit: Unit, command: str | None = None) -> None:
        """Pebble brings the server back (its restart on failure), or runs `command` as the
        rock's user (tests: a server the charm did not configure)."""
        spec = unit.specs.get(SERVICE)
        if command is not None:
            spec = pebble.Service(
                SERVICE, {"command": command, "user": "zookeeper", "group": "zookeeper"}
            )
        self._stop_service(unit, SERVICE)
        self._start_service(unit, SERVICE, spec)

    def stop_process(self, unit: Unit, sig: int = signal.SIGTERM) -> None:
        """`pebble stop`: the server goes down and stays down."""
        self._stop_service(unit, SERVICE, sig)

    def lose_pod(self, ordinal: int) -> None:
        """The pod's node is gone: every process of the pod dies with its Pebble (no
        restarts, checks or notices), and its unit agent runs no more hooks."""
        unit = self.units[ordinal]
        with self.pebble_lock:
            for name in list(unit.services):
                self._stop_service(unit, name, signal.SIGKILL)
            self.pebble.forget_checks(unit)
            unit.layers, unit.awaiting = {}, []
        self.juju.lost.add(ordinal)

    def kill_process(self, unit: Unit, sig: int = signal.SIGKILL) -> None:
        """The server dies under Pebble (OOM killer, a crash): Pebble restarts it."""
        process = unit.process
        assert process is not None and process.poll() is None, "no server to kill"
        os.kill(process.pid, sig)  # the java process itself: every step of pod_argv execs
        process.wait(timeout=30)

    def restart_pod(self, ordinal: int, storage_lost: bool = False) -> None:
        """Kubernetes replaces the pod: every process and Pebble's plan go, the storage stays;
        Juju then runs pebble-ready on the new container.

        `storage_lost`: the new pod comes up on an empty volume (its PVC was deleted, or
        its node's local volume went with the node) while Juju's records of the unit,
        its relation data among them, stay as they were."""
        self.run(ordinal, "stop")  # the old pod's charm, before its processes go
        unit = self.units[ordinal]
        with self.pebble_lock:
            for name in list(unit.services):
                self._stop_service(unit, name, signal.SIGKILL)
            if storage_lost:
                for entry in unit.storage.iterdir():
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
            unit.layers, unit.specs = {}, {}
            self.pebble.forget_checks(unit)
            unit.notices, unit.awaiting = {}, []  # a new pod: a new Pebble, no notices yet
        self.juju.add(restart_hooks(ordinal, self.juju.rng))
        self.drain()

    def restart_container(self, ordinal: int) -> None:
        """The workload container alone restarts: its processes and the layers the charm
        added go with its Pebble; Juju then runs pebble-ready (JUJU.md section 1)."""
        unit = self.units[ordinal]
        with self.pebble_lock:
            for name in list(unit.services):
                self._stop_service(unit, name, signal.SIGKILL)
            unit.layers, unit.specs = {}, {}
            # Pebble's state (notices) lives in the pod's /charm/container, not in the
            # container: only its checks start over.
            self.pebble.forget_checks(unit)
            unit.awaiting = []
        self.juju.add([Hook(ordinal, "pebble_ready")])
        self.drain()

    def check(self, ordinal: int) -> subprocess.CompletedProcess:
        """Run the Pebble health check of this unit's plan, as Pebble would: in the pod."""
        unit = self.units[ordinal]
        spec = unit.layers[SERVICE].checks[CHECK].exec
        argv = self.in_pod(
            unit, spec["command"], spec.get("user"), spec.get("group"), spec.get("environment")
        )
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)

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

    def admin(self, ordinal: int | None = None):
        """The charm's own admin session, from the test process, to one unit's server."""
        host = self.units[min(self.units) if ordinal is None else ordinal].address
        return admin.session([self.super_password()], host=host)

    # -- client applications ------------------------------------------------------------

    def relate(self, app: str, request: dict[str, str], relation_id: int) -> ClientRelation:
        """`juju integrate zookeeper-k8s <app>`; the client writes its request."""
        client = self.clients[relation_id] = ClientRelation(relation_id, app, dict(request))
        self._integrated_with_one_unit(relation_id)
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
        """`juju remove-relation`: relation-departed for the client's unit, then
        relation-broken, on every unit; then the relation is gone (JUJU.md section 11)."""
        for ordinal in sorted(self.units):
            self.juju.add(
                [
                    Hook(
                        ordinal,
                        "relation_departed",
                        remote=0,
                        departing=0,
                        relation_id=relation_id,
                    ),
                    Hook(ordinal, "relation_broken", relation_id=relation_id),
                ]
            )
        self.drain()
        del self.clients[relation_id]
        self.settle()

    def hosts(self, ordinals=None) -> str:
        ordinals = sorted(self.units) if ordinals is None else ordinals
        return ",".join(f"{self.units[o].address}:2181" for o in ordinals)

    def stop(self) -> None:
        self.pebble.stop()  # first: nothing restarts what is being stopped
        for unit in list(self.units.values()):
            for name in list(unit.services):
                self._stop_service(unit, name)
            self.pebble.forget_checks(unit)
        stop_everything()
