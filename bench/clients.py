#!/usr/bin/env python3
"""A new client app, from `juju integrate` to credentials that work on every server.

One ensemble of the real charm (tests/live/cluster.py plays Juju, 3 units on pods) relates
client apps one after another. For each, one JSON line:
  relate_to_told_s     relation-created hooks queued -> the client's answer carries its
                       user secret (every unit's hooks for the relation ran, in a seeded
                       legal order; the leader checks each server accepts the user first)
  told_to_usable_s     -> a SASL login and a create in its chroot done on every server,
                       one server at a time, no retry (0 would mean "at once")
  server_restarts      servers whose PID changed meanwhile (the design says none)
and a summary line with the medians. "seed" replays the same hook orders (--seed).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "src"), str(Path(__file__).parents[1])]

from bench.scale import add_seed_argument, seed_of  # noqa: E402

from tests.live import network  # noqa: E402
from tests.live.cluster import Cluster, pod_name  # noqa: E402
from tests.live.zk import closing, connect  # noqa: E402

SECRETS = json.dumps(["username", "password", "uris"])


def usable_everywhere(cluster: Cluster, creds: dict, chroot: str, name: str) -> None:
    for ordinal in sorted(cluster.units):
        client = connect(
            f"{pod_name(ordinal)}:2181{chroot}", sasl=(creds["username"], creds["password"])
        )
        try:
            client.create(f"/{name}-{ordinal}", b"x")
        finally:
            closing(client)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--apps", type=int, default=5)
    add_seed_argument(parser)
    args = parser.parse_args()
    network.enter()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)
    seed = seed_of(args)
    lines = []
    with tempfile.TemporaryDirectory(prefix="zookeeper-k8s-bench-clients-") as workdir:
        cluster = Cluster(Path(workdir), seed=seed)
        try:
            cluster.deploy(3)
            cluster.wait_serving()
            cluster.settle()
            pids = {o: u.process.pid for o, u in cluster.units.items()}
            for i in range(args.apps):
                relation_id, chroot = 40 + i, f"/bench-app-{i}"
                start = time.monotonic()
                cluster.relate(
                    f"app-{i}", {"database": chroot, "requested-secrets": SECRETS}, relation_id
                )
                creds = cluster.credentials(relation_id)
                told = time.monotonic()
                assert "password" in creds, f"app-{i} was not told its credentials"
                usable_everywhere(cluster, creds, chroot, "bench")
                usable = time.monotonic()
                now = {o: u.process.pid for o, u in cluster.units.items()}
                lines.append(
                    {
                        "bench": "clients",
                        "app": i,
                        "seed": seed,
                        "relate_to_told_s": round(told - start, 3),
                        "told_to_usable_s": round(usable - told, 3),
                        "server_restarts": sum(now[o] != pids[o] for o in pids),
                    }
                )
                print(json.dumps(lines[-1]), flush=True)
        finally:
            cluster.stop()
    print(
        json.dumps(
            {
                "bench": "clients",
                "summary": True,
                "apps": len(lines),
                "seed": seed,
                "relate_to_told_s_median": statistics.median(x["relate_to_told_s"] for x in lines),
                "told_to_usable_s_median": statistics.median(x["told_to_usable_s"] for x in lines),
                "server_restarts": sum(x["server_restarts"] for x in lines),
            }
        )
    )


if __name__ == "__main__":
    main()
