#!/usr/bin/env python3
"""Time from start to quorum: 3 units from the charm's rendered files vs plain ZooKeeper.

Both ensembles run the same JVM, jars and test JVM flags on 127.0.0.1-3 and are started the
same way (three processes at once); the clock stops when every member's admin server says
it is serving. Prints one JSON line: medians over --runs and their ratio.
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
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "src"), str(Path(__file__).parents[1])]

import admin  # noqa: E402
import render  # noqa: E402
from tests.live.cluster import (  # noqa: E402
    Cluster,
    deadline_poll,
    loopback_address,
    loopback_layout,
    raw_server_argv,
)

SIZE = 3


def _time_to_quorum(procs_and_hosts) -> float:
    started = time.monotonic()
    procs = [start() for start, _ in procs_and_hosts]
    try:
        deadline_poll(
            lambda: all(admin.probe(host, timeout=0.5).serving for _, host in procs_and_hosts),
            120,
            "quorum",
            every=0.05,
        )
        return time.monotonic() - started
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def charm_rendered(workdir: Path) -> float:
    cluster = Cluster(workdir, autostart=False)
    cluster.deploy(SIZE)  # the charm's hooks render every file and the Pebble plan
    starters = []
    for unit in cluster.units.values():
        log = unit.log.open("ab")
        argv = shlex.split(unit.command)
        starters.append(
            (
                lambda argv=argv, log=log: subprocess.Popen(argv, stdout=log, stderr=log),
                unit.address,
            )
        )
    return _time_to_quorum(starters)


def plain(workdir: Path) -> float:
    starters = []
    for ordinal in range(SIZE):
        layout = loopback_layout(workdir / f"plain-{ordinal}")
        address = loopback_address("", "", ordinal)
        Path(layout.data_dir).mkdir(parents=True)
        Path(layout.myid).write_text(f"{ordinal + 1}\n")
        servers = "".join(f"server.{n + 1}=127.0.0.{n + 1}:2888:3888\n" for n in range(SIZE))
        Path(layout.zoo_cfg).parent.mkdir(parents=True, exist_ok=True)
        Path(layout.zoo_cfg).write_text(
            f"tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir={layout.data_dir}\n"
            f"clientPort=2181\nclientPortAddress={address}\n"
            f"admin.serverAddress={address}\n4lw.commands.whitelist=*\n{servers}"
        )
        Path(layout.log_config).write_text(render.log_config(layout, "INFO"))
        argv = raw_server_argv(layout)
        log = (workdir / f"plain-{ordinal}.log").open("ab")
        starters.append(
            (lambda argv=argv, log=log: subprocess.Popen(argv, stdout=log, stderr=log), address)
        )
    return _time_to_quorum(starters)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    charm, raw = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            charm.append(charm_rendered(Path(a)))
            raw.append(plain(Path(b)))
    result = {
        "bench": "bootstrap",
        "units": SIZE,
        "runs": args.runs,
        "charm_s_median": round(statistics.median(charm), 3),
        "plain_s_median": round(statistics.median(raw), 3),
        "ratio": round(statistics.median(charm) / statistics.median(raw), 3),
        "charm_s": [round(t, 3) for t in charm],
        "plain_s": [round(t, 3) for t in raw],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
