#!/usr/bin/env python3
"""The isolation guard's window and cost: 10 client apps, 10,000 znodes with the open ACL.

A 3-unit ensemble of the real charm (tests/live/cluster.py plays Juju; each unit a pod with
its own network namespace and DNS name) is deployed; --clients client apps relate
like Kafka (relation ids 10.., chroots /app-0.., requested-secrets as Kafka asks) and the
ensemble settles (each new SASL user means a rolling restart). Every unit runs its guard
(src/guard.py, the Pebble service, as a real process in the pod's rock-like root, as uid
10000, with the rock's python3 and kazoo); only the one on the ZooKeeper
leader's unit acts. Before measuring, every chroot gets one warm-up znode that must be
closed: proof that the acting guard watches all chroots.

"Closed" means the znode carries exactly the ACL the guard's own config asks for its chroot
(the client by SASL and digest, no admin permission, and the super user), as a super-user
session reads it with get_acls.

window  one client (app-0, digest auth, connected to a ZooKeeper follower) creates
        --znodes-window znodes one at a time with kazoo's default open ACL. For each, a
        super-user session on the leader's server polls get_acls every 2 ms from the moment
        create() returned until the ACL is closed (10 s deadline):
          window_s_median, window_s_p90, window_s_max, window_s_min
          not_closed           znodes still open at their deadline (left out of the stats)
          guard_log_window_s_* the same znodes, create() returned -> the acting guard logged
                               "closed" (its set_acls had returned): a cross-check
load    --clients threads, one per app, each with its own session (digest auth; client i
        starts at server i mod 3) create --per-client znodes each, one after another and
        as fast as they can, with the open ACL. When each znode was closed comes from the
        guards' logs ("closed <path>" follows a successful set_acls; millisecond stamps):
        a super-user session polling 10,000 znodes would load the servers and the clients'
        process and so slow both sides it measures. Once every znode is logged, a super-user
        session on a follower walks each chroot and reads every ACL (open_at_check).
          creates_per_s        all clients' creates / (last create returned - first started)
          create_s             from the first create sent to the last one returned
          all_closed_s         from the first create sent to the last znode closed
          closed_after_last_create_s   how far the guard trailed the clients
          guard_closes_per_s   znodes closed / (last close - first close)
          window_s_median/p90/max      per znode, create returned -> closed
          not_closed           znodes never logged closed by the deadline (600 s)
          open_at_check        znodes the super user still found open afterwards
          guard_cpu_s          utime+stime of each unit's guard over the load (from the
                               first create to all closed), by unit; acting_* for the leader's
          acting_cpu_ms_per_znode, acting_cpu_util (CPU s / wall s)
          acting_rss_idle_mb   the acting guard's VmRSS before the load
          acting_rss_peak_mb   its peak VmRSS, sampled every 0.2 s during the load
          acting_rss_after_mb  its VmRSS once all are closed (the TreeCaches keep every znode)
          standby_rss_peak_mb  the other guards' peak VmRSS
Last, a line with the phase times, the total wall time and the Juju stand-in's seed
(--seed replays its hook orders). The pods exist only in namespaces this process creates,
so nothing else on the machine can collide with them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import NoNodeError  # noqa: E402

import render  # noqa: E402
from layout import CLIENT_PORT, SUPER_USER  # noqa: E402
from tests.live import network  # noqa: E402
from tests.live.cluster import Cluster, deadline_poll  # noqa: E402
from tests.live.juju import seed_from_env  # noqa: E402

SIZE = 3
FIRST_RELATION = 10
KAFKA_SECRETS = json.dumps(["username", "password", "tls", "tls-ca", "uris"])
PERM_BITS = {"r": 1, "w": 2, "c": 4, "d": 8, "a": 16}
WINDOW_POLL = 0.002  # seconds between two get_acls of the window's super session
WINDOW_DEADLINE = 10.0
LOG_POLL = 0.05  # seconds between two reads of the guards' logs during the load
LOAD_DEADLINE = 600.0  # from the first create to every znode closed
RSS_EVERY = 0.2
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- the ensemble and its clients ------------------------------------------------------------


def shared(cluster) -> tuple:
    units = {o: dict(u.unit_data) for o, u in cluster.units.items()}
    return dict(cluster.app_data), units, {o: str(u.status) for o, u in cluster.units.items()}


def settle(cluster, rounds: int = 10) -> None:
    """update-status rounds until one changes nothing (the roll for the new users is done)."""
    for _ in range(rounds):
        cluster.wait_serving(timeout=120)
        before = shared(cluster)
        cluster.settle()
        if shared(cluster) == before:
            return
    raise RuntimeError("the ensemble never settled: update-status keeps changing data")


def relate_clients(cluster, count: int) -> dict[str, dict]:
    """count Kafka-like apps; their chroot -> the credentials the app reads."""
    for i in range(count):
        request = {"database": f"/app-{i}", "requested-secrets": KAFKA_SECRETS}
        cluster.relate(f"app-{i}", request, FIRST_RELATION + i)
    settle(cluster)
    return {f"/app-{i}": cluster.credentials(FIRST_RELATION + i) for i in range(count)}


def guard_config(cluster, ordinal: int) -> dict:
    unit = cluster.units[ordinal]
    # The layout's path is the pod's; the pod's storage is this directory.
    inside = Path(unit.layout.guard_config).relative_to(unit.layout.storage)
    return json.loads((unit.storage / inside).read_text())


def wanted_acls(config: dict) -> dict[str, frozenset]:
    """chroot -> the ACL the guard enforces there, as {(scheme, id, perm bits)}."""
    return {
        chroot: frozenset(
            (scheme, ident, sum(PERM_BITS[p] for p in perms)) for scheme, ident, perms in entries
        )
        for chroot, entries in config["chroots"].items()
    }


def acl_set(acls) -> frozenset:
    return frozenset((acl.id.scheme, acl.id.id, acl.perms) for acl in acls)


def super_client(password: str, host: str) -> KazooClient:
    client = KazooClient(
        hosts=f"{host}:{CLIENT_PORT}",
        timeout=15,
        sasl_options={"mechanism": "DIGEST-MD5", "username": SUPER_USER, "password": password},
    )
    client.start(timeout=30)
    return client


def app_client(creds: dict, hosts: list[str]) -> KazooClient:
    """The app's session, digest auth as test_clients.digest_client, on hosts in this order."""
    chroot = creds["uris"].rsplit("/", 1)[1]
    client = KazooClient(
        hosts=",".join(f"{h}:{CLIENT_PORT}" for h in hosts) + f"/{chroot}",
        randomize_hosts=False,
        timeout=15,
        auth_data=[("digest", f"{creds['username']}:{creds['password']}")],
        connection_retry={"max_tries": 3},
        command_retry={"max_tries": 1},
    )
    client.start(timeout=30)
    return client


def closing(*clients) -> None:
    for client in clients:
        if client is not None:
            client.stop()
            client.close()


# -- the guards' processes -------------------------------------------------------------------


def guard_pid(cluster, ordinal: int) -> int:
    process = cluster.units[ordinal].services[render.GUARD]
    if process.poll() is not None:
        raise RuntimeError(f"the guard of unit {ordinal} exited ({process.returncode})")
    return process.pid


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class RssSampler(threading.Thread):
    def __init__(self, pids: dict[int, int]):
        super().__init__(daemon=True)
        self.pids, self.peak = pids, dict.fromkeys(pids, 0.0)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for ordinal, pid in self.pids.items():
                self.peak[ordinal] = max(self.peak[ordinal], rss_mb(pid))
            self.done.wait(RSS_EVERY)


def guard_log(cluster, ordinal: int) -> Path:
    unit = cluster.units[ordinal]
    return unit.storage.parent / f"unit-{ordinal}-{render.GUARD}.log"


def log_lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines()


def acting_guards(cluster) -> list[int]:
    """Units whose guard said last that it acts."""
    acting = []
    for ordinal in cluster.units:
        said = [
            line
            for line in log_lines(guard_log(cluster, ordinal))
            if "acting:" in line or "standing by:" in line
        ]
        if said and "acting:" in said[-1]:
            acting.append(ordinal)
    return acting


# -- measurements ----------------------------------------------------------------------------


class GuardLogs:
    """When each guard logged "closed <path>" (after its set_acls returned), by wall clock."""

    def __init__(self, paths: list[Path]):
        self.offsets = dict.fromkeys(paths, 0)
        self.closed: dict[str, float] = {}

    def poll(self) -> dict[str, float]:
        for path, offset in self.offsets.items():
            with path.open("rb") as f:
                f.seek(offset)
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next poll
            self.offsets[path] = offset + end
            for line in chunk[:end].decode(errors="replace").splitlines():
                stamp, _, rest = line.partition(" closed /")
                if rest:
                    self.closed.setdefault("/" + rest.strip(), logged_at(stamp))
        return self.closed


def logged_at(stamp: str) -> float:
    """The guard's "%(asctime)s" (local time, milliseconds) as a time.time() value."""
    seconds, _, millis = stamp.strip().partition(",")
    return time.mktime(time.strptime(seconds, "%Y-%m-%d %H:%M:%S")) + int(millis) / 1000


def quantiles(values: list[float], prefix: str = "window_s") -> dict:
    if not values:
        return dict.fromkeys((f"{prefix}_median", f"{prefix}_p90", f"{prefix}_max"))
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return {
        f"{prefix}_median": round(statistics.median(ordered), 4),
        f"{prefix}_p90": round(p90, 4),
        f"{prefix}_max": round(ordered[-1], 4),
    }


def warm_up(creds: dict[str, dict], admin: KazooClient, wanted, hosts: list[str]) -> None:
    """One znode per chroot, closed by the guard: it watches every chroot."""
    for chroot, c in creds.items():
        client = app_client(c, hosts)
        try:
            client.create("/warm-up", b"")
        finally:
            closing(client)
        deadline_poll(
            lambda chroot=chroot: (
                acl_set(admin.get_acls(f"{chroot}/warm-up")[0]) == wanted[chroot]
            ),
            60,
            f"the guard to close {chroot}/warm-up",
            every=0.05,
        )


def window(creds, chroot: str, admin: KazooClient, wanted, hosts, count: int, logs) -> dict:
    client = app_client(creds, hosts)
    windows, created, not_closed = [], {}, 0
    try:
        for n in range(count):
            path = f"/window-{n:05d}"
            client.create(path, b"x")
            returned = time.monotonic()
            created[chroot + path] = time.time()
            deadline = returned + WINDOW_DEADLINE
            while True:
                try:
                    acls, _ = admin.get_acls(chroot + path)
                except NoNodeError:  # the creator's server can apply the create first
                    acls = []
                seen = time.monotonic()
                if acl_set(acls) == wanted:
                    windows.append(seen - returned)
                    break
                if seen > deadline:
                    not_closed += 1
                    break
                time.sleep(WINDOW_POLL)
    finally:
        closing(client)
    closed = logs.poll()
    logged = [closed[p] - at for p, at in created.items() if p in closed]
    return {
        "znodes": count,
        **quantiles(windows),
        "window_s_min": round(min(windows), 4) if windows else None,
        "not_closed": not_closed,
        **quantiles(logged, "guard_log_window_s"),
    }


class LoadClient(threading.Thread):
    """One app creating its znodes back to back with the open ACL."""

    def __init__(self, creds: dict, hosts: list[str], count: int, start: threading.Event):
        super().__init__(daemon=True)
        self.chroot = "/" + creds["uris"].rsplit("/", 1)[1]
        self.client = app_client(creds, hosts)
        self.count, self.go = count, start
        self.created: dict[str, float] = {}  # path from the root -> create returned (wall)
        self.last = 0.0  # monotonic, the last create returned
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.go.wait()
            for n in range(self.count):
                path = f"/load-{n:05d}"
                self.client.create(path, b"x")
                self.created[self.chroot + path] = time.time()
                self.last = time.monotonic()
        except BaseException as exc:  # reported by the main thread
            self.error = exc


def open_znodes(admin: KazooClient, wanted: dict[str, frozenset], prefix: str) -> list[str]:
    """The super user's own look: every `prefix`* child of each chroot whose ACL is not closed."""
    paths = [
        f"{chroot}/{child}"
        for chroot in wanted
        for child in admin.get_children(chroot)
        if child.startswith(prefix)
    ]
    calls = [(path, admin.get_acls_async(path)) for path in paths]
    return [
        path
        for path, call in calls
        if acl_set(call.get(timeout=60)[0]) != wanted[path.rsplit("/", 1)[0]]
    ]


def load(cluster, creds, admin, wanted, per_client: int, acting: int, logs) -> dict:
    hosts = [cluster.units[o].address for o in sorted(cluster.units)]
    pids = {o: guard_pid(cluster, o) for o in sorted(cluster.units)}
    go = threading.Event()
    clients: list[LoadClient] = []
    sampler = RssSampler(pids)
    try:
        for i, c in enumerate(creds.values()):
            clients.append(LoadClient(c, hosts[i % SIZE :] + hosts[: i % SIZE], per_client, go))
        total = per_client * len(clients)
        rss_idle = rss_mb(pids[acting])
        for client in clients:
            client.start()
        sampler.start()
        cpu_before = {o: cpu_seconds(pid) for o, pid in pids.items()}
        started, started_wall = time.monotonic(), time.time()
        go.set()
        deadline = started + LOAD_DEADLINE
        while time.monotonic() < deadline:
            closed = logs.poll()
            if sum(path in closed for c in clients for path in list(c.created)) == total:
                break
            if any(c.error for c in clients):
                raise next(c.error for c in clients if c.error)
            time.sleep(LOG_POLL)
        done = time.monotonic()
        cpu_after = {o: cpu_seconds(pid) for o, pid in pids.items()}
    finally:
        if not go.is_set():  # failed before the start: let the waiting threads go, idle
            for client in clients:
                client.count = 0
            go.set()
        sampler.done.set()
        if sampler.ident is not None:
            sampler.join()
        for client in clients:
            if client.ident is not None:
                client.join(timeout=60)
            closing(client.client)
    peak = sampler.peak
    created = {path: at for c in clients for path, at in c.created.items()}
    last_create = max(c.last for c in clients)
    closed = {path: at for path, at in logs.poll().items() if path in created}
    still_open = open_znodes(admin, wanted, "load-")
    cpu = {o: round(cpu_after[o] - cpu_before[o], 3) for o in pids}
    all_closed = max(closed.values()) if len(closed) == len(created) else None
    spread = max(closed.values()) - min(closed.values()) if len(closed) > 1 else None
    return {
        "clients": len(clients),
        "znodes": len(created),
        "creates_per_s": round(len(created) / (last_create - started), 1),
        "create_s": round(last_create - started, 3),
        "all_closed_s": None if all_closed is None else round(all_closed - started_wall, 3),
        "closed_after_last_create_s": (
            None
            if all_closed is None
            else round(all_closed - started_wall - (last_create - started), 3)
        ),
        "guard_closes_per_s": round(len(closed) / spread, 1) if spread else None,
        "not_closed": len(created) - len(closed),
        "open_at_check": len(still_open),
        **quantiles([closed[p] - created[p] for p in closed]),
        "acting_unit": acting,
        "guard_cpu_s": {str(o): cpu[o] for o in sorted(cpu)},
        "acting_cpu_s": cpu[acting],
        "acting_cpu_ms_per_znode": round(1000 * cpu[acting] / len(created), 3),
        "acting_cpu_util": round(cpu[acting] / (done - started), 3),
        "acting_rss_idle_mb": round(rss_idle, 1),
        "acting_rss_peak_mb": round(peak[acting], 1),
        "acting_rss_after_mb": round(rss_mb(pids[acting]), 1),
        "standby_rss_peak_mb": {str(o): round(peak[o], 1) for o in sorted(peak) if o != acting},
    }


# -- the run ---------------------------------------------------------------------------------


def zk_leader(cluster) -> int:
    healths = cluster.wait_serving(timeout=120)
    leaders = [o for o, h in healths.items() if h.mode == "leader"]
    if len(leaders) != 1:
        modes = {o: h.mode for o, h in healths.items()}
        raise RuntimeError(f"expected one ZooKeeper leader, saw modes {modes}")
    return leaders[0]


def bench(workdir: Path, args, seed: int) -> list[dict]:
    times: dict[str, float] = {}
    started = time.monotonic()
    cluster = Cluster(workdir, seed=seed)
    admin = poller = None
    try:
        cluster.deploy(SIZE)
        settle(cluster)
        times["deploy_s"] = time.monotonic() - started
        mark = time.monotonic()
        creds = relate_clients(cluster, args.clients)
        times["relate_and_settle_s"] = time.monotonic() - mark
        restarts = sum(u.restarts for u in cluster.units.values())
        mark = time.monotonic()
        chroots = set(creds)
        # Every guard has read a config with every chroot; the acting one watches them all.
        deadline_poll(
            lambda: all(
                set(guard_config(cluster, o)["chroots"]) == chroots for o in cluster.units
            ),
            60,
            "every guard's config to list every chroot",
        )
        wanted = wanted_acls(guard_config(cluster, 0))
        leader = zk_leader(cluster)
        followers = [o for o in sorted(cluster.units) if o != leader]
        address = {o: u.address for o, u in cluster.units.items()}
        admin = super_client(cluster.super_password(), address[leader])
        poller = super_client(cluster.super_password(), address[followers[-1]])
        warm_up(creds, admin, wanted, [address[o] for o in followers])
        deadline_poll(lambda: acting_guards(cluster) == [leader], 30, "the leader's guard to act")
        times["warm_up_s"] = time.monotonic() - mark

        lines = []
        logs = GuardLogs([guard_log(cluster, o) for o in sorted(cluster.units)])
        logs.poll()
        first = sorted(creds)[0]
        mark = time.monotonic()
        measured = window(
            creds[first],
            first,
            admin,
            wanted[first],
            [address[followers[0]]],
            args.znodes_window,
            logs,
        )
        times["window_s"] = time.monotonic() - mark
        lines.append(
            {
                "bench": "guard",
                "what": "window",
                **measured,
                "creator_on": "follower",
                "poller_on": "leader",
                "poll_every_s": WINDOW_POLL,
                "acting_unit": leader,
            }
        )
        print(json.dumps(lines[-1]), flush=True)

        time.sleep(2)  # let the acting guard go idle before the idle RSS
        mark = time.monotonic()
        measured = load(cluster, creds, poller, wanted, args.per_client, leader, logs)
        times["load_s"] = time.monotonic() - mark
        still = zk_leader(cluster)
        lines.append(
            {
                "bench": "guard",
                "what": "load",
                **measured,
                "leader_changed": still != leader,
                "poller_on": "follower",
            }
        )
        print(json.dumps(lines[-1]), flush=True)
        lines.append(
            {
                "bench": "guard",
                "what": "total",
                **{k: round(v, 2) for k, v in times.items()},
                "rolling_restarts": restarts,
                "wall_s": round(time.monotonic() - started, 2),
                "seed": seed,
            }
        )
        return lines
    finally:
        closing(admin, poller)
        cluster.stop()
        network.cleanup_units()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--znodes-window", type=int, default=200)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--per-client", type=int, default=1000)
    parser.add_argument(
        "--seed",
        type=int,
        help="the Juju stand-in's hook-order seed (default: ZK_LIVE_SEED, else random)",
    )
    args = parser.parse_args()
    network.enter()  # before the load's threads: the pods' mount namespace needs one thread
    seed = seed_from_env() if args.seed is None else args.seed
    # SIGTERM unwinds like Ctrl-C, so the finally stops the servers and the guards.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="zookeeper-k8s-bench-guard-") as tmp:
        lines = bench(Path(tmp), args, seed)
    print(json.dumps(lines[-1]), flush=True)


if __name__ == "__main__":
    main()
