#!/usr/bin/env python3
"""Scaling under load: the charm's 3->5, 5->3 and 3->1 vs the same growth done by hand.

Charm: one ensemble of the real charm (tests/live/cluster.py plays Juju) is deployed with 3
units and scaled to 5, 3, then 1, while a Writer creates znodes without pause. Raw: a plain
3-server ensemble (no auth, same JVM, jars and test flags) grows to 5 the way ZooKeeper's
reconfig guide says: two joiners start as observers of the committed config, and once they
serve one `reconfig` makes both voters. A Writer runs there too.

One JSON line per system and step:
  joiner_start_to_voting_s  growth only: first joiner process started -> every member's own
                            /zookeeper/config lists the new voters (each member polled)
  step_wall_s               charm: the whole scale() call, hooks included;
                            raw: committed config read, joiners' pods made, their
                            servers started and synced, reconfig returned
  max_write_gap_s           longest time between two acknowledged writes during the step
  session_expirations       the Writer's sessions lost during the step
  member_restarts           members present before and after whose PID changed
  writes_acknowledged       writes acknowledged during the step
  writes_missing            writes acknowledged so far that are not readable after the step
With --runs N > 1 every value is the median over the runs; "max" adds the worst run of the
three fault counters, which a median would hide. "seed" is the Juju stand-in's seed of the
first run (run i uses seed + i): `--seed` replays the same hook orders.

Both systems run on pods as the live tests make them (tests/live/network.py, rootfs.py): each
server in a network namespace of its own with a DNS name, in the rock-like root as uid 10000.
The charm's units are pods 0-4; the raw servers are pods RAW_POD + n, named RAW_APP-<n>, with
the charm's JVM, jars, logback and test flags (plain_command). Everything lives in namespaces
this process creates, so nothing else on the machine can collide with it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "src"), str(Path(__file__).parents[1])]

from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import KazooException  # noqa: E402
from kazoo.handlers.threading import KazooTimeoutError  # noqa: E402

import admin  # noqa: E402
import config as charm_config  # noqa: E402
import render  # noqa: E402
from ensemble import EnsembleConfig  # noqa: E402
from layout import (  # noqa: E402
    CLIENT_PORT,
    ELECTION_PORT,
    GROUP,
    K8S,
    QUORUM_PORT,
    SUPER_USER,
    USER,
)
from tests.live import network, rootfs  # noqa: E402
from tests.live.cluster import (  # noqa: E402
    MODEL,
    STARTED,
    Cluster,
    deadline_poll,
    live_layout,
    pod_name,
)
from tests.live.juju import seed_from_env  # noqa: E402
from tests.live.writer import Writer  # noqa: E402

STEPS = (5, 3, 1)  # the charm's sizes after its first 3 units
MAX_SIZE = 5
VOTING_TIMEOUT = 180.0  # generous: the charm's joiner hooks wait up to 60s each for sync
FAULTS = ("session_expirations", "member_restarts", "writes_missing")
# The charm's config in every bench: Cluster's own default, named here so that the plain
# servers get the same heap as the charm's.
CONFIG = {"jvm-heap-mb": 128}
# Pods without a charm take network ordinals from here, clear of the charm's units (0-4).
RAW_POD = 20
RAW_APP = "zookeeper-raw"
# What only the charm's authentication needs; a plain server gets every other flag.
AUTH_ONLY_FLAGS = ("-Djava.security.auth.login.config=", "-Dzookeeper.superUser=")


# -- pods without a charm (belongs in tests/live/cluster.py) ---------------------------------


def pod_root() -> Path:
    """The rock-like root, as Cluster finds it (built first if there is none)."""
    network.enter()
    with network.machine_network():  # a cold build fetches Debian packages
        return rootfs.ensure_root()


@dataclasses.dataclass(frozen=True)
class Pod:
    """A pod of no charm: its own namespace, DNS name and storage (a plain server's)."""

    pod: int  # the network ordinal, clear of the charm's units
    name: str
    storage: Path
    netns: str

    @property
    def hostname(self) -> str:
        return self.name.split(".")[0]


def add_pod(pod: int, app: str, ordinal: int, storage: Path) -> Pod:
    """What Cluster.add_unit does for the charm: namespace, published name, storage."""
    storage.mkdir(parents=True, exist_ok=True)
    netns = network.add_unit(pod)
    name = K8S.address(app, MODEL, ordinal)
    network.publish(name, network.unit_address(pod))
    return Pod(pod, name, storage, netns)


def remove_pod(pod: Pod) -> None:
    network.publish(pod.name, None)
    network.remove_unit(pod.pod)


def start_in_pod(
    root: Path,
    argv: list[str],
    *,
    storage: Path,
    netns: str,
    hostname: str,
    log: Path,
    user: str | None = USER,
    group: str | None = GROUP,
    env: dict | None = None,
) -> subprocess.Popen:
    """Run argv in a pod as Cluster._start_service runs a Pebble service, for any argv.

    The launch path is the same for the charm's servers and the plain ones, so that a
    comparison of the two measures ZooKeeper and the charm's files, not the launcher.
    """
    argv = rootfs.pod_argv(
        root,
        argv,
        storage=storage,
        hosts=network.HOSTS,
        netns=netns,
        user=user,
        group=group,
        env=dict(env or {}),
        hostname=hostname,
    )
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    STARTED.append(process)  # so that stop_everything() reaches it too
    return process


def stop_in_pod(processes: Iterable[subprocess.Popen], sig: int = signal.SIGTERM) -> None:
    """Signal every process first and then wait, so that they shut down side by side."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
    for process in processes:
        process.wait(timeout=30)


def probe_in(netns: str) -> admin.Health:
    """A member's admin server, from inside its pod (the charm's listens on loopback only)."""
    try:
        with network.inside(netns):
            return admin.probe("127.0.0.1", timeout=0.5)
    except FileNotFoundError:  # no such pod (yet, or any more)
        return admin.NOT_RUNNING


def plain_command(*flags: str) -> list[str]:
    """A plain server's argv: the charm's JVM, jars, heap, logback and test flags, no auth."""
    layout = live_layout()
    jvm = render.jvm_flags(charm_config.parse(CONFIG), layout)
    return [
        layout.java,
        *(flag for flag in jvm if not flag.startswith(AUTH_ONLY_FLAGS)),
        *flags,
        "-cp",
        layout.classpath,
        render.MAIN_CLASS,
        str(layout.zoo_cfg),
    ]


def write_plain_files(root: Path, pod: Pod, myid: int, zoo_cfg: str, extra=None) -> None:
    """zoo.cfg, logback.xml and myid where the pod sees them, owned by the rock's user."""
    layout = live_layout()

    def on_host(path) -> Path:
        return pod.storage / Path(path).relative_to(layout.storage)

    files = {
        layout.zoo_cfg: zoo_cfg,
        layout.log_config: render.log_config(layout, "INFO"),
        layout.myid: render.myid_file(myid),
        **(extra or {}),
    }
    for path, text in files.items():
        on_host(path).parent.mkdir(parents=True, exist_ok=True)
        on_host(path).write_text(text)
    # ZooKeeper writes its data and, after a reconfig, its config files as that user.
    uid, gid = rootfs._resolve_ids(root, USER, GROUP)
    for directory, _, names in os.walk(pod.storage):
        for name in [directory, *(os.path.join(directory, n) for n in names)]:
            os.chown(name, uid, gid)


# -- the charm -------------------------------------------------------------------------------


class BenchCluster(Cluster):
    """The live tests' Cluster, noting when each unit's server process first starts."""

    def __init__(self, workdir: Path, seed: int | None = None):
        super().__init__(workdir, config=dict(CONFIG), seed=seed)
        self.started_at: dict[int, float] = {}  # ordinal -> first start since last clear

    def _start_service(self, unit, name, service) -> None:
        super()._start_service(unit, name, service)
        if name == render.SERVICE:
            self.started_at.setdefault(unit.ordinal, time.monotonic())


# -- observation -----------------------------------------------------------------------------


def super_user(password: str) -> dict:
    return {
        "sasl_options": {"mechanism": "DIGEST-MD5", "username": SUPER_USER, "password": password}
    }


class VoterWatch(threading.Thread):
    """Polls each member's own /zookeeper/config until every one lists exactly `voters`.

    No sync: what a member serves is what it has applied. `done_at` is when the last
    member was first seen with the new voters. Members are (DNS name, pod namespace): a
    session goes to the name, the admin probe that gates it into the pod.
    """

    def __init__(self, members: Iterable[tuple[str, str]], voters: set[int], client_kwargs: dict):
        super().__init__(daemon=True)
        self.netns = dict(members)
        self.addresses, self.voters, self.client_kwargs = list(self.netns), voters, client_kwargs
        self.done_at: float | None = None
        self._clients: dict[str, KazooClient] = {}

    def run(self) -> None:
        pending, deadline = set(self.addresses), time.monotonic() + VOTING_TIMEOUT
        try:
            while pending and time.monotonic() < deadline:
                for address in sorted(pending):
                    config = self._config(address)
                    if config is not None and {s.id for s in config.voters} == self.voters:
                        pending.discard(address)
                if pending:
                    time.sleep(0.02)
            if not pending:
                self.done_at = time.monotonic()
        finally:
            for address in list(self._clients):
                self._drop(address)

    def _config(self, address: str) -> EnsembleConfig | None:
        client = self._clients.get(address)
        if client is None:
            if not probe_in(self.netns[address]).serving:
                return None
            client = KazooClient(
                hosts=f"{address}:{CLIENT_PORT}",
                timeout=5,
                connection_retry={"max_tries": 1},
                **self.client_kwargs,
            )
            try:
                client.start(timeout=2)
            except (KazooException, KazooTimeoutError):
                client.stop()
                client.close()
                return None
            self._clients[address] = client
        try:
            data, _ = client.get_async(admin.CONFIG_ZNODE).get(timeout=1)
        except (KazooException, KazooTimeoutError):
            self._drop(address)
            return None
        return EnsembleConfig.parse(data.decode())

    def _drop(self, address: str) -> None:
        client = self._clients.pop(address)
        client.stop()
        client.close()

    def seconds_after(self, start: float) -> float:
        self.join(VOTING_TIMEOUT + 30)
        if self.done_at is None:
            raise TimeoutError(f"members {self.addresses} never all showed voters {self.voters}")
        return self.done_at - start


class Window:
    """What the Writer saw and which servers restarted between open and close()."""

    def __init__(self, writer: Writer, pids: dict[int, int]):
        self.writer, self.pids = writer, pids
        self.acked, self.expirations = len(writer.acknowledged), writer.expirations
        writer.max_gap = 0.0

    def close(self, pids: dict[int, int]) -> dict:
        writer = self.writer
        # Wait for one more write, so a gap still open at the end of the step is counted.
        acked = len(writer.acknowledged)
        stayed = self.pids.keys() & pids.keys()
        deadline_poll(lambda: len(writer.acknowledged) > acked, 60, "a write after the step")
        return {
            "max_write_gap_s": writer.max_gap,
            "session_expirations": writer.expirations - self.expirations,
            "member_restarts": sum(pids[o] != self.pids[o] for o in stayed),
            "writes_acknowledged": len(writer.acknowledged) - self.acked,
            "writes_missing": len(writer.missing()),
        }


# -- the charm's steps -----------------------------------------------------------------------


def charm_pids(cluster: Cluster) -> dict[int, int]:
    return {o: u.process.pid for o, u in cluster.units.items() if u.alive}


def charm_steps(workdir: Path, seed: int) -> list[dict]:
    cluster = BenchCluster(workdir, seed=seed)
    writer = None
    try:
        cluster.deploy(3)
        cluster.wait_serving(timeout=90)
        cluster.settle()
        password = cluster.super_password()
        hosts = ",".join(f"{pod_name(o)}:{CLIENT_PORT}" for o in range(MAX_SIZE))
        writer = Writer(hosts, password).__enter__()
        results = []
        for size in STEPS:
            before, watch = len(cluster.units), None
            window = Window(writer, charm_pids(cluster))
            if size > before:
                # Joiners' namespaces do not exist yet: probe_in waits for them.
                members = ((pod_name(o), network.namespace_of(o)) for o in range(size))
                watch = VoterWatch(members, set(range(1, size + 1)), super_user(password))
                watch.start()
            cluster.started_at.clear()
            started = time.monotonic()
            cluster.scale(size)
            wall = time.monotonic() - started
            voting = None
            if watch is not None:
                first_joiner = min(cluster.started_at[o] for o in range(before, size))
                voting = watch.seconds_after(first_joiner)
            cluster.wait_serving(timeout=90)
            results.append(
                {
                    "system": "charm",
                    "step": f"{before}->{size}",
                    "joiner_start_to_voting_s": voting,
                    "step_wall_s": wall,
                    **window.close(charm_pids(cluster)),
                }
            )
        return results
    finally:
        if writer is not None:
            writer.__exit__(None, None, None)
            writer.close()
        cluster.stop()
        network.cleanup_units()


# -- raw ZooKeeper and kazoo -----------------------------------------------------------------


class OpenWriter(Writer):
    """The live tests' Writer for an ensemble without authentication."""

    def __init__(self, hosts: str):
        super().__init__(hosts, password="")
        self.client = KazooClient(
            hosts=hosts,
            timeout=10,
            connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.5},
        )
        self.client.add_listener(self._on_state)


class RawEnsemble:
    """Plain ZooKeeper servers on pods: reconfig on, no auth, the charm's JVM and flags."""

    def __init__(self, workdir: Path, root: Path):
        self.workdir, self.root = workdir, root
        self.pods: dict[int, Pod] = {}
        self.processes: dict[int, subprocess.Popen] = {}
        self.started_at: dict[int, float] = {}

    def host(self, ordinal: int) -> str:
        return K8S.address(RAW_APP, MODEL, ordinal)  # known before the pod exists

    def netns(self, ordinal: int) -> str:
        return network.namespace_of(RAW_POD + ordinal)

    def line(self, ordinal: int, role: str) -> str:
        host = self.host(ordinal)
        return (
            f"server.{ordinal + 1}={host}:{QUORUM_PORT}:{ELECTION_PORT}:{role}"
            f";{host}:{CLIENT_PORT}"
        )

    def start(self, ordinal: int, servers: list[str]) -> None:
        pod = add_pod(RAW_POD + ordinal, RAW_APP, ordinal, self.workdir / f"raw-{ordinal}")
        self.pods[ordinal] = pod
        layout = live_layout()
        dynamic = layout.conf_dir / "zoo.cfg.dynamic"
        # ZooKeeper's defaults otherwise: a pod's server listens on all its addresses.
        zoo_cfg = (
            f"tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={layout.data_dir}\n"
            f"dynamicConfigFile={dynamic}\nreconfigEnabled=true\nstandaloneEnabled=false\n"
        )
        servers_text = "".join(f"{line}\n" for line in servers)
        write_plain_files(self.root, pod, ordinal + 1, zoo_cfg, {dynamic: servers_text})
        # Reconfig is for super users only; without auth ZooKeeper's guide skips ACLs.
        argv = plain_command("-Dzookeeper.skipACL=yes")
        self.processes[ordinal] = start_in_pod(
            self.root,
            argv,
            storage=pod.storage,
            netns=pod.netns,
            hostname=pod.hostname,
            log=self.workdir / f"raw-{ordinal}.log",
        )
        self.started_at[ordinal] = time.monotonic()

    def wait_serving(self, ordinals: Iterable[int], timeout: float = 90) -> None:
        ordinals = list(ordinals)
        deadline_poll(
            lambda: all(probe_in(self.netns(o)).serving for o in ordinals),
            timeout,
            f"raw servers {ordinals} to serve",
            every=0.05,
        )

    def pids(self) -> dict[int, int]:
        return {o: p.pid for o, p in self.processes.items() if p.poll() is None}

    def stop(self) -> None:
        stop_in_pod(self.processes.values())
        for pod in self.pods.values():
            remove_pod(pod)


def raw_step(workdir: Path, root: Path) -> dict:
    """3->5 by hand: joiners observe the committed config, then one reconfig adds both."""
    ensemble, writer, client = RawEnsemble(workdir, root), None, None
    old, new = range(3), range(3, MAX_SIZE)
    try:
        for ordinal in old:
            ensemble.start(ordinal, [ensemble.line(o, "participant") for o in old])
        ensemble.wait_serving(old)
        hosts = ",".join(f"{ensemble.host(o)}:{CLIENT_PORT}" for o in range(MAX_SIZE))
        writer = OpenWriter(hosts).__enter__()
        client = KazooClient(hosts=",".join(f"{ensemble.host(o)}:{CLIENT_PORT}" for o in old))
        client.start(timeout=15)
        window = Window(writer, ensemble.pids())
        members = ((ensemble.host(o), ensemble.netns(o)) for o in range(MAX_SIZE))
        watch = VoterWatch(members, {1, 2, 3, 4, 5}, {})
        watch.start()
        started = time.monotonic()
        client.sync(admin.CONFIG_ZNODE)
        committed = client.get(admin.CONFIG_ZNODE)[0].decode().splitlines()
        servers = [line for line in committed if line.startswith("server.")]
        for ordinal in new:
            ensemble.start(ordinal, [*servers, ensemble.line(ordinal, "observer")])
        ensemble.wait_serving(new)
        client.reconfig(
            joining=",".join(ensemble.line(o, "participant") for o in new),
            leaving=None,
            new_members=None,
        )
        wall = time.monotonic() - started
        voting = watch.seconds_after(min(ensemble.started_at[o] for o in new))
        return {
            "system": "raw",
            "step": "3->5",
            "joiner_start_to_voting_s": voting,
            "step_wall_s": wall,
            **window.close(ensemble.pids()),
        }
    finally:
        if writer is not None:
            writer.__exit__(None, None, None)
            writer.close()
        if client is not None:
            client.stop()
            client.close()
        ensemble.stop()


# -- report ----------------------------------------------------------------------------------


def summarize(runs: list[list[dict]], seed: int) -> list[dict]:
    """One line per (system, step): the value of a single run, or medians over several."""
    lines = []
    for i, first in enumerate(runs[0]):
        same = [run[i] for run in runs]
        line = {"bench": "scale", "system": first["system"], "step": first["step"]}
        for key, value in first.items():
            if key in line:
                continue
            values = [r[key] for r in same]
            median = None if value is None else statistics.median(values)
            line[key] = round(median, 3) if isinstance(median, float) else median
        line["runs"] = len(runs)
        line["seed"] = seed
        if len(runs) > 1:
            line["max"] = {key: max(r[key] for r in same) for key in FAULTS}
        lines.append(line)
    return lines


def one_run(root: Path, seed: int) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="zookeeper-k8s-bench-scale-") as workdir:
        charm = charm_steps(Path(workdir) / "charm", seed)
        raw = raw_step(Path(workdir) / "raw", root)
    return [charm[0], raw, *charm[1:]]  # raw 3->5 beside the charm's


def add_seed_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--seed",
        type=int,
        help="the Juju stand-in's hook-order seed (default: ZK_LIVE_SEED, else random)",
    )


def seed_of(args: argparse.Namespace) -> int:
    return seed_from_env() if args.seed is None else args.seed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1)
    add_seed_argument(parser)
    args = parser.parse_args()
    network.enter()  # before the Writer's threads: the pods' mount namespace needs one thread
    seed = seed_of(args)
    # SIGTERM unwinds like Ctrl-C, so every finally stops the servers it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)  # reconnects are expected here
    root = pod_root()
    runs = [one_run(root, seed + i) for i in range(args.runs)]
    for line in summarize(runs, seed):
        print(json.dumps(line))


if __name__ == "__main__":
    main()
