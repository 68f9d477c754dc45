"""Writes ZooKeeper snapshot files the way FileSnap does (zksnap.py names the layout), so
that unit tests have snapshots without a ZooKeeper. The live tests read real ones."""

from __future__ import annotations

import dataclasses
import struct
import zlib

import zksnap


@dataclasses.dataclass(frozen=True)
class N:
    path: str
    data: bytes = b""
    acl: tuple = ((31, "world", "anyone"),)
    czxid: int = 1
    mzxid: int = 1
    pzxid: int = 1
    version: int = 0
    aversion: int = 0
    owner: int = 0


class _Out:
    def __init__(self):
        self.buf = bytearray()

    def int(self, v):
        self.buf += struct.pack(">i", v)

    def long(self, v):
        self.buf += struct.pack(">q", v)

    def buffer(self, b):
        if b is None:
            self.int(-1)
        else:
            self.int(len(b))
            self.buf += b

    def string(self, s):
        self.buffer(s.encode())

    def seal(self):
        self.long(zlib.adler32(bytes(self.buf)))
        self.string("/")


def snapshot(
    nodes: list[N], sessions: int = 1, last_zxid: int | None = 0x100, digest: bool = True
) -> bytes:
    """A snapshot holding `nodes` (the root and /zookeeper are added if missing)."""
    paths = {n.path for n in nodes}
    nodes = [N("/")] * ("/" not in paths) + [N("/zookeeper")] * ("/zookeeper" not in paths) + nodes
    refs: dict[tuple, int] = {}
    for node in nodes:
        if tuple(node.acl) != zksnap.OPEN_ACL:
            refs.setdefault(tuple(node.acl), len(refs) + 1)
    out = _Out()
    out.buf += zksnap.MAGIC
    out.int(2)
    out.long(0)
    out.int(sessions)
    for s in range(sessions):
        out.long(0x1000 + s)
        out.int(30000)
    out.int(len(refs))
    for acl, ref in refs.items():
        out.long(ref)
        out.int(len(acl))
        for perms, scheme, ident in acl:
            out.int(perms)
            out.string(scheme)
            out.string(ident)
    for node in sorted(nodes, key=lambda n: n.path):
        out.string("" if node.path == "/" else node.path)
        out.buffer(node.data)
        ref = -1 if tuple(node.acl) == zksnap.OPEN_ACL else refs[tuple(node.acl)]
        out.long(ref)
        for v in (node.czxid, node.mzxid, 0, 0):
            out.long(v)
        for v in (node.version, 0, node.aversion):
            out.int(v)
        out.long(node.owner)
        out.long(node.pzxid)
    out.string("/")
    out.seal()
    if digest:
        out.long(last_zxid or 0)
        out.int(2)
        out.long(12345)
        out.seal()
        if last_zxid is not None:
            out.long(last_zxid)
            out.seal()
    return bytes(out.buf)
