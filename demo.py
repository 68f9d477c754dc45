#!/usr/bin/env python3
"""`make demo`: a 3-unit ensemble on loopback, from the charm's own rendered files.

Each unit is the real charm (run by ops.testing, as in the live tests), its Pebble plan run
as a real ZooKeeper process on 127.0.0.<n>. Ctrl-C (or --seconds) stops it cleanly.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent / "src"), str(Path(__file__).parent)]

from tests.live.cluster import Cluster  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--units", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="zookeeper-k8s-demo-") as workdir:
        cluster = Cluster(Path(workdir))
        try:
            started = time.monotonic()
            print(f"deploying {args.units} units of the charm (files under {workdir}) ...")
            cluster.deploy(args.units)
            cluster.wait_serving(timeout=90)
            cluster.settle()
            print(f"ensemble serving after {time.monotonic() - started:.1f}s\n")
            for unit in cluster.units.values():
                print(
                    f"  {unit.name:18} {unit.address:10} {unit.status.name}: {unit.status.message}"
                )
            print(
                "\nconnect (SASL DIGEST-MD5 as the charm's super user):\n"
                '  python3 -c "from kazoo.client import KazooClient; c = KazooClient('
                f"hosts='{cluster.hosts()}', sasl_options={{'mechanism': 'DIGEST-MD5', "
                f"'username': 'super', 'password': '{cluster.super_password()}'}}); "
                "c.start(); print(c.get_children('/'))\"\n"
                f"  (run it with {sys.executable})\n"
                f"logs: {workdir}/unit-<n>.log\n"
            )
            deadline = None if args.seconds is None else time.monotonic() + args.seconds
            print("Ctrl-C to stop" if deadline is None else f"stopping in {args.seconds:.0f}s")
            with contextlib.suppress(KeyboardInterrupt):
                signal.signal(signal.SIGTERM, signal.default_int_handler)
                while deadline is None or time.monotonic() < deadline:
                    time.sleep(0.5)
        finally:
            print("stopping ZooKeeper ...")
            cluster.stop()
    print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
