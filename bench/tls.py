#!/usr/bin/env python3
"""TLS: how long switching takes, the longest write gap it causes, and request latency over
TLS beside plaintext, on one 3-unit ensemble of the real charm (tests/live/cluster.py plays
Juju, the certificates come from a CA made here).

JSON lines:
  {"bench": "tls-switch", "direction": "on"|"off", "wall_s", "max_write_gap_s",
   "session_expirations", "writes_missing"}: `juju integrate` (or remove-relation) to the
   last step done, under a client app that follows its relation data (tests/live/test_tls.py's
   Follower): it moves to TLS when told, and back. The gap is the longest between two
   acknowledged writes of any of its clients; the two fault counters cover the whole run.
  {"bench": "tls-latency", "transport": "plaintext"|"tls", "p50_ms", "p99_ms", "requests"}:
   one client's sequential set() of 100 bytes against one member, plaintext before TLS is
   on and TLS after, the same member, the same znode.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "src"), str(Path(__file__).parents[1])]

from tests.ca import CA  # noqa: E402
from tests.live import zk  # noqa: E402
from tests.live.cluster import Cluster, stop_everything  # noqa: E402
from tests.live.test_tls import RELATION, Follower  # noqa: E402
from tests.live.writer import client_app  # noqa: E402


def latency(hosts: str, user, requests: int, tls: dict | None) -> dict:
    with zk.session(hosts, sasl=user, tls=tls) as client:
        client.ensure_path("/latency")
        samples = []
        for _ in range(requests):
            started = time.perf_counter()
            client.set("/latency", b"x" * 100)
            samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 3),
        "requests": requests,
    }


def switch(cluster: Cluster, follower: Follower, direction: str, act) -> dict:
    first = len(follower.writers) - 1  # the client it starts with, then those after
    gap_before = follower.writers[first][1].max_gap
    started = time.monotonic()
    act()
    cluster.wait_serving()
    cluster.settle()
    wall = time.monotonic() - started
    gap = max([gap_before, *(w.max_gap for _, w in follower.writers[first:])])
    return {
        "bench": "tls-switch",
        "direction": direction,
        "wall_s": round(wall, 2),
        "max_write_gap_s": round(gap, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        cluster = Cluster(Path(work))
        try:
            cluster.deploy(3)
            cluster.wait_serving()
            cluster.settle()
            chroot, user = client_app(cluster, "bench", RELATION)
            plain_hosts = cluster.credentials(RELATION)["endpoints"].split(",")[0] + chroot
            plaintext = latency(plain_hosts, user, args.requests, None)
            follower = Follower(cluster, chroot, user, Path(work))
            follower.follow()
            cluster.after_hook.append(follower.follow)
            ca = CA()
            on = switch(cluster, follower, "on", lambda: cluster.relate_certificates(ca))
            answer = cluster.credentials(RELATION)
            ca_file = Path(work) / "bench-ca.pem"
            ca_file.write_text(answer["tls-ca"])
            tls_hosts = answer["endpoints"].split(",")[0] + chroot
            tls = {"use_ssl": True, "ca": str(ca_file), "verify_certs": True}
            secure = latency(tls_hosts, user, args.requests, tls)
            off = switch(cluster, follower, "off", cluster.unrelate_certificates)
            follower.stop()
            faults = {
                "session_expirations": sum(follower.expired),
                "writes_missing": len(follower.missing()),
            }
            for line in (on, off):
                print(json.dumps({**line, **faults}), flush=True)
            for transport, result in (("plaintext", plaintext), ("tls", secure)):
                print(json.dumps({"bench": "tls-latency", "transport": transport, **result}))
            follower.writers[-1][1].close()
        finally:
            cluster.stop()
            stop_everything()


if __name__ == "__main__":
    main()
