#!/usr/bin/env python3
"""The isolation guard: a Pebble service in the workload container.

ZooKeeper ACLs are not inherited: a znode gets exactly the ACL its creator passes, and many
clients pass the open default. The guard makes the charm's promise hold whatever clients
pass: every znode under a client's chroot ends up with that client's ACL (and the super
user's), within a short window after it is created.

How: a kazoo TreeCache per chroot (child and data watches on every znode below it) reports
each new znode; the guard reads its ACL and rewrites it if it differs. ACL *changes* fire no
ZooKeeper watch, so clients never hold the admin permission: once the guard has closed a
znode, its owner can still read and write it but cannot open it again. Only the guard on the
ZooKeeper leader's pod acts (one rewrite per znode, not one per member); the others wait
and take over when leadership moves. A full sweep runs at every (re)start, config change
and every `sweep_seconds`, for anything a missed event let through.

Standalone on purpose: the workload container runs it with the rock's python3 and kazoo;
it imports nothing from the charm. Its config (JSON, 0600, written by the charm):
{"hosts": "127.0.0.1:2181", "user": "super", "password": ..., "sweep_seconds": 60,
 "chroots": {"/app": [["sasl", "relation-7", "cdrw"], ...]}}
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time

PERM_BITS = {"r": 1, "w": 2, "c": 4, "d": 8, "a": 16}
logger = logging.getLogger("guard")


def wanted_acls(config: dict, path: str) -> list | None:
    """The ACL the znode at `path` must carry, or None if the guard leaves it alone."""
    from kazoo.security import ACL, Id

    for chroot, entries in config["chroots"].items():
        if path == chroot or path.startswith(chroot + "/"):
            return [
                ACL(sum(PERM_BITS[p] for p in perms), Id(scheme, ident))
                for scheme, ident, perms in entries
            ]
    return None


def is_leader(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.sendall(b"mntr")
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
    except OSError:
        return False
    return b"zk_server_state\tleader" in reply


class Guard:
    def __init__(self, config_path: str):
        self.config_path = config_path
        self.config: dict = {}
        self.mtime = 0.0
        self.client = None
        self.caches: list = []
        self.fixed = 0
        self.lock = threading.Lock()

    def load(self) -> bool:
        import os

        try:
            mtime = os.stat(self.config_path).st_mtime
        except OSError:
            return False
        if mtime == self.mtime:
            return False
        with open(self.config_path) as f:
            self.config = json.load(f)
        self.mtime = mtime
        return True

    def connect(self) -> None:
        from kazoo.client import KazooClient

        if self.client is not None:
            self.client.stop()
            self.client.close()
        cfg = self.config
        self.client = KazooClient(
            hosts=cfg["hosts"],
            timeout=15,
            sasl_options={
                "mechanism": "DIGEST-MD5",
                "username": cfg["user"],
                "password": cfg["password"],
            },
            connection_retry={"max_tries": -1, "delay": 0.5, "max_delay": 5},
        )
        self.client.start(timeout=30)

    def fix(self, path: str) -> None:
        wanted = wanted_acls(self.config, path)
        if wanted is None:
            return
        from kazoo.exceptions import NoNodeError

        try:
            acls, _ = self.client.get_acls(path)
            if sorted(map(repr, acls)) != sorted(map(repr, wanted)):
                self.client.set_acls(path, wanted)
                with self.lock:
                    self.fixed += 1
                logger.info("closed %s", path)
        except NoNodeError:
            pass  # gone already

    def watch(self) -> None:
        """A TreeCache per chroot: its initial load is a sweep; then each new znode."""
        from kazoo.recipe.cache import TreeCache, TreeEvent

        self.unwatch()
        for chroot in self.config["chroots"]:
            cache = TreeCache(self.client, chroot)

            def on_event(event, cache=cache):
                if event.event_type == TreeEvent.NODE_ADDED and event.event_data:
                    self.fix(event.event_data.path)

            cache.listen(on_event)
            cache.start()
            self.caches.append(cache)

    def unwatch(self) -> None:
        for cache in self.caches:
            cache.close()
        self.caches = []

    def sweep(self) -> None:
        from kazoo.exceptions import NoNodeError

        def walk(path):
            self.fix(path)
            try:
                children = self.client.get_children(path)
            except NoNodeError:
                return
            for child in children:
                walk(f"{path.rstrip('/')}/{child}")

        for chroot in self.config["chroots"]:
            walk(chroot)

    def run(self) -> None:
        host, _, port = self.config["hosts"].split(",")[0].rpartition(":")
        acting = False
        last_sweep = time.monotonic()
        while True:
            if self.load():
                self.connect()
                acting = False  # re-watch with the new chroots
            leader = is_leader(host, int(port))
            if leader and not acting:
                logger.info("acting: this member leads ZooKeeper")
                self.watch()
                acting, last_sweep = True, time.monotonic()
            elif not leader and acting:
                logger.info("standing by: another member leads ZooKeeper")
                self.unwatch()
                acting = False
            if acting and time.monotonic() - last_sweep > self.config.get("sweep_seconds", 60):
                self.sweep()
                last_sweep = time.monotonic()
            time.sleep(1)


def main() -> None:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(message)s")
    guard = Guard(sys.argv[1])
    while not guard.load():
        time.sleep(1)  # the charm writes the config before it plans this service
    guard.mtime = 0.0
    guard.run()


if __name__ == "__main__":
    main()
