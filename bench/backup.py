#!/usr/bin/env python3
"""Backup and restore time and size, for 10,000 and 100,000 znodes.

One ensemble of the real charm (3 units; tests/live/cluster.py plays Juju, pods as the live
tests make them), related to moto's S3 server on the node's bridge address (it exists only
in the namespaces this process creates). The super user fills /bench with znodes of 64
bytes; then, for each size:

  backup_s      the create-backup action's hook: the admin server's snapshot streamed to
                a spool file, read back (the manifest), uploaded, retention applied
  restore_s     the restore action until the ensemble settled: every unit fetched the
                snapshot and stopped, every server started on it, the leader read the
                whole tree back and checked it node by node, the grants applied again
  snapshot_bytes, znodes (as the manifest counts them: persistent, /zookeeper/config out)

One JSON line per size.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "src"), str(Path(__file__).parents[1])]

from tests.live import network  # noqa: E402

SIZES = (10_000, 100_000)
BUCKET = "bench"
DATA = b"x" * 64
BATCH = 2000


def fill(cluster, total: int) -> None:
    """Create /bench/n-<i> until /bench holds `total` znodes (requests in flight together)."""
    from kazoo.client import KazooClient

    client = KazooClient(
        hosts=cluster.hosts(),
        timeout=30,
        sasl_options={
            "mechanism": "DIGEST-MD5",
            "username": "super",
            "password": cluster.super_password(),
        },
    )
    client.start(timeout=30)
    try:
        client.ensure_path("/bench")
        have = client.get_children("/bench")
        for start in range(len(have), total, BATCH):
            pending = [
                client.create_async(f"/bench/n-{i:07d}", DATA)
                for i in range(start, min(total, start + BATCH))
            ]
            for result in pending:
                result.get(timeout=60)
    finally:
        client.stop()
        client.close()


def main() -> None:
    network.enter()  # before any thread: the pods' mount namespace needs one thread
    import logging

    from moto.server import ThreadedMotoServer

    from tests.live.cluster import Cluster, stop_everything

    port = 20000 + os.getpid() % 20000
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per S3 request
    server = ThreadedMotoServer(ip_address=network.NODE_ADDRESS, port=port, verbose=False)
    server.start()
    endpoint = f"http://{network.NODE_ADDRESS}:{port}"
    import boto3

    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    ).create_bucket(Bucket=BUCKET)
    try:
        with tempfile.TemporaryDirectory(prefix="zookeeper-k8s-bench-backup-") as workdir:
            cluster = Cluster(Path(workdir), config={"jvm-heap-mb": 384})
            try:
                cluster.deploy(3)
                cluster.wait_serving()
                cluster.relate_s3(
                    {
                        "bucket": BUCKET,
                        "endpoint": endpoint,
                        "region": "us-east-1",
                        "s3-uri-style": "path",
                        "access-key": "bench",
                        "secret-key": "bench",
                    }
                )
                for size in SIZES:
                    fill(cluster, size)
                    leader = cluster.leader
                    began = time.monotonic()
                    cluster.run(leader, "action", name="create-backup", params={})
                    backup_s = time.monotonic() - began
                    backup_id = cluster.action_results["backup-id"]
                    cluster.run(leader, "action", name="list-backups", params={})
                    manifest = cluster.action_results["backups"][backup_id]
                    began = time.monotonic()
                    cluster.run(leader, "action", name="restore", params={"backup-id": backup_id})
                    cluster.wait_serving()
                    restore_s = time.monotonic() - began
                    problem = cluster.app_data.get("restore-problem", "null")
                    print(
                        json.dumps(
                            {
                                "bench": "backup",
                                "znodes_written": size,
                                "znodes": int(manifest["znodes"]),
                                "snapshot_bytes": int(manifest["snapshot-bytes"]),
                                "backup_s": round(backup_s, 2),
                                "restore_s": round(restore_s, 2),
                                "restore_checked": problem == "null",
                                "restore_pending": cluster.app_data.get("restore", "null")
                                != "null",
                            }
                        ),
                        flush=True,
                    )
            finally:
                cluster.stop()
                stop_everything()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
