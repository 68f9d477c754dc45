"""The isolation guard's pure parts: the addWatch wire format, event parsing, paths, ACLs."""

import struct
from collections import namedtuple

import guard

Id = namedtuple("Id", "scheme id")
ACL = namedtuple("ACL", "perms id")


def test_add_watch_serializes_as_zookeeper_add_watch_request():
    request = guard.AddWatch("/app-0", guard.PERSISTENT_RECURSIVE)
    assert request.type == 106
    body = request.serialize()
    assert isinstance(body, bytearray)
    assert bytes(body) == struct.pack("!i", 6) + b"/app-0" + struct.pack("!i", 1)


def test_add_watch_counts_utf8_bytes_not_characters():
    body = guard.AddWatch("/é", guard.PERSISTENT_RECURSIVE).serialize()
    assert bytes(body) == struct.pack("!i", 3) + "/é".encode() + struct.pack("!i", 1)


def test_add_watch_reply_body_is_ignored():
    assert guard.AddWatch.deserialize(b"\x00\x00\x00\x00", 0) is True


def test_remove_watches_serializes_path_and_watcher_type():
    request = guard.RemoveWatches("/app", guard.WATCHER_ANY)
    assert request.type == 18
    assert bytes(request.serialize()) == struct.pack("!i", 4) + b"/app" + struct.pack("!i", 3)


def test_requests_look_like_kazoo_requests():
    """What kazoo's ConnectionHandler reads: type, serialize, deserialize, no watcher."""
    from kazoo.protocol.serialization import Close, Exists, Transaction

    for request in (guard.AddWatch("/a", 1), guard.RemoveWatches("/a", 3)):
        assert request.type not in (Close.type, Exists.type, Transaction.type)
        assert getattr(request, "watcher", None) is None


def watcher_event(event_type, state, path):
    data = path.encode() if path is not None else None
    length = struct.pack("!i", len(data) if data is not None else -1)
    return struct.pack("!ii", event_type, state) + length + (data or b"")


def test_read_watch_event_at_an_offset():
    buffer = b"\xff" * 16 + watcher_event(guard.NODE_CREATED, 3, "/app/x/y")
    assert guard.read_watch_event(bytearray(buffer), 16) == (1, 3, "/app/x/y")


def test_read_watch_event_with_no_path():
    assert guard.read_watch_event(watcher_event(-1, 3, None), 0) == (-1, 3, None)


def test_read_watch_event_matches_kazoo():
    from kazoo.protocol.serialization import Watch

    buffer = bytearray(watcher_event(guard.NODE_CREATED, 3, "/app/ü"))
    watch, _ = Watch.deserialize(buffer, 0)
    assert guard.read_watch_event(buffer, 0) == (watch.type, watch.state, watch.path)


def test_chroot_of_matches_the_chroot_and_below_only():
    chroots = ["/app", "/app-b"]
    assert guard.chroot_of(chroots, "/app") == "/app"
    assert guard.chroot_of(chroots, "/app/x/y/z") == "/app"
    assert guard.chroot_of(chroots, "/app-b/w") == "/app-b"
    assert guard.chroot_of(chroots, "/application") is None
    assert guard.chroot_of(chroots, "/") is None
    assert guard.chroot_of(chroots, "/zookeeper/config") is None
    assert guard.chroot_of(chroots, None) is None
    assert guard.chroot_of([], "/app") is None


def test_chroot_of_a_nested_chroot():
    assert guard.chroot_of(["/tenants/a"], "/tenants/a/x") == "/tenants/a"
    assert guard.chroot_of(["/tenants/a"], "/tenants/ab") is None


CONFIG = {
    "chroots": {
        "/app": [["sasl", "relation-7", "cdrw"], ["sasl", "super", "cdrwa"]],
        "/other": [["digest", "u:h", "r"]],
    }
}


def test_wanted_acls_from_config():
    wanted = guard.wanted_acls(CONFIG, "/app/deep/er")
    assert guard.acl_key(wanted) == [(15, "sasl", "relation-7"), (31, "sasl", "super")]
    assert guard.acl_key(guard.wanted_acls(CONFIG, "/other")) == [(1, "digest", "u:h")]
    assert guard.wanted_acls(CONFIG, "/apple") is None


def test_acl_key_ignores_order_but_not_perms_or_ids():
    a = [ACL(15, Id("sasl", "relation-7")), ACL(31, Id("sasl", "super"))]
    assert guard.acl_key(a) == guard.acl_key(list(reversed(a)))
    assert guard.acl_key(a) != guard.acl_key([ACL(31, Id("sasl", "relation-7")), a[1]])
    assert guard.acl_key(a) != guard.acl_key([ACL(15, Id("digest", "relation-7")), a[1]])
    assert guard.acl_key(a) != guard.acl_key(a[:1])
    assert guard.acl_key(a) != guard.acl_key([*a, ACL(31, Id("world", "anyone"))])


def test_acl_key_equal_for_kazoo_acls_and_config():
    from kazoo.security import ACL as KazooACL
    from kazoo.security import Id as KazooId

    read_back = [
        KazooACL(31, KazooId("sasl", "super")),
        KazooACL(15, KazooId("sasl", "relation-7")),
    ]
    assert guard.acl_key(read_back) == guard.acl_key(guard.wanted_acls(CONFIG, "/app/x"))


class FakeConnection:
    def __init__(self):
        self.seen = []

    def _read_watch_event(self, buffer, offset):
        self.seen.append(guard.read_watch_event(buffer, offset))


class FakeClient:
    def __init__(self):
        self._connection = FakeConnection()


def test_hook_sees_created_events_and_kazoo_still_handles_every_event():
    client, created = FakeClient(), []
    guard.hook_watch_events(client, created.append)
    for event in (
        watcher_event(guard.NODE_CREATED, 3, "/app/x"),
        watcher_event(3, 3, "/app/x"),  # NodeDataChanged
        watcher_event(2, 3, "/app/x"),  # NodeDeleted
    ):
        client._connection._read_watch_event(bytearray(b"hdr" + event), 3)
    assert created == ["/app/x"]
    assert [t for t, _, _ in client._connection.seen] == [1, 3, 2]


def test_hook_survives_a_failing_callback():
    client = FakeClient()

    def boom(path):
        raise RuntimeError(path)

    guard.hook_watch_events(client, boom)
    client._connection._read_watch_event(watcher_event(guard.NODE_CREATED, 3, "/app/x"), 0)
    assert client._connection.seen == [(1, 3, "/app/x")]


def test_created_queues_only_watched_chroots_in_addwatch_mode():
    g = guard.Guard("/nonexistent")
    g.created("/app/x")  # not watching yet
    g.mode, g.watched = "addwatch", frozenset({"/app"})
    for path in ("/app/x", "/app-b/x", "/other", "/app/y/z", None):
        g.created(path)
    assert [g.pending.get_nowait() for _ in range(g.pending.qsize())] == ["/app/x", "/app/y/z"]


def test_an_older_kazoo_learns_the_error_codes_it_lacks(monkeypatch):
    from kazoo import exceptions

    # kazoo 2.9 (the rock's) has no entry for these; 2.11 (this venv) has.
    lacking = dict(exceptions.EXCEPTIONS)
    for code in guard.NEWER_ERROR_CODES:
        lacking.pop(code, None)
    monkeypatch.setattr(
        exceptions, "EXCEPTIONS", exceptions.defaultdict(exceptions._invalid_error_code, lacking)
    )
    assert sorted(guard.know_newer_error_codes()) == sorted(guard.NEWER_ERROR_CODES)
    error = exceptions.EXCEPTIONS[-121]()
    assert isinstance(error, exceptions.ZookeeperError)
    assert guard.know_newer_error_codes() == []  # known now: nothing to add twice
