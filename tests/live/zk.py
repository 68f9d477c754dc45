"""ZooKeeper clients the live tests use, as a user's app would connect."""

from __future__ import annotations

import contextlib
import struct
from collections import namedtuple
from collections.abc import Iterator

from kazoo.client import KazooClient


def connect(
    hosts: str, *, sasl: tuple[str, str] | None = None, digest=None, tls: dict | None = None
) -> KazooClient:
    """A started client: SASL DIGEST-MD5 as (user, password), digest as (user, password),
    or neither (no credentials); `tls`: kazoo's TLS arguments. Few retries: tests want
    refusals to show, not hide."""
    auth: dict = {}
    if sasl:
        auth["sasl_options"] = {
            "mechanism": "DIGEST-MD5",
            "username": sasl[0],
            "password": sasl[1],
        }
    if digest:
        auth["auth_data"] = [("digest", ":".join(digest))]
    client = KazooClient(
        hosts=hosts,
        timeout=10,
        connection_retry={"max_tries": 3},
        command_retry={"max_tries": 1},
        **auth,
        **(tls or {}),
    )
    try:
        client.start(timeout=15)
    except Exception:
        closing(client)
        raise
    return client


def closing(client: KazooClient) -> None:
    client.stop()
    client.close()


@contextlib.contextmanager
def session(hosts: str, **credentials) -> Iterator[KazooClient]:
    client = connect(hosts, **credentials)
    try:
        yield client
    finally:
        closing(client)


PERSISTENT, PERSISTENT_RECURSIVE = 0, 1  # ZooKeeper's AddWatchMode


class _AddWatch(namedtuple("AddWatch", "path mode")):
    """AddWatchRequest {ustring path; int mode} (opcode 106), shaped for kazoo's `_call`:
    kazoo has no API for ZooKeeper 3.6's persistent watches."""

    type = 106

    def serialize(self) -> bytearray:
        path = self.path.encode()
        return bytearray(struct.pack("!i", len(path)) + path + struct.pack("!i", self.mode))

    @classmethod
    def deserialize(cls, buffer, offset) -> bool:
        return True  # an error shows in the reply header; the body is empty


def add_watch(client: KazooClient, path: str, mode: int, timeout: float = 10.0) -> None:
    """Ask for a persistent watch; raises what ZooKeeper answers (NoAuthError, ...). The events
    it would bring are not dispatched: the tests only ask whether the server accepts it."""
    result = client.handler.async_result()
    client._call(_AddWatch(path, mode), result)
    result.get(timeout=timeout)
