#!/usr/bin/env python3
"""`make demo`: the charm's main job on pod-like units, step by step.

Deploys 3 units, relates a client application that writes and reads through the
credentials the charm gave it, scales to 5, to 1 and back to 3, and after each step prints
what `juju status` would show next to what ZooKeeper says. Each unit is the real charm run
in Juju's hook orders (tests/live/JUJU.md), its pod a network namespace with its own address
and DNS name, its ZooKeeper 3.9 running from a rock-like root as the rock's user.
Ctrl-C or --seconds stops every process and removes every namespace.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent / "src"), str(Path(__file__).parent)]

from tests.live import network  # noqa: E402

CLIENT_RELATION = 10
STEPS = (("scale to 5", 5), ("scale to 1", 1), ("scale to 3", 3))


def table(cluster, writer) -> str:
    """What `juju status` would show, next to what each server says of itself."""
    rows = [("Unit", "Workload", "Message", "Role", "Voters")]
    for ordinal, unit in sorted(cluster.units.items()):
        health = unit.health()
        rows.append(
            (
                f"{unit.name}{'*' if ordinal == cluster.leader else ''}",
                unit.status.name if unit.status else "unknown",
                unit.status.message if unit.status else "",
                health.mode or "-",
                str(health.voters or "-"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    if writer is not None and writer.acknowledged:
        last = writer.acknowledged[-1]
        # Read back through the client's own session: its credentials, its chroot.
        seen = "read back" if writer.client.exists(last) else "NOT FOUND"
        lines.append(
            f"demo-app: last acknowledged write {last} ({seen}), "
            f"{len(writer.acknowledged)} so far, {writer.expirations} sessions expired"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--seconds", type=float, default=None, help="keep serving this long after the steps"
    )
    parser.add_argument("--seed", type=int, default=None, help="replay a hook order")
    args = parser.parse_args()
    # The table is the output, not hook logs (ops raises the root logger's level per hook).
    quiet = logging.StreamHandler()
    quiet.setLevel(logging.ERROR)
    logging.basicConfig(handlers=[quiet])
    network.enter()  # before any thread: every address lives in namespaces made here

    from tests.live.cluster import Cluster
    from tests.live.writer import Writer

    writer = None
    with tempfile.TemporaryDirectory(prefix="zookeeper-k8s-demo-") as workdir:
        cluster = Cluster(Path(workdir), seed=args.seed)
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                print(f"hook order seed {cluster.seed} (replay: --seed {cluster.seed})")
                started = time.monotonic()
                cluster.deploy(3)
                cluster.wait_serving(timeout=90)
                cluster.settle()
                print(f"\n$ juju deploy zookeeper-k8s -n 3   ({time.monotonic() - started:.1f}s)")
                print(table(cluster, writer))

                started = time.monotonic()
                request = {"database": "/demo-app", "requested-secrets": json.dumps(["username"])}
                cluster.relate("demo-app", request, CLIENT_RELATION)
                cluster.settle()
                creds = cluster.credentials(CLIENT_RELATION)
                writer = Writer(
                    creds["uris"],
                    None,
                    path="/writes",
                    digest=(creds["username"], creds["password"]),
                )
                writer.__enter__()
                print(
                    f"\n$ juju integrate zookeeper-k8s demo-app   "
                    f"({time.monotonic() - started:.1f}s)\n"
                    f"  demo-app got chroot {creds['chroot']}, user {creds['username']}, "
                    f"uris {creds['uris']}"
                )
                print(table(cluster, writer))

                for title, size in STEPS:
                    started = time.monotonic()
                    cluster.scale(size)
                    cluster.wait_serving(timeout=90)
                    cluster.settle()
                    print(
                        f"\n$ juju scale-application zookeeper-k8s {size}   "
                        f"({time.monotonic() - started:.1f}s, {title})"
                    )
                    print(table(cluster, writer))
                writer.__exit__(None, None, None)
                read_back = len(writer.acknowledged) - len(writer.missing())
                print(
                    f"\ndemo-app: {len(writer.acknowledged)} writes acknowledged, "
                    f"{read_back} read back through its own credentials, "
                    f"{writer.expirations} sessions expired"
                )
                if args.seconds:
                    print(f"serving for {args.seconds:.0f}s more (Ctrl-C to stop)")
                    deadline = time.monotonic() + args.seconds
                    while time.monotonic() < deadline:
                        time.sleep(0.5)
        finally:
            print("stopping every process and namespace ...")
            if writer is not None:
                writer.close()
            cluster.stop()
            network.cleanup_units()
    print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
