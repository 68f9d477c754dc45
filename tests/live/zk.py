"""ZooKeeper clients the live tests use, as a user's app would connect."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from kazoo.client import KazooClient


def connect(hosts: str, *, sasl: tuple[str, str] | None = None, digest=None) -> KazooClient:
    """A started client: SASL DIGEST-MD5 as (user, password), digest as (user, password),
    or neither (no credentials). Few retries: tests want refusals to show, not hide."""
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
