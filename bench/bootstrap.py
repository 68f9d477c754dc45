#!/usr/bin/env python3
"""Time from start to quorum: 3 units from the charm's rendered files vs plain ZooKeeper.

Both ensembles run on pods as the live tests make them (tests/live/network.py, rootfs.py):
each server in a network namespace of its own with a DNS name, from the rock-like root as
uid 10000, with the same JVM, jars, heap, logback and test JVM flags (bench/scale.py's
plain_command drops only the charm's authentication flags). The charm's units are pods
0-2; the plain servers are pods 20-22, named zookeeper-plain-<n>. Both are started the same
way (start_in_pod, three processes at once); the clock stops when every member's admin
server, asked from inside its pod, says it is serving. Prints one JSON line: medians over
--runs and their ratio, and the Juju stand-in's seed of the first run (run i uses seed + i).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO), str(REPO / "bench")]

from layout import ELECTION_PORT, K8S, QUORUM_PORT  # noqa: E402
from render import SERVICE  # noqa: E402
from scale import (  # noqa: E402
    CONFIG,
    RAW_POD,
    add_pod,
    add_seed_argument,
    plain_command,
    pod_root,
    probe_in,
    seed_of,
    start_in_pod,
    stop_in_pod,
    write_plain_files,
)
from tests.live import network  # noqa: E402
from tests.live.cluster import Cluster, deadline_poll  # noqa: E402

SIZE = 3
PLAIN_APP = "zookeeper-plain"

# (start the server, the namespace of its pod)
Starter = tuple[Callable[[], subprocess.Popen], str]


def _time_to_quorum(starters: list[Starter]) -> float:
    started = time.monotonic()
    procs = [start() for start, _ in starters]
    try:
        deadline_poll(
            lambda: all(probe_in(netns).serving for _, netns in starters),
            120,
            "quorum",
            every=0.05,
        )
        return time.monotonic() - started
    finally:
        stop_in_pod(procs)


def charm_rendered(workdir: Path, seed: int) -> float:
    cluster = Cluster(workdir, config=dict(CONFIG), autostart=False, seed=seed)
    try:
        cluster.deploy(SIZE)  # the charm's hooks render every file and the Pebble plan
        starters = []
        for unit in cluster.units.values():
            # Only the server, as this bench always measured: quorum needs nothing else.
            spec = unit.specs[SERVICE]

            def start(unit=unit, spec=spec) -> subprocess.Popen:
                return start_in_pod(
                    cluster.root,
                    shlex.split(spec.command),
                    storage=unit.storage,
                    netns=unit.netns,
                    hostname=unit.hostname,
                    log=unit.log,
                    user=spec.user or None,
                    group=spec.group or None,
                    env=dict(spec.environment or {}),
                )

            starters.append((start, unit.netns))
        return _time_to_quorum(starters)
    finally:
        cluster.stop()
        network.cleanup_units()


def plain(workdir: Path, root: Path) -> float:
    layout = K8S  # the paths inside every pod
    pods = [add_pod(RAW_POD + n, PLAIN_APP, n, workdir / f"plain-{n}") for n in range(SIZE)]
    try:
        servers = "".join(
            f"server.{n + 1}={pod.name}:{QUORUM_PORT}:{ELECTION_PORT}\n"
            for n, pod in enumerate(pods)
        )
        argv = plain_command()
        starters = []
        for n, pod in enumerate(pods):
            # ZooKeeper's defaults otherwise: a pod's server listens on all its addresses.
            write_plain_files(
                root,
                pod,
                n + 1,
                f"tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={layout.data_dir}\n"
                f"clientPort=2181\n4lw.commands.whitelist=*\n{servers}",
            )

            def start(pod=pod) -> subprocess.Popen:
                return start_in_pod(
                    root,
                    argv,
                    storage=pod.storage,
                    netns=pod.netns,
                    hostname=pod.hostname,
                    log=workdir / f"{pod.hostname}.log",
                )

            starters.append((start, pod.netns))
        return _time_to_quorum(starters)
    finally:
        network.cleanup_units()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    add_seed_argument(parser)
    args = parser.parse_args()
    network.enter()
    seed = seed_of(args)
    root = pod_root()
    charm, raw = [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            charm.append(charm_rendered(Path(a), seed + run))
            raw.append(plain(Path(b), root))
    result = {
        "bench": "bootstrap",
        "units": SIZE,
        "runs": args.runs,
        "charm_s_median": round(statistics.median(charm), 3),
        "plain_s_median": round(statistics.median(raw), 3),
        "ratio": round(statistics.median(charm) / statistics.median(raw), 3),
        "charm_s": [round(t, 3) for t in charm],
        "plain_s": [round(t, 3) for t in raw],
        "seed": seed,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
