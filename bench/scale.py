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
                            raw: committed config read, joiners started and synced,
                            reconfig returned
  max_write_gap_s           longest time between two acknowledged writes during the step
  session_expirations       the Writer's sessions lost during the step
  member_restarts           members present before and after whose PID changed
  writes_acknowledged       writes acknowledged during the step
  writes_missing            writes acknowledged so far that are not readable after the step
With --runs N > 1 every value is the median over the runs; "max" adds the worst run of the
three fault counters, which a median would hide.

Members of unit ordinal n listen on <base-address> + n (127.0.0.1 + n by default, as in the
live tests); pass --base-address to stay clear of other servers on the machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import logging
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "src"), str(Path(__file__).parents[1])]

from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import KazooException  # noqa: E402
from kazoo.handlers.threading import KazooTimeoutError  # noqa: E402

import admin  # noqa: E402
import render  # noqa: E402
from charm import ZooKeeperCharm  # noqa: E402
from ensemble import EnsembleConfig  # noqa: E402
from layout import ADMIN_PORT, CLIENT_PORT, ELECTION_PORT, QUORUM_PORT, SUPER_USER  # noqa: E402
from tests.live.cluster import (  # noqa: E402
    APP,
    MODEL,
    Cluster,
    Unit,
    deadline_poll,
    loopback_layout,
    raw_server_argv,
)
from tests.live.writer import Writer  # noqa: E402

STEPS = (5, 3, 1)  # the charm's sizes after its first 3 units
MAX_SIZE = 5
VOTING_TIMEOUT = 180.0  # generous: the charm's joiner hooks wait up to 60s each for sync
FAULTS = ("session_expirations", "member_restarts", "writes_missing")

Address = Callable[[str, str, int], str]


PORTS = (2181, 2888, 3888, 8080)


def check_free(base: str, size: int = 3) -> None:
    """Refuse to start on addresses where something (a live test, another bench) listens."""
    import socket

    first = ipaddress.IPv4Address(base)
    for ordinal in range(size):
        for port in PORTS:
            with socket.socket() as sock:
                sock.settimeout(0.5)
                if sock.connect_ex((str(first + ordinal), port)) == 0:
                    raise SystemExit(f"{first + ordinal}:{port} is in use: pick --base-address")


def address_from(base: str) -> Address:
    """Layout.address for the bench: unit ordinal n at base + n."""
    first = ipaddress.IPv4Address(base)

    def address(_app: str, _model: str, ordinal: int) -> str:
        return str(first + ordinal)

    return address


# -- the charm, on the bench's addresses -----------------------------------------------------


class BenchUnit(Unit):
    @property
    def address(self) -> str:
        return self.layout.address(APP, MODEL, self.ordinal)


class BenchCluster(Cluster):
    """The live tests' Cluster with its own addresses, noting when each process starts."""

    def __init__(self, workdir: Path, address: Address):
        super().__init__(workdir)
        self.address = address
        self.started_at: dict[int, float] = {}  # ordinal -> first start since last clear

    def add_unit(self, ordinal: int) -> Unit:
        storage = self.workdir / f"unit-{ordinal}"
        storage.mkdir(parents=True, exist_ok=True)
        layout = dataclasses.replace(loopback_layout(storage), address=self.address)
        charm = type(f"Unit{ordinal}Charm", (ZooKeeperCharm,), {"layout": layout})
        unit = self.units[ordinal] = BenchUnit(ordinal, storage, layout, charm)
        if self.leader is None:
            self.leader = ordinal
        return unit

    def start_process(self, unit: Unit, command: str | None = None) -> None:
        super().start_process(unit, command)
        self.started_at.setdefault(unit.ordinal, time.monotonic())


# -- observation -----------------------------------------------------------------------------


def super_user(password: str) -> dict:
    return {
        "sasl_options": {"mechanism": "DIGEST-MD5", "username": SUPER_USER, "password": password}
    }


class VoterWatch(threading.Thread):
    """Polls each member's own /zookeeper/config until every one lists exactly `voters`.

    No sync: what a member serves is what it has applied. `done_at` is when the last
    member was first seen with the new voters.
    """

    def __init__(self, addresses: Iterable[str], voters: set[int], client_kwargs: dict):
        super().__init__(daemon=True)
        self.addresses, self.voters, self.client_kwargs = list(addresses), voters, client_kwargs
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
            if not admin.probe(address, timeout=0.5).serving:
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


# -- the charm -------------------------------------------------------------------------------


def charm_pids(cluster: Cluster) -> dict[int, int]:
    return {o: u.process.pid for o, u in cluster.units.items() if u.alive}


def charm_steps(workdir: Path, address: Address) -> list[dict]:
    cluster = BenchCluster(workdir, address)
    writer = None
    try:
        cluster.deploy(3)
        cluster.wait_serving(timeout=90)
        cluster.settle()
        password = cluster.super_password()
        hosts = ",".join(f"{address(APP, MODEL, o)}:{CLIENT_PORT}" for o in range(MAX_SIZE))
        writer = Writer(hosts, password).__enter__()
        results = []
        for size in STEPS:
            before, watch = len(cluster.units), None
            window = Window(writer, charm_pids(cluster))
            if size > before:
                members = (address(APP, MODEL, o) for o in range(size))
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
    """Plain ZooKeeper servers: reconfig on, no auth, the live tests' JVM, jars and flags."""

    def __init__(self, workdir: Path, address: Address):
        self.workdir, self.address = workdir, address
        self.processes: dict[int, subprocess.Popen] = {}
        self.started_at: dict[int, float] = {}

    def host(self, ordinal: int) -> str:
        return self.address(APP, MODEL, ordinal)

    def line(self, ordinal: int, role: str) -> str:
        host = self.host(ordinal)
        return (
            f"server.{ordinal + 1}={host}:{QUORUM_PORT}:{ELECTION_PORT}:{role}"
            f";{host}:{CLIENT_PORT}"
        )

    def start(self, ordinal: int, servers: list[str]) -> None:
        layout = loopback_layout(self.workdir / f"raw-{ordinal}")
        Path(layout.data_dir).mkdir(parents=True)
        Path(layout.conf_dir).mkdir(parents=True)
        Path(layout.myid).write_text(f"{ordinal + 1}\n")
        dynamic = Path(layout.conf_dir) / "zoo.cfg.dynamic"
        dynamic.write_text("".join(f"{line}\n" for line in servers))
        Path(layout.zoo_cfg).write_text(
            f"tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={layout.data_dir}\n"
            f"dynamicConfigFile={dynamic}\nreconfigEnabled=true\nstandaloneEnabled=false\n"
            f"admin.serverAddress={self.host(ordinal)}\nadmin.serverPort={ADMIN_PORT}\n"
        )
        Path(layout.log_config).write_text(render.log_config(layout, "INFO"))
        # Reconfig is for super users only; without auth ZooKeeper's guide skips ACLs.
        argv = raw_server_argv(layout, "-Dzookeeper.skipACL=yes")
        with (self.workdir / f"raw-{ordinal}.log").open("ab") as log:
            self.processes[ordinal] = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started_at[ordinal] = time.monotonic()

    def wait_serving(self, ordinals: Iterable[int], timeout: float = 90) -> None:
        hosts = [self.host(o) for o in ordinals]
        deadline_poll(
            lambda: all(admin.probe(h, timeout=0.5).serving for h in hosts),
            timeout,
            f"{hosts} to serve",
            every=0.05,
        )

    def pids(self) -> dict[int, int]:
        return {o: p.pid for o, p in self.processes.items() if p.poll() is None}

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            process.wait(timeout=30)


def raw_step(workdir: Path, address: Address) -> dict:
    """3->5 by hand: joiners observe the committed config, then one reconfig adds both."""
    ensemble, writer, client = RawEnsemble(workdir, address), None, None
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
        watch = VoterWatch((ensemble.host(o) for o in range(MAX_SIZE)), {1, 2, 3, 4, 5}, {})
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


def summarize(runs: list[list[dict]]) -> list[dict]:
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
        if len(runs) > 1:
            line["max"] = {key: max(r[key] for r in same) for key in FAULTS}
        lines.append(line)
    return lines


def one_run(base: str) -> list[dict]:
    address = address_from(base)
    with tempfile.TemporaryDirectory(prefix="zookeeper-k8s-bench-scale-") as workdir:
        charm = charm_steps(Path(workdir) / "charm", address)
        raw = raw_step(Path(workdir) / "raw", address)
    return [charm[0], raw, *charm[1:]]  # raw 3->5 beside the charm's


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--base-address",
        default="127.0.0.1",
        help="address of unit 0; unit n listens on this + n (default: %(default)s)",
    )
    args = parser.parse_args()
    # SIGTERM unwinds like Ctrl-C, so every finally stops the servers it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)  # reconnects are expected here
    runs = [one_run(args.base_address) for _ in range(args.runs)]
    for line in summarize(runs):
        print(json.dumps(line))


if __name__ == "__main__":
    main()
