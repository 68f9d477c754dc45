#!/usr/bin/env python3
"""The isolation guard: a Pebble service in the workload container.

ZooKeeper ACLs are not inherited: a znode gets exactly the ACL its creator passes, and many
clients pass the open default. The guard makes the charm's promise hold whatever clients
pass: every znode under a client's chroot ends up with that client's ACL (and the super
user's), within a short window after it is created.

How: a ZooKeeper 3.6+ persistent recursive watch per chroot (addWatch, mode
PERSISTENT_RECURSIVE) reports each new znode at any depth as one NodeCreated event; a worker
thread reads the ACLs of the reported znodes (pipelined) and rewrites those that differ.
kazoo has no API for addWatch: the guard sends it with kazoo's own request machinery
(`client._call`) and sees the events by wrapping the connection's `_read_watch_event`, which
otherwise only dispatches to watchers registered for an exact path. kazoo does not restore
persistent watches on reconnection (it sends no setWatches2), so the guard adds them again
on every CONNECTED and sweeps. If addWatch fails (server < 3.6, kazoo internals changed),
the guard falls back to a kazoo TreeCache per chroot (slower under bursts: it re-lists a
parent's children for each new child); it logs which mode it uses. ACL *changes* fire no
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
import queue
import socket
import struct
import sys
import threading
import time
from collections import namedtuple

PERM_BITS = {"r": 1, "w": 2, "c": 4, "d": 8, "a": 16}
logger = logging.getLogger("guard")

# ZooKeeper's wire protocol (ZooDefs.OpCode, AddWatchMode, Watcher.WatcherType, EventType).
ADD_WATCH = 106
REMOVE_WATCHES = 18
PERSISTENT_RECURSIVE = 1
WATCHER_ANY = 3
NODE_CREATED = 1
BATCH = 500  # znodes whose ACLs the worker reads (then writes) in one pipelined round
CALL_TIMEOUT = 30.0
_int = struct.Struct("!i")
_int_int = struct.Struct("!ii")


def write_string(text: str) -> bytes:
    """A jute ustring: length (int32, big endian) and UTF-8 bytes."""
    data = text.encode("utf-8")
    return _int.pack(len(data)) + data


class AddWatch(namedtuple("AddWatch", "path mode")):
    """AddWatchRequest {ustring path; int mode}, shaped like kazoo's requests for `_call`."""

    type = ADD_WATCH

    def serialize(self) -> bytearray:
        return bytearray(write_string(self.path) + _int.pack(self.mode))

    @classmethod
    def deserialize(cls, buffer, offset) -> bool:
        return True  # the reply header carries any error; the body is an ErrorResponse


class RemoveWatches(namedtuple("RemoveWatches", "path watcher_type")):
    """RemoveWatchesRequest {ustring path; int type}."""

    type = REMOVE_WATCHES

    def serialize(self) -> bytearray:
        return bytearray(write_string(self.path) + _int.pack(self.watcher_type))

    @classmethod
    def deserialize(cls, buffer, offset) -> bool:
        return True


def read_watch_event(buffer, offset: int) -> tuple[int, int, str | None]:
    """A WatcherEvent {int type; int state; ustring path} at `offset`: (type, state, path)."""
    event_type, state = _int_int.unpack_from(buffer, offset)
    offset += _int_int.size
    (length,) = _int.unpack_from(buffer, offset)
    offset += _int.size
    if length < 0:
        return event_type, state, None
    return event_type, state, bytes(buffer[offset : offset + length]).decode("utf-8")


def chroot_of(chroots, path: str | None) -> str | None:
    """The chroot `path` is (under), or None."""
    if not path:
        return None
    for chroot in chroots:
        if path == chroot or path.startswith(chroot.rstrip("/") + "/"):
            return chroot
    return None


def acl_key(acls) -> list:
    """ACLs (kazoo's ACL namedtuples) in a canonical, order-free form to compare."""
    return sorted((acl.perms, acl.id.scheme, acl.id.id) for acl in acls)


def wanted_acls(config: dict, path: str) -> list | None:
    """The ACL the znode at `path` must carry, or None if the guard leaves it alone."""
    from kazoo.security import ACL, Id

    chroot = chroot_of(config["chroots"], path)
    if chroot is None:
        return None
    return [
        ACL(sum(PERM_BITS[p] for p in perms), Id(scheme, ident))
        for scheme, ident, perms in config["chroots"][chroot]
    ]


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


# Error codes ZooKeeper 3.5+ sends that kazoo 2.9 (Ubuntu 24.04's python3-kazoo, the rock's)
# does not know; kazoo 2.11 does. Unknown, they raise RuntimeError in kazoo's connection
# thread, which then dies and never reconnects: a removeWatches answered with NoWatcher after
# a reconnect (the new session carries no persistent watch) took the guard down that way.
NEWER_ERROR_CODES = {
    -120: "EphemeralOnLocalSessionError",
    -121: "NoWatcherError",
    -122: "RequestTimeoutError",
    -123: "ReconfigDisabledError",
    -124: "SessionClosedRequireSaslError",
    -125: "QuotaExceededError",
    -127: "ThrottledOpError",
}


def know_newer_error_codes() -> list[int]:
    """Teach an older kazoo the codes it lacks, as ordinary ZookeeperErrors; returns them."""
    from kazoo import exceptions

    added = []
    for code, name in NEWER_ERROR_CODES.items():
        if code not in exceptions.EXCEPTIONS:  # a defaultdict: `in` does not add the key
            klass = type(name, (exceptions.ZookeeperError,), {"__module__": __name__})
            exceptions._zookeeper_exception(code)(klass)
            added.append(code)
    return added


def hook_watch_events(client, on_created) -> None:
    """Hand each NodeCreated event's path to `on_created`, then let kazoo handle the event.

    kazoo's ConnectionHandler reads every watch event with `_read_watch_event(buffer, offset)`
    (same in 2.9 and 2.11) and dispatches it only to watchers registered for that exact path;
    a persistent recursive watch's events for descendants would be dropped there. The wrapper
    runs in kazoo's connection thread: `on_created` must not block.
    """
    connection = client._connection
    original = connection._read_watch_event

    def read_event(buffer, offset):
        try:
            event_type, _, path = read_watch_event(buffer, offset)
            if event_type == NODE_CREATED:
                on_created(path)
        except Exception:
            logger.exception("reading a watch event")
        return original(buffer, offset)

    connection._read_watch_event = read_event


class Guard:
    def __init__(self, config_path: str):
        self.config_path = config_path
        self.config: dict = {}
        self.mtime = 0.0
        self.client = None
        self.caches: list = []
        self.hooked = False  # kazoo's watch events reach self.created
        self.mode = ""  # "" (not watching), "addwatch" or "treecache"
        self.watched: frozenset = frozenset()  # chroots whose NodeCreated events count
        self.fixed = 0
        self.lock = threading.Lock()
        self.pending: queue.Queue = queue.Queue()
        self.wake = threading.Event()  # the main loop: re-add watches and sweep now
        self.resweep = False
        self.worker = threading.Thread(target=self.work, name="guard-fix", daemon=True)

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

        if added := know_newer_error_codes():
            logger.info("kazoo lacked ZooKeeper error codes %s: added", added)

        if self.client is not None:
            self.unwatch()
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
        self.hooked = False
        try:
            hook_watch_events(self.client, self.created)
            self.hooked = True
        except AttributeError as exc:  # kazoo internals differ: TreeCache only
            logger.warning("cannot hook kazoo's watch events (%s)", exc)
        self.client.add_listener(self.on_state)
        self.client.start(timeout=30)

    # -- events -> ACL rewrites ---------------------------------------------------------------

    def created(self, path: str | None) -> None:
        """From kazoo's connection thread: a znode was created at `path`."""
        if self.mode == "addwatch" and chroot_of(self.watched, path):
            self.pending.put(path)

    def on_state(self, state) -> None:
        """From kazoo's connection thread: no blocking calls here."""
        from kazoo.protocol.states import KazooState

        if state == KazooState.CONNECTED and self.mode == "addwatch":
            # The new connection carries no persistent watch: kazoo sends no setWatches2. The
            # requests queue now and go out once the session is authenticated.
            for chroot in self.watched:
                self.add_watch(chroot).rawlink(lambda r, c=chroot: self.check_added(c, r))
            self.resweep = True  # for what was created while no watch was in place
            self.wake.set()

    def check_added(self, chroot: str, result) -> None:
        if result.exception is None:
            logger.info("persistent watch on %s re-added after reconnection", chroot)
        else:
            logger.warning(
                "re-adding the persistent watch on %s failed: %r", chroot, result.exception
            )
            self.resweep = True
            self.wake.set()

    def add_watch(self, path: str):
        result = self.client.handler.async_result()
        self.client._call(AddWatch(path, PERSISTENT_RECURSIVE), result)
        return result

    def work(self) -> None:
        while True:
            paths = [self.pending.get()]
            while len(paths) < BATCH:
                try:
                    paths.append(self.pending.get_nowait())
                except queue.Empty:
                    break
            try:
                self.fix_many(paths)
            except Exception as exc:  # connection loss and such: the sweep catches up
                logger.warning("fixing %d znodes failed: %r", len(paths), exc)
                self.resweep = True

    def fix_many(self, paths: list[str]) -> None:
        """Read the ACLs of all `paths` at once, then rewrite those that differ at once."""
        from kazoo.exceptions import NoNodeError

        client, reads = self.client, []
        for path in paths:
            wanted = wanted_acls(self.config, path)
            if wanted is not None:
                reads.append((path, wanted, client.get_acls_async(path)))
        writes = []
        for path, wanted, call in reads:
            try:
                acls, _ = call.get(timeout=CALL_TIMEOUT)
            except NoNodeError:
                continue  # gone already
            if acl_key(acls) != acl_key(wanted):
                writes.append((path, client.set_acls_async(path, wanted)))
        for path, call in writes:
            try:
                call.get(timeout=CALL_TIMEOUT)
            except NoNodeError:
                continue
            with self.lock:
                self.fixed += 1
            logger.info("closed %s", path)

    def fix(self, path: str) -> None:
        self.fix_many([path])

    # -- watching -----------------------------------------------------------------------------

    def watch(self) -> None:
        """Persistent recursive watches (TreeCaches if those fail), then a sweep."""
        self.unwatch()
        chroots = list(self.config["chroots"])
        if self.watch_persistent(chroots):
            logger.info(
                "watch mode: persistent recursive watches (addWatch) on %d chroots", len(chroots)
            )
            self.sweep()
        else:
            logger.info("watch mode: TreeCache on %d chroots", len(chroots))
            self.watch_treecache(chroots)

    def watch_persistent(self, chroots: list[str]) -> bool:
        from kazoo.exceptions import ConnectionLoss, SessionExpiredError

        if not self.hooked:
            return False
        self.watched, self.mode = frozenset(chroots), "addwatch"
        try:
            calls = [self.add_watch(chroot) for chroot in chroots]
            for call in calls:
                call.get(timeout=CALL_TIMEOUT)
        except (ConnectionLoss, SessionExpiredError):
            self.watched, self.mode = frozenset(), ""
            raise  # not a verdict on addWatch: run() tries again
        except Exception as exc:  # UnimplementedError (< 3.6), kazoo internals differ, ...
            logger.warning("addWatch failed (%r): falling back to TreeCache", exc)
            self.remove_watches()
            return False
        return True

    def watch_treecache(self, chroots: list[str]) -> None:
        """A TreeCache per chroot: its initial load is a sweep; then each new znode."""
        from kazoo.recipe.cache import TreeCache, TreeEvent

        self.mode = "treecache"
        for chroot in chroots:
            cache = TreeCache(self.client, chroot)

            def on_event(event):
                if event.event_type == TreeEvent.NODE_ADDED and event.event_data:
                    self.pending.put(event.event_data.path)

            cache.listen(on_event)
            cache.start()
            self.caches.append(cache)

    def remove_watches(self) -> None:
        """Stop counting events and ask the server to drop the persistent watches."""
        watched, self.watched, self.mode = self.watched, frozenset(), ""
        calls = []
        for chroot in watched:
            result = self.client.handler.async_result()
            self.client._call(RemoveWatches(chroot, WATCHER_ANY), result)
            calls.append(result)
        for call in calls:
            try:
                call.get(timeout=CALL_TIMEOUT)
            except Exception as exc:  # no such watch (a new connection), connection loss
                logger.debug("removing a persistent watch: %r", exc)

    def unwatch(self) -> None:
        if self.mode == "addwatch":
            self.remove_watches()
        for cache in self.caches:
            cache.close()
        self.caches = []
        self.mode = ""

    def sweep(self) -> None:
        """Queue every znode under each chroot for the worker, level by level."""
        from kazoo.exceptions import NoNodeError

        self.resweep = False
        level = list(self.config["chroots"])
        while level:
            for path in level:
                self.pending.put(path)
            calls = [(path, self.client.get_children_async(path)) for path in level]
            level = []
            for path, call in calls:
                try:
                    children = call.get(timeout=CALL_TIMEOUT)
                except NoNodeError:
                    continue
                level += [f"{path.rstrip('/')}/{child}" for child in children]

    def run(self) -> None:
        host, _, port = self.config["hosts"].split(",")[0].rpartition(":")
        acting = False
        last_sweep = time.monotonic()
        if not self.worker.is_alive():
            self.worker.start()
        while True:
            if self.load():
                self.connect()
                acting = False  # re-watch with the new chroots
            leader = is_leader(host, int(port))
            if leader and not acting:
                logger.info("acting: this member leads ZooKeeper")
                try:
                    self.watch()
                    acting, last_sweep = True, time.monotonic()
                except Exception as exc:  # connection loss: the next round tries again
                    logger.warning("watching failed: %r", exc)
            elif not leader and acting:
                logger.info("standing by: another member leads ZooKeeper")
                self.unwatch()
                acting = False
            overdue = time.monotonic() - last_sweep > self.config.get("sweep_seconds", 60)
            if acting and (overdue or self.resweep):
                try:
                    self.sweep()
                    last_sweep = time.monotonic()
                except Exception as exc:  # connection loss: the next round tries again
                    logger.warning("sweep failed: %r", exc)
            self.wake.wait(1)
            self.wake.clear()


def main() -> None:
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(message)s")
    guard = Guard(sys.argv[1])
    while not guard.load():
        time.sleep(1)  # the charm writes the config before it plans this service
    guard.mtime = 0.0
    guard.run()


if __name__ == "__main__":
    main()
