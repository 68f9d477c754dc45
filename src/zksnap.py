"""ZooKeeper's snapshot file, read in Python: what a backup holds, from the file itself.

The layout is FileSnap's (ZooKeeper 3.9), in jute's binary encoding (big-endian ints and
longs; strings and buffers as a length, -1 for null, then bytes; vectors as a count):
a file header (magic "ZKSN", version, dbid), the sessions (count, then id and timeout
each), the ACL cache (count, then a reference and its ACL vector each), the nodes (path,
data, ACL reference, persisted stat) in tree order until the path "/" ends them, an Adler32
seal (the checksum of everything before it, then the path "/"); then, when the server has
them on (3.9's defaults), the digest record (zxid, version, digest) and the last processed
zxid, each sealed the same way.

An admin `snapshot` is fuzzy: the tree is walked while writes go on, so nodes are as they
were at different moments. What a restore brings back is exactly this file's tree, which
is why the manifest is made from it and not from the live tree.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import struct
import zlib
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from records import Record, frozen

MAGIC = b"ZKSN"
# ReferenceCountedACLCache's reference for world:anyone with every permission.
OPEN_ACL_REF = -1
OPEN_ACL = ((31, "world", "anyone"),)
# ZooKeeper rewrites this node from its dynamic config file on start: not backed-up data.
CONFIG_NODE = "/zookeeper/config"
# A quota's usage node: the server keeps it up to date without transactions and counts it
# again from the tree when it loads a snapshot (DataTree.setupQuota), so in a fuzzy
# snapshot it holds a count taken at another moment than the tree it counts.
QUOTA_ROOT = "/zookeeper/quota/"
QUOTA_STATS = "/zookeeper_stats"

Acl = tuple[int, str, str]  # perms, scheme, id


class SnapshotError(ValueError):
    """The file is not a whole, intact ZooKeeper snapshot."""


@frozen
class Node(Record):
    path: str
    data: bytes
    acl: tuple[Acl, ...]
    czxid: int
    mzxid: int
    pzxid: int
    version: int
    aversion: int
    ephemeral_owner: int

    @property
    def compared(self) -> bool:
        """Whether a restore must bring this node back as it is here. Ephemeral, container
        and TTL nodes (any owner) are not compared: the server removes them on its own once
        their session is gone or they are empty or expired. Nor is what the server derives
        when it loads: its config node and the quotas' usage counts."""
        derived = self.path == CONFIG_NODE or (
            self.path.startswith(QUOTA_ROOT) and self.path.endswith(QUOTA_STATS)
        )
        return self.ephemeral_owner == 0 and not derived


@frozen
class Parsed(Record):
    dbid: int
    sessions: int
    nodes: dict[str, Node]
    # The server's own digest of the tree and the zxid it was taken at (None: digests off).
    server_digest: int | None
    digest_zxid: int | None
    # The last zxid the server had processed when it finished writing the file.
    last_zxid: int | None

    @property
    def zxid(self) -> int:
        """The zxid a restored server resumes from: the last one applied to this tree."""
        if self.last_zxid is not None:
            return self.last_zxid
        return max((max(n.mzxid, n.czxid, n.pzxid) for n in self.nodes.values()), default=0)

    @property
    def compared(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.compared]

    @property
    def ephemeral(self) -> int:
        return sum(1 for n in self.nodes.values() if n.ephemeral_owner != 0)

    @property
    def digest(self) -> str:
        return tree_digest(self.compared)


def tree_digest(nodes: Iterable[Node]) -> str:
    """SHA-256 over every compared node's path, data and ACL, in path order: the same for
    a parsed snapshot and for a live tree holding the same nodes."""
    hasher = hashlib.sha256()
    for node in sorted(nodes, key=lambda n: n.path):
        hasher.update(line(node).encode())
    return hasher.hexdigest()


def line(node: Node) -> str:
    data = base64.b64encode(node.data).decode()
    return json.dumps([node.path, data, sorted(list(a) for a in node.acl)]) + "\n"


class _Reader:
    """Reads jute's encoding and keeps the Adler32 of everything read, as SnapStream's
    CheckedInputStream does."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream
        self.checksum = zlib.adler32(b"")

    def take(self, size: int) -> bytes:
        data = self.stream.read(size)
        if len(data) != size:
            raise SnapshotError("the snapshot ends early: truncated")
        self.checksum = zlib.adler32(data, self.checksum)
        return data

    def int(self) -> int:
        return struct.unpack(">i", self.take(4))[0]

    def long(self) -> int:
        return struct.unpack(">q", self.take(8))[0]

    def buffer(self) -> bytes | None:
        size = self.int()
        if size < 0:
            return None
        return self.take(size)

    def string(self) -> str:
        data = self.buffer()
        return "" if data is None else data.decode()

    def at_end(self) -> bool:
        return self.stream.peek(1)[:1] == b""

    def seal(self) -> None:
        expected = self.checksum
        value = self.long() & 0xFFFFFFFFFFFFFFFF
        if value != expected:
            raise SnapshotError("the snapshot's checksum does not match: corrupt")
        if self.string() != "/":
            raise SnapshotError("the snapshot's seal is malformed")


def _opened(stream: BinaryIO) -> BinaryIO:
    # Buffered files (what the charm spools into) are read as they are: a wrapper would
    # close the caller's file when it goes.
    buffered = stream if hasattr(stream, "peek") else io.BufferedReader(stream)  # type: ignore[arg-type]
    head = buffered.peek(4)[:4]
    if head[:2] == b"\x1f\x8b":  # snapshot.compression.method=gz
        return gzip.GzipFile(fileobj=buffered)  # type: ignore[return-value]
    if head != MAGIC:
        raise SnapshotError(
            "not a ZooKeeper snapshot (or compressed with snappy, which is not supported)"
        )
    return buffered


def parse(stream: BinaryIO) -> Parsed:
    reader = _Reader(_opened(stream))
    if reader.take(4) != MAGIC:
        raise SnapshotError("not a ZooKeeper snapshot")
    reader.int()  # the format's version
    dbid = reader.long()
    sessions = reader.int()
    for _ in range(max(sessions, 0)):
        reader.long()
        reader.int()
    acls: dict[int, tuple[Acl, ...]] = {OPEN_ACL_REF: OPEN_ACL}
    for _ in range(reader.int()):
        ref = reader.long()
        count = reader.int()
        entries = []
        for _ in range(max(count, 0)):
            perms = reader.int()
            entries.append((perms, reader.string(), reader.string()))
        acls[ref] = tuple(entries)
    nodes: dict[str, Node] = {}
    for node in _nodes(reader, acls):
        nodes[node.path] = node
    reader.seal()
    server_digest = digest_zxid = last_zxid = None
    if not reader.at_end():
        digest_zxid = reader.long()
        reader.int()  # the digest's version
        server_digest = reader.long()
        reader.seal()
    if not reader.at_end():
        last_zxid = reader.long()
        reader.seal()
    return Parsed(dbid, sessions, nodes, server_digest, digest_zxid, last_zxid)


def _nodes(reader: _Reader, acls: dict[int, tuple[Acl, ...]]) -> Iterator[Node]:
    first = True
    while True:
        path = reader.string()
        # The root is written as "" first; a "/" after it marks the end of the nodes.
        if path == "/" and not first:
            return
        first = False
        data = reader.buffer()
        ref = reader.long()
        czxid, mzxid, _ctime, _mtime = (reader.long() for _ in range(4))
        version, _cversion, aversion = (reader.int() for _ in range(3))
        owner, pzxid = reader.long(), reader.long()
        if ref not in acls:
            raise SnapshotError(f"node {path or '/'} names ACL {ref}, which the file lacks")
        yield Node(
            path or "/",
            data or b"",  # a null buffer reads back as empty through the client API
            acls[ref],
            czxid,
            mzxid,
            pzxid,
            version,
            aversion,
            owner,
        )


def parse_file(path) -> Parsed:
    with open(path, "rb") as stream:
        return parse(stream)
