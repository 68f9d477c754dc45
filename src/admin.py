"""ZooKeeper shell: the admin server's JSON probe and one kazoo admin session per hook."""

from __future__ import annotations

import contextlib
import json
import logging
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence

import clients
import policy
from ensemble import EnsembleConfig
from layout import ADMIN_PORT, CLIENT_PORT, SECURE_CLIENT_PORT, SUPER_USER
from records import Record, frozen

logger = logging.getLogger(__name__)

CONFIG_ZNODE = "/zookeeper/config"


@frozen
class Health(Record):
    """What one member says of itself through its admin server."""

    serving: bool
    mode: str | None = None
    voters: int = 0
    voter_ids: frozenset[int] = frozenset()
    version: str | None = None
    outstanding_requests: int = 0
    zxid: int = 0
    connections: int = 0
    # Connections to this server per client chroot (the extension's client_sessions command).
    sessions: tuple[tuple[str, int], ...] = ()

    @classmethod
    def parse(cls, srvr: dict, voting_view: dict, sessions: dict | None = None) -> Health:
        if srvr.get("error") or "server_stats" not in srvr:
            return cls(serving=False)
        stats = srvr["server_stats"]
        voter_ids = frozenset(int(i) for i in voting_view.get("current_config") or {})
        version = str(srvr.get("version", "")).split(",")[0].split("-")[0] or None
        return cls(
            version=version,
            serving=True,
            mode=stats.get("server_state"),
            voters=len(voter_ids),
            voter_ids=voter_ids,
            outstanding_requests=stats.get("outstanding_requests", 0),
            zxid=stats.get("last_processed_zxid", 0),
            connections=stats.get("num_alive_client_connections", 0),
            sessions=tuple(sorted((str(k), int(v)) for k, v in (sessions or {}).items())),
        )


NOT_RUNNING = Health(serving=False)


PROBE_COMMAND = "charm_probe"  # the extension's: srvr, voting_view and client_sessions at once


def probe(host: str, port: int = ADMIN_PORT, timeout: float = 3.0) -> Health:
    """Ask the member's admin server (no auth, localhost only) how it is doing: one request
    to the extension's `charm_probe`, or ZooKeeper's own two commands from a server without
    it (then no sessions are counted)."""

    def get(command: str) -> dict:
        url = f"http://{host}:{port}/commands/{command}"
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())

    try:
        answer = get(PROBE_COMMAND)
        if str(answer.get("error") or "").startswith("Unknown command"):
            srvr = get("srvr")
            return Health.parse(srvr, {} if srvr.get("error") else get("voting_view"))
        if answer.get("error"):
            return Health.parse(answer, {})  # not serving: said once for all three parts
        sessions = answer.get("client_sessions") or {}
        return Health.parse(
            answer.get("srvr") or {}, answer.get("voting_view") or {}, sessions.get("sessions")
        )
    except (OSError, ValueError, AttributeError, urllib.error.URLError):
        return NOT_RUNNING


@frozen
class Reach(Record):
    """How the charm reaches another member's client port: plaintext, or (while plaintext
    clients are kept on loopback) the TLS port with this unit's own certificate, checking
    the member's certificate against the CAs and its pod's name. `files`: the PEM files
    the context was made from (kazoo wants paths): (trust store, key store)."""

    port: int = CLIENT_PORT
    context: ssl.SSLContext | None = None
    files: tuple[str, str] | None = None

    def kazoo(self) -> dict:
        if self.files is None:
            return {}
        ca, keystore = self.files
        return {"use_ssl": True, "ca": ca, "certfile": keystore, "keyfile": keystore}


PLAINTEXT = Reach()


def tls_reach(truststore: str, keystore: str) -> Reach:
    """Reach members over TLS with these PEM files (the key store doubles as this unit's
    client certificate, for servers that ask for one)."""
    context = ssl.create_default_context(cafile=truststore)
    context.load_cert_chain(keystore)
    return Reach(SECURE_CLIENT_PORT, context, (truststore, keystore))


def four_letter(
    host: str,
    command: str,
    port: int = CLIENT_PORT,
    timeout: float = 2.0,
    reach: Reach = PLAINTEXT,
) -> str:
    """A four-letter word over the client port (whitelisted ones need no auth)."""
    import socket

    if reach.context is not None:
        port = reach.port
    with socket.create_connection((host, port), timeout=timeout) as raw:
        sock = (
            raw if reach.context is None else reach.context.wrap_socket(raw, server_hostname=host)
        )
        sock.sendall(command.encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def mntr(host: str, port: int = CLIENT_PORT, reach: Reach = PLAINTEXT) -> dict[str, str]:
    try:
        text = four_letter(host, "mntr", port, reach=reach)
    except OSError:
        return {}
    return dict(line.split("\t", 1) for line in text.splitlines() if "\t" in line)


def server_stats(host: str, port: int = CLIENT_PORT, reach: Reach = PLAINTEXT) -> dict:
    """`srvr` of one member: mode, zxid, connections (empty if unreachable or not serving)."""
    try:
        text = four_letter(host, "srvr", port, reach=reach)
    except OSError:
        return {}
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    if "Mode" not in fields:
        return {}
    return {
        "mode": fields["Mode"],
        "zxid": int(fields.get("Zxid", "0x0"), 16),
        "connections": int(fields.get("Connections", "0")),
        "outstanding": int(fields.get("Outstanding", "0")),
    }


def quorum_synced(hosts: list[str], voters: int, reach: Reach = PLAINTEXT) -> bool:
    """ZooKeeper's own view: the leader has every other voter in sync."""
    for host in hosts:
        stats = mntr(host, reach=reach)
        if stats.get("zk_server_state") == "leader":
            return int(stats.get("zk_synced_followers", "0")) >= voters - 1
    return False


class AdminError(Exception):
    """ZooKeeper could not be reached or refused the charm's admin identity."""


@contextlib.contextmanager
def session(
    passwords: Sequence[str],
    host: str = "127.0.0.1",
    port: int = CLIENT_PORT,
    timeout: float = 10.0,
    fallbacks: tuple[str, ...] = (),
) -> Iterator[Admin]:
    """One authenticated kazoo session as the charm's super user, closed on exit.

    The local server is tried first; `fallbacks` (other members) if it is not serving.
    Passwords are tried in order: during a rotation a server not yet restarted knows only
    the previous one.
    """
    from kazoo.exceptions import KazooException

    if isinstance(passwords, str):
        raise TypeError("passwords is a list: a string would be tried letter by letter")
    hosts = ",".join(f"{h}:{port}" for h in dict.fromkeys((host, *fallbacks)))
    client = None
    for password in passwords:
        try:
            client = _started_client(hosts, password, timeout)
            break
        except AdminError as exc:
            error = exc
    if client is None:
        raise error
    try:
        yield Admin(client)
    except KazooException as exc:
        raise AdminError(repr(exc)) from exc
    finally:
        client.stop()
        client.close()


def _started_client(hosts: str, password: str, timeout: float):
    from kazoo.client import KazooClient  # kazoo is slow to import; only hooks that talk pay
    from kazoo.exceptions import KazooException
    from kazoo.handlers.threading import KazooTimeoutError

    client = KazooClient(
        hosts=hosts,
        randomize_hosts=False,
        timeout=timeout,
        sasl_options={"mechanism": "DIGEST-MD5", "username": SUPER_USER, "password": password},
        connection_retry={"max_tries": 3, "delay": 0.2, "backoff": 2},
        command_retry={"max_tries": 3, "delay": 0.2, "backoff": 2},
    )
    try:
        client.start(timeout=timeout)
        client.retry(client.exists, "/")  # a wrong password shows on the first request
    except (KazooTimeoutError, KazooException) as exc:
        client.stop()
        client.close()
        raise AdminError(f"cannot reach ZooKeeper at {hosts} as the super user: {exc!r}") from exc
    return client


def _converted(method):
    """kazoo's errors leave as AdminError: callers handle one exception type."""
    import functools

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        from kazoo.exceptions import KazooException
        from kazoo.handlers.threading import KazooTimeoutError

        try:
            return method(*args, **kwargs)
        except (KazooException, KazooTimeoutError) as exc:
            raise AdminError(repr(exc)) from exc

    return wrapper


class Admin:
    """The admin operations the charm runs, over one injected kazoo client."""

    def __init__(self, client):
        self.client = client

    @_converted
    def committed_config(self) -> EnsembleConfig:
        # sync first: a follower may serve a stale /zookeeper/config right after a reconfig.
        self.client.retry(self.client.sync, CONFIG_ZNODE)
        data, _ = self.client.retry(self.client.get, CONFIG_ZNODE)
        return EnsembleConfig.parse(data.decode())

    @_converted
    def reconfig(self, joining: list[str], leaving: list[int]) -> EnsembleConfig:
        """Apply one incremental reconfig, safe to call again after any failure."""
        from kazoo.exceptions import ConnectionLoss, NewConfigNoQuorumError, ReconfigInProcessError
        from kazoo.retry import KazooRetry

        # Another unit (a departing one, in its stop hook) may be reconfiguring right now.
        busy = KazooRetry(max_tries=12, delay=0.1, backoff=1.5, max_delay=2, ignore_expire=False)
        busy.retry_exceptions = (ReconfigInProcessError, NewConfigNoQuorumError)
        try:
            return busy(self._reconfig_once, joining, leaving)
        except ConnectionLoss:
            # Removing the ZooKeeper leader drops the connection after the change committed:
            # look before trying again.
            committed = self.committed_config()
            if _applied(committed, joining, leaving):
                return committed
            raise

    def _reconfig_once(self, joining: list[str], leaving: list[int]) -> EnsembleConfig:
        committed = self.committed_config()
        if _applied(committed, joining, leaving):
            return committed  # an earlier attempt (or another unit) already did it
        data, _ = self.client.reconfig(
            joining=",".join(joining) or None,
            leaving=",".join(str(i) for i in leaving) or None,
            new_members=None,
        )
        return EnsembleConfig.parse(data.decode())

    @_converted
    def ensure_chroot(self, path: str, acls, parent_acls) -> None:
        """Create path (missing parents closed to all but the super user) and set `acls` on
        it and on everything already below it."""
        from kazoo.exceptions import NodeExistsError

        client = self.client
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            node = "/" + "/".join(parts[:depth])
            wanted = acls if depth == len(parts) else parent_acls
            with contextlib.suppress(NodeExistsError):
                client.retry(client.create, node, b"", acl=_kazoo_acls(wanted))
        self.set_tree_acls(path, acls)

    @_converted
    def set_tree_acls(self, path: str, acls) -> None:
        """Set `acls` on path and everything below it (nothing if path does not exist)."""
        client = self.client
        if client.retry(client.exists, path) is None:
            return
        for node in _walk(client, path):
            client.retry(client.set_acls, node, _kazoo_acls(acls))

    @_converted
    def set_acls(self, path: str, acls) -> None:
        self.client.retry(self.client.set_acls, path, _kazoo_acls(acls))

    @_converted
    def write_policy(self, text: str) -> None:
        """Put the extension's policy in its znode (closed to all but the super user)."""
        from kazoo.exceptions import NodeExistsError

        client, data = self.client, text.encode()
        closed = _kazoo_acls(clients.super_only())
        for path in (policy.ROOT, policy.ZNODE):
            with contextlib.suppress(NodeExistsError):
                client.retry(
                    client.create, path, data if path == policy.ZNODE else b"", acl=closed
                )
        current, _ = client.retry(client.get, policy.ZNODE)
        if current != data:
            client.retry(client.set, policy.ZNODE, data)

    @_converted
    def set_quota(self, path: str, limits: str) -> None:
        """Put ZooKeeper's quota on path (clients.quota_limits): its limits node under
        /zookeeper/quota, then its stats node, whose creation makes the server count what
        is already there (as ZooKeeper's own setquota does). The server enforces it with
        zookeeper.enforceQuota; the extension keeps clients out of /zookeeper/quota."""
        from kazoo.exceptions import NodeExistsError

        client, closed = self.client, _kazoo_acls(clients.super_only())
        base = QUOTA_ROOT + path
        at = QUOTA_ROOT
        for part in path.strip("/").split("/"):
            at = f"{at}/{part}"
            with contextlib.suppress(NodeExistsError):
                client.retry(client.create, at, b"", acl=closed)
        limits_node, data = f"{base}/zookeeper_limits", limits.encode()
        try:
            client.retry(client.create, limits_node, data, acl=closed)
        except NodeExistsError:
            if client.retry(client.get, limits_node)[0] != data:
                client.retry(client.set, limits_node, data)
        with contextlib.suppress(NodeExistsError):
            client.retry(client.create, f"{base}/zookeeper_stats", b"count=0,bytes=0", acl=closed)

    @_converted
    def quota_usage(self, path: str) -> tuple[int, int] | None:
        """(znodes, bytes) ZooKeeper counts under path's quota; None without one."""
        from kazoo.exceptions import NoNodeError

        try:
            data, _ = self.client.retry(self.client.get, f"{QUOTA_ROOT}{path}/zookeeper_stats")
        except NoNodeError:
            return None
        return clients.parse_usage(data.decode())

    @_converted
    def delete_tree(self, path: str) -> None:
        self.client.retry(self.client.delete, path, recursive=True)

    @_converted
    def tree(self) -> dict:
        """Every znode with its data, ACL and stat, read level by level with requests in
        flight together (one at a time would take minutes for 100,000 znodes)."""
        from kazoo.exceptions import NoNodeError

        client = self.client
        client.retry(client.sync, "/")
        found = {}
        level = ["/"]
        while level:
            below = []
            for start in range(0, len(level), TREE_BATCH):
                batch = level[start : start + TREE_BATCH]
                asked = [
                    (
                        p,
                        client.get_async(p),
                        client.get_acls_async(p),
                        client.get_children_async(p),
                    )
                    for p in batch
                ]
                for path, got, acls, children in asked:
                    try:
                        data, stat = got.get(timeout=30)
                        acl_list, _ = acls.get(timeout=30)
                        names = children.get(timeout=30)
                    except NoNodeError:
                        continue  # deleted meanwhile: a change since, not part of the tree
                    found[path] = _node(path, data or b"", stat, acl_list)
                    below += [f"{path.rstrip('/')}/{name}" for name in names]
            level = below
        return found


PERM_BITS = {"r": 1, "w": 2, "c": 4, "d": 8, "a": 16}
QUOTA_ROOT = "/zookeeper/quota"


def refusing(
    hosts: Sequence[str],
    user: str,
    password: str,
    chroot: str,
    port: int = CLIENT_PORT,
    deadline: float = 5.0,
    reach: Reach = PLAINTEXT,
) -> list[str]:
    """The servers among `hosts` that do not (yet) let `user` in and show it `chroot`.

    Each is asked until the deadline: a follower applies the leader's policy write a few
    milliseconds after the leader. A SASL login proves the server knows the user; `sync` then
    proves it has applied everything the charm wrote before (the chroot and its ACL).
    """
    pending = list(dict.fromkeys(hosts))
    until = time.monotonic() + deadline
    while pending:
        pending = [h for h in pending if not _lets_in(h, port, user, password, chroot, reach)]
        if not pending or time.monotonic() >= until:
            break
        time.sleep(0.2)
    return pending


def _lets_in(
    host: str, port: int, user: str, password: str, chroot: str, reach: Reach = PLAINTEXT
) -> bool:
    from kazoo.client import KazooClient
    from kazoo.exceptions import KazooException
    from kazoo.handlers.threading import KazooTimeoutError

    client = KazooClient(
        hosts=f"{host}:{reach.port if reach.files else port}",
        timeout=5.0,
        sasl_options={"mechanism": "DIGEST-MD5", "username": user, "password": password},
        connection_retry={"max_tries": 1, "delay": 0.1},
        **reach.kazoo(),
    )
    try:
        client.start(timeout=3.0)
        client.sync(chroot)
        return True
    except (KazooException, KazooTimeoutError):
        return False
    finally:
        client.stop()
        client.close()


def _kazoo_acls(acls) -> list:
    from kazoo.security import ACL, Id

    return [ACL(sum(PERM_BITS[p] for p in set(acl.perms)), Id(acl.scheme, acl.id)) for acl in acls]


def _walk(client, path: str):
    """path and every znode below it, parents first."""
    yield path
    for child in client.retry(client.get_children, path):
        yield from _walk(client, f"{path.rstrip('/')}/{child}")


def _applied(committed: EnsembleConfig, joining: list[str], leaving: list[int]) -> bool:
    lines = {server.line for server in committed.servers}
    return all(line in lines for line in joining) and not committed.ids & set(leaving)


# The identity the admin server's snapshot command is asked as: a digest super user
# (render.jvm_flags names its digest). The command accepts digest, x509 or IP auth with
# every permission on /, not SASL, so the charm's SASL super user cannot ask for it.
BACKUP_USER = "backup"
# Bytes read from the admin server at a time while a snapshot streams to its spool file.
CHUNK = 1 << 20
# Requests in flight at once while the tree is read.
TREE_BATCH = 2000


class SnapshotRefused(AdminError):
    """The admin server would not send a snapshot; the message says why."""


def super_digest(password: str, user: str = BACKUP_USER) -> str:
    """ZooKeeper's DigestAuthenticationProvider form: user:base64(sha1(user:password))."""
    import base64
    import hashlib

    raw = hashlib.sha1(f"{user}:{password}".encode()).digest()  # noqa: S324 (ZooKeeper's)
    return f"{user}:{base64.b64encode(raw).decode()}"


def snapshot(
    host: str, passwords: Sequence[str], out, port: int = ADMIN_PORT, timeout: float = 60.0
) -> int:
    """Stream the server's snapshot into `out`; its last_zxid (every transaction up to it
    is in the snapshot). Passwords are tried in order (a rotation under way)."""
    problem = "no password"
    for password in passwords:
        request = urllib.request.Request(
            f"http://{host}:{port}/commands/snapshot?streaming=true",
            headers={"Authorization": f"digest {BACKUP_USER}:{password}"},
        )
        try:
            # http to the loopback admin server only (the URL is built here).
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                kind = response.headers.get("Content-Type", "")
                if "json" in kind:
                    # A server that is not serving answers 200 with an error, not a snapshot.
                    body = json.loads(response.read() or b"{}")
                    raise SnapshotRefused(
                        f"ZooKeeper sent no snapshot: {body.get('error') or 'not serving'}"
                    )
                out.seek(0)
                out.truncate()
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                last = response.headers.get("last_zxid")
                return int(last, 16) if last else 0
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                raise SnapshotRefused(
                    "ZooKeeper takes one snapshot per zookeeper.admin.rateLimiterIntervalInMS "
                    "(5 minutes by default): retry later"
                ) from None
            problem = f"HTTP {exc.code}"
            if exc.code not in (401, 403):
                break
        except (OSError, ValueError) as exc:
            raise SnapshotRefused(f"the admin server did not answer: {exc}") from None
    raise SnapshotRefused(f"ZooKeeper refused the backup identity's snapshot: {problem}")


def _node(path: str, data: bytes | None, stat, acls):
    import zksnap

    return zksnap.Node(
        path,
        data,
        tuple((acl.perms, acl.id.scheme, acl.id.id) for acl in acls),
        stat.czxid,
        stat.mzxid,
        stat.pzxid,
        stat.version,
        stat.aversion,
        stat.ephemeralOwner,
    )
