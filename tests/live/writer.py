"""A client that writes sequential znodes without pause, as a user's app would."""

from __future__ import annotations

import threading
import time

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import KazooException
from kazoo.handlers.threading import SequentialThreadingHandler

SESSION_TIMEOUT = 18.0


class JavaLikeConnects(SequentialThreadingHandler):
    """Gives each host the session timeout divided by the number of hosts to accept a
    connection, as ZooKeeper's Java client does (ClientCnxn's connectTimeout). kazoo gives one
    unanswering address the whole session timeout, so a pod scaled away (its address answers
    nothing) costs a client that tries it first its session before it tries the next host."""

    def __init__(self, hosts: str):
        super().__init__()
        self.connect_timeout = SESSION_TIMEOUT / len(hosts.split("/", 1)[0].split(","))

    def create_connection(self, *args, **kwargs):
        kwargs["timeout"] = min(kwargs.get("timeout", SESSION_TIMEOUT), self.connect_timeout)
        return super().create_connection(*args, **kwargs)


def client_app(cluster, app: str = "writer", relation_id: int = 90) -> tuple[str, tuple[str, str]]:
    """Relate a client app as a user would: its chroot and SASL (user, password)."""
    request = {"database": f"/{app}", "requested-secrets": '["username", "password", "uris"]'}
    cluster.relate(app, request, relation_id)
    creds = cluster.credentials(relation_id)
    return f"/{app}", (creds["username"], creds["password"])


class Writer:
    """Writes /writes/w-<seq> in a loop; remembers what was acknowledged and what it saw."""

    def __init__(
        self,
        hosts: str,
        password: str | None,
        path: str = "/writes",
        digest: tuple[str, str] = ("writer", "writer-password"),
        sasl: tuple[str, str] | None = None,
        tls: dict | None = None,
    ):
        """password: the super user's; sasl: a client's (user, password), as a related app
        logs in (SASL); neither: the `digest` identity instead (it reaches only what is
        open to anyone: the charm closes the root on its first serving hook)."""
        if password:
            sasl = ("super", password)
        self.path = path
        self.acknowledged: list[str] = []
        self.errors = 0
        self.expirations = 0
        self.max_gap = 0.0
        self._stop = threading.Event()
        auth = (
            {"sasl_options": {"mechanism": "DIGEST-MD5", "username": sasl[0], "password": sasl[1]}}
            if sasl
            else {"auth_data": [("digest", ":".join(digest))]}
        )
        self.client = KazooClient(
            hosts=hosts,
            # Kafka's default zookeeper.session.timeout.ms (18 s): a session as a real client
            # keeps it. 10 s expired about one run in three on a loaded 2-core machine while a
            # removed leader's followers elected a new one (snapshots there took up to 30 s).
            timeout=SESSION_TIMEOUT,
            handler=JavaLikeConnects(hosts),
            connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.5},
            **auth,
            **(tls or {}),
        )
        self.client.add_listener(self._on_state)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _on_state(self, state: KazooState) -> None:
        if state == KazooState.LOST:
            self.expirations += 1

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            try:
                created = self.client.create(f"{self.path}/w-", b"x", sequence=True)
            except KazooException:
                self.errors += 1
                time.sleep(0.01)  # back off while the client reconnects
                continue
            now = time.monotonic()
            self.max_gap = max(self.max_gap, now - last)
            last = now
            self.acknowledged.append(created)

    def __enter__(self) -> Writer:
        self.client.start(timeout=15)
        self.client.ensure_path(self.path)
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def missing(self) -> list[str]:
        """Acknowledged writes that are not readable now."""
        self.client.sync(self.path)
        present = {f"{self.path}/{child}" for child in self.client.get_children(self.path)}
        return [p for p in self.acknowledged if p not in present]

    def close(self) -> None:
        self.client.stop()
        self.client.close()
