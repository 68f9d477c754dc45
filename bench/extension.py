#!/usr/bin/env python3
"""The server extension's cost: one client's pipelined creates and reads, with and without it.

Two single ZooKeeper servers run side by side, each on a pod as bench/scale.py makes them
(own network namespace and DNS name, the rock-like root as uid 10000, the charm's JVM, heap,
jars, logback and test flags), both standalone with the same SASL setup (JAAS Server section
with the super user, -Dzookeeper.superUser, the SASL provider, enforce.auth for sasl,digest):
  plain      serverCnxnFactory=NettyServerCnxnFactory; the client user is in its JAAS file
  extension  serverCnxnFactory=IsolatingCnxnFactory and -Dzookeeperk8s.policy; the client
             user comes from the policy znode (src/policy.py render(), one grant)
On each, as super, /zookeeper-k8s/policy (super only) and the chroot /bench (clients.acls) are
created; then the client logs in by SASL inside /bench and, alternating the servers round by
round (the order flips each round, to cancel drift), creates N znodes with the default open
ACL in windows of WINDOW outstanding create_async, then reads them back with get_async. One
unreported warm-up round per server comes first (the JVM compiles the hot paths).

One JSON line per round: server, op, ops, seconds, ops_per_s, and server_cpu_s (the server
JVM's user+system CPU during the round, from /proc) beside client_cpu_s (this process's). A
single Python client is usually the bottleneck: when client_cpu_s is close to seconds, ops_per_s
mostly measures kazoo, and server_cpu_s per op is the closer view of the extension's own cost.
The last line: medians per server, create_cost_pct / get_cost_pct = 100 * (1 - extension /
plain) of the ops/s medians (negative: the extension's was faster, i.e. noise), *_cpu_cost_pct =
100 * (extension / plain - 1) of the server CPU per op medians, target_pct and within_target
(both ops/s costs at most the target). On a shared machine rounds swing; compare a cost with
the spread of each server's rounds (*_range: slowest, fastest) before believing it.
acl_plain_open and acl_extension_closed: sampled created znodes, read as super, are open
(world:anyone) on plain and carry exactly the grant's closed ACL on the extension: proof it
was on path.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO), str(REPO / "bench")]

from kazoo.security import ACL, OPEN_ACL_UNSAFE, Id  # noqa: E402

import clients  # noqa: E402
import policy  # noqa: E402
import render  # noqa: E402
from admin import PERM_BITS  # noqa: E402
from layout import CLIENT_PORT, SUPER_USER  # noqa: E402
from scale import (  # noqa: E402
    RAW_POD,
    add_pod,
    plain_command,
    pod_root,
    probe_in,
    start_in_pod,
    stop_in_pod,
    write_plain_files,
)
from state import new_password  # noqa: E402
from tests.live import network  # noqa: E402
from tests.live.cluster import deadline_poll, live_layout, stop_everything  # noqa: E402
from tests.live.zk import closing, connect, session  # noqa: E402

FACTORIES = {
    "plain": "org.apache.zookeeper.server.NettyServerCnxnFactory",
    "extension": policy.FACTORY,
}
GRANT = clients.Grant(relation_id=1, app="bench", chroot="/bench", perms="cdrw")
POLICY_FLAG = f"-D{policy.PROPERTY}={policy.ZNODE}"
DATA = b"x" * 64
TARGET_PCT = 5
ACL_SAMPLE_EVERY = 500  # the ACL of every 500th created znode is read back as super


def kazoo_acls(acls: list[clients.Acl]) -> list[ACL]:
    return [ACL(sum(PERM_BITS[p] for p in acl.perms), Id(acl.scheme, acl.id)) for acl in acls]


def acl_set(acls) -> frozenset:
    return frozenset((a.id.scheme, a.id.id, a.perms) for a in acls)


def cpu_seconds(pid: int) -> float:
    """A process's user + system CPU so far (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(root: Path, workdir: Path, index: int, kind: str, passwords: dict):
    """One standalone server on a pod of its own; the client user in JAAS on plain only."""
    layout = live_layout()
    pod = add_pod(RAW_POD + index, f"zookeeper-{kind}", 0, workdir / kind)
    users = {SUPER_USER: passwords[SUPER_USER]}
    if kind == "plain":
        users[GRANT.user] = passwords[GRANT.user]
    options = "\n".join(f'    user_{user}="{password}"' for user, password in users.items())
    jaas = f"Server {{\n    {render.DIGEST_LOGIN} required\n{options};\n}};\n"
    zoo_cfg = (
        f"tickTime=2000\ndataDir={layout.data_dir}\nclientPort={CLIENT_PORT}\n"
        f"standaloneEnabled=true\nserverCnxnFactory={FACTORIES[kind]}\n"
        f"authProvider.sasl={render.SASL_PROVIDER}\n"
        "enforce.auth.enabled=true\nenforce.auth.schemes=sasl,digest\n"
    )
    write_plain_files(root, pod, 1, zoo_cfg, {layout.jaas: jaas})
    auth = (
        f"-Djava.security.auth.login.config={layout.jaas}",
        f"-Dzookeeper.superUser={SUPER_USER}",
    )
    argv = [f for f in plain_command(*auth) if not f.startswith(f"-D{policy.PROPERTY}=")]
    if kind == "extension":
        argv.insert(argv.index("-cp"), POLICY_FLAG)
    process = start_in_pod(
        root,
        argv,
        storage=pod.storage,
        netns=pod.netns,
        hostname=pod.hostname,
        log=workdir / f"{kind}.log",
    )
    return pod, process


def grant_client(host: str, passwords: dict) -> None:
    """As super: the policy znode (closed) with the one grant, and the client's chroot."""
    closed = kazoo_acls(clients.super_only())
    with session(host, sasl=(SUPER_USER, passwords[SUPER_USER])) as admin:
        admin.create(policy.ROOT, b"", acl=closed)
        text = policy.render([(GRANT, passwords[GRANT.user])])
        admin.create(policy.ZNODE, text.encode(), acl=closed)
        admin.create(GRANT.chroot, b"", acl=kazoo_acls(clients.acls(GRANT, passwords[GRANT.user])))


def pipelined(call, paths: list[str], window: int) -> None:
    for start in range(0, len(paths), window):
        for result in [call(path) for path in paths[start : start + window]]:
            result.get(timeout=120)


def measure(client, pid: int, op: str, paths: list[str], window: int) -> dict:
    # Creates with kazoo's default ACL, world:anyone (the extension rewrites it).
    call = partial(client.create_async, value=DATA) if op == "create" else client.get_async
    server_cpu, client_cpu, started = cpu_seconds(pid), time.process_time(), time.perf_counter()
    pipelined(call, paths, window)
    seconds = time.perf_counter() - started
    return {
        "op": op,
        "ops": len(paths),
        "seconds": round(seconds, 3),
        "ops_per_s": round(len(paths) / seconds, 1),
        "server_cpu_s": round(cpu_seconds(pid) - server_cpu, 3),
        "client_cpu_s": round(time.process_time() - client_cpu, 3),
    }


def acls_seen(host: str, passwords: dict, paths: list[str]) -> set[frozenset]:
    """The distinct ACLs of sampled created znodes, read as super outside the chroot."""
    with session(host, sasl=(SUPER_USER, passwords[SUPER_USER])) as admin:
        results = [admin.get_acls_async(GRANT.chroot + p) for p in paths[::ACL_SAMPLE_EVERY]]
        return {acl_set(result.get(timeout=60)[0]) for result in results}


def run(root: Path, workdir: Path, n: int, rounds: int, window: int) -> None:
    passwords = {SUPER_USER: new_password(), GRANT.user: new_password()}
    servers, client_of, created = {}, {}, {kind: [] for kind in FACTORIES}
    try:
        for index, kind in enumerate(FACTORIES):
            servers[kind] = start_server(root, workdir, index, kind, passwords)
        deadline_poll(
            lambda: all(probe_in(pod.netns).serving for pod, _ in servers.values()),
            120,
            "both servers to serve",
        )
        hosts = {kind: f"{pod.name}:{CLIENT_PORT}" for kind, (pod, _) in servers.items()}
        for kind, host in hosts.items():
            grant_client(host, passwords)
            client_of[kind] = connect(
                host + GRANT.chroot, sasl=(GRANT.user, passwords[GRANT.user])
            )
        lines = []
        for i in range(-1, rounds):  # round -1: the warm-up, not reported
            order = list(FACTORIES) if i % 2 == 0 else list(reversed(FACTORIES))
            for kind in order:
                paths = [f"/r{i}-{j}" for j in range(n)]
                pid = servers[kind][1].pid
                for op in ("create", "get"):
                    result = measure(client_of[kind], pid, op, paths, window)
                    line = {"bench": "extension", "server": kind, "round": i, **result}
                    if i >= 0:
                        lines.append(line)
                        print(json.dumps(line), flush=True)
                if i >= 0:
                    created[kind] += paths
        seen = {kind: acls_seen(hosts[kind], passwords, created[kind]) for kind in FACTORIES}
        closed = acl_set(kazoo_acls(clients.acls(GRANT, passwords[GRANT.user])))
        summary = {"bench": "extension", "ops_per_round": n, "rounds": rounds, "window": window}
        for op in ("create", "get"):
            for kind in FACTORIES:
                mine = [x for x in lines if x["server"] == kind and x["op"] == op]
                rates = [x["ops_per_s"] for x in mine]
                summary[f"{op}_{kind}_ops_per_s"] = statistics.median(rates)
                summary[f"{op}_{kind}_ops_per_s_range"] = [min(rates), max(rates)]
                cpu = statistics.median(1e6 * x["server_cpu_s"] / x["ops"] for x in mine)
                summary[f"{op}_{kind}_server_cpu_us_per_op"] = round(cpu, 2)
            plain, ext = (summary[f"{op}_{kind}_ops_per_s"] for kind in FACTORIES)
            summary[f"{op}_cost_pct"] = round(100 * (1 - ext / plain), 2)
            plain, ext = (summary[f"{op}_{kind}_server_cpu_us_per_op"] for kind in FACTORIES)
            summary[f"{op}_cpu_cost_pct"] = round(100 * (ext / plain - 1), 2)
        summary["target_pct"] = TARGET_PCT
        summary["within_target"] = max(summary["create_cost_pct"], summary["get_cost_pct"]) <= (
            TARGET_PCT
        )
        summary["acl_samples"] = len(created["plain"][::ACL_SAMPLE_EVERY])
        summary["acl_plain_open"] = seen["plain"] == {acl_set(OPEN_ACL_UNSAFE)}
        summary["acl_extension_closed"] = seen["extension"] == {closed} and not any(
            scheme == "world" for acls in seen["extension"] for scheme, _, _ in acls
        )
        print(json.dumps(summary), flush=True)
        if not (summary["acl_plain_open"] and summary["acl_extension_closed"]):
            sys.exit(f"the ACLs do not show the extension on path: {seen}")
    finally:
        for client in client_of.values():
            closing(client)
        try:
            stop_in_pod(process for _, process in servers.values())
        finally:
            stop_everything()  # SIGKILL whatever a timeout above left running
            network.cleanup_units()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ops", type=int, default=20_000, help="creates (and gets) per round")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per server")
    parser.add_argument("--window", type=int, default=500, help="outstanding requests")
    args = parser.parse_args()
    network.enter()  # before any thread: the pods' mount namespace needs one thread
    # SIGTERM unwinds like Ctrl-C, so the finally above stops the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = pod_root()
    with tempfile.TemporaryDirectory(prefix="zookeeper-k8s-bench-extension-") as workdir:
        run(root, Path(workdir), args.ops, args.rounds, args.window)


if __name__ == "__main__":
    main()
