"""What the integration test modules share: Juju, ZooKeeper clients (kazoo) and Kubernetes.

ZooKeeper is reached from the test machine through the pods' IPs, which MicroK8s routes to
its host; the DNS names the charm hands to clients (`<app>-<n>.<app>-endpoints.<model>...`)
resolve only inside the cluster. kazoo blocks: the tests call its helpers through
asyncio.to_thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import yaml
from kazoo.client import KazooClient
from kazoo.exceptions import (
    AuthFailedError,
    ConnectionLoss,
    KazooException,
    NoAuthError,
    SessionClosedRequireSaslError,
    SessionExpiredError,
)
from kazoo.handlers.threading import KazooTimeoutError
from pytest_operator.plugin import OpsTest

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
APP = yaml.safe_load((REPO / "metadata.yaml").read_text())["name"]
IMAGE_RESOURCE = "zookeeper-image"
UNITS = 3
CLIENT_PORT = 2181
SUPER_USER = "super"
# The mount point of the `data` storage (metadata.yaml): it must outlive the pod.
STORAGE = "/var/lib/zookeeper"
# The ZooKeeper server's main class (src/render.py): how its JVM is found in the pod.
SERVER_MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"

DEPLOY_TIMEOUT = 30 * 60  # pulls the image and starts three JVMs
SETTLE_TIMEOUT = 10 * 60
# update-status while waiting, so a unit whose server came up between hooks says so soon.
# It must stay well above wait_for_idle's 15 s idle period, or the units never look idle.
FAST_UPDATE_STATUS = "60s"
ACTION_WAIT = "10m"

# What a client without the right credentials runs into: no session, or no access.
REFUSED = (
    AuthFailedError,
    ConnectionLoss,
    NoAuthError,
    SessionClosedRequireSaslError,
    SessionExpiredError,
    KazooTimeoutError,
)


async def eventually(
    check: Callable[[], Awaitable[T | None]],
    what: str | Callable[[], str],
    timeout: float = SETTLE_TIMEOUT,
    every: float = 5,
) -> T:
    """check()'s first result that is not None (nor False), polled until `timeout`.

    what: what is awaited, for the failure message (a callable: worked out then, e.g. to
    show the last state seen).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what() if callable(what) else what}: not so after {timeout:.0f}s")
        await asyncio.sleep(every)


# -- Juju -------------------------------------------------------------------------------


def serving_statuses(units: int) -> list[str]:
    """The sorted status messages of an ensemble of `units` serving with one leader."""
    members = f"{units} member" + ("s" if units != 1 else "")
    if units % 2 == 0:
        members += f" (even: tolerates {units // 2 - 1} failure(s), like {units - 1})"
    return sorted([f"leader, {members}"] + [f"follower, {members}"] * (units - 1))


def unit_statuses(ops_test: OpsTest, app: str = APP) -> dict[str, tuple[str, str]]:
    return {
        unit.name: (unit.workload_status, unit.workload_status_message)
        for unit in ops_test.model.applications[app].units
    }


def one_leader_of(ops_test: OpsTest, units: int = UNITS, app: str = APP) -> bool:
    statuses = unit_statuses(ops_test, app).values()
    return all(status == "active" for status, _ in statuses) and (
        sorted(message for _, message in statuses) == serving_statuses(units)
    )


async def wait_for_idle(
    ops_test: OpsTest,
    status: str,
    timeout: float = SETTLE_TIMEOUT,
    units: int = UNITS,
    app: str = APP,
) -> None:
    async with ops_test.fast_forward(FAST_UPDATE_STATUS):
        await ops_test.model.wait_for_idle(
            apps=[app], status=status, timeout=timeout, wait_for_exact_units=units
        )


async def wait_for_one_leader(
    ops_test: OpsTest, timeout: float = SETTLE_TIMEOUT, units: int = UNITS, app: str = APP
) -> None:
    """Until every unit is active and exactly one says it leads an ensemble of `units`."""
    async with ops_test.fast_forward(FAST_UPDATE_STATUS):
        try:
            await ops_test.model.block_until(
                lambda: one_leader_of(ops_test, units, app), timeout=timeout
            )
        except TimeoutError:
            pytest.fail(
                f"expected one leader of {units} member(s), got {unit_statuses(ops_test, app)}"
            )


async def deploy_zookeeper(
    ops_test: OpsTest, charm: Path, image: str, units: int = UNITS, app: str = APP
) -> None:
    """Deploy the charm (unless the model has it already, e.g. --model) and wait for it."""
    if app not in ops_test.model.applications:
        await ops_test.model.deploy(
            charm,
            application_name=app,
            resources={IMAGE_RESOURCE: image},
            num_units=units,
            # pre-upgrade-check patches the StatefulSet through lightkube.
            trust=True,
            # Several JVMs on one test machine: a small heap is plenty for these tests.
            config={"jvm-heap-mb": 256},
        )
    await wait_for_idle(ops_test, status="active", timeout=DEPLOY_TIMEOUT, units=units, app=app)
    await wait_for_one_leader(ops_test, units=units, app=app)


async def juju_status(ops_test: OpsTest) -> dict:
    _, stdout, _ = await ops_test.juju("status", "--format=json", check=True)
    return json.loads(stdout)


async def pod_ips(ops_test: OpsTest, app: str = APP) -> dict[str, str]:
    """Unit name -> pod IP, as `juju status` reports it."""
    units = (await juju_status(ops_test))["applications"][app]["units"]
    return {name: unit["address"] for name, unit in units.items()}


def zookeeper_leader(ops_test: OpsTest, app: str = APP) -> str:
    """The unit whose server leads ZooKeeper (its status says so)."""
    leaders = [
        name
        for name, (_, message) in unit_statuses(ops_test, app).items()
        if message.startswith("leader")
    ]
    assert len(leaders) == 1, unit_statuses(ops_test, app)
    return leaders[0]


async def try_action(ops_test: OpsTest, unit: str, action: str, **params: str) -> dict:
    """`juju run <unit> <action>` (unit may be `<app>/leader`): the task, failed or not.

    The task: `status` (completed, failed), `message` when it failed, `results` (nested,
    as the charm set them, plus Juju's `return-code` and, if any, `stdout`/`stderr`).
    """
    args = [f"{key}={value}" for key, value in params.items()]
    # `juju run` gives up after 1 minute by default; an action waits behind the unit's
    # hooks, and a unit may sit in a hook while its server restarts or syncs.
    code, stdout, stderr = await ops_test.juju(
        "run", unit, action, *args, "--format=json", f"--wait={ACTION_WAIT}"
    )
    try:
        (task,) = json.loads(stdout).values()
    except (ValueError, AttributeError):
        # A failed task is printed too, but be ready for a client that only says why.
        if code == 0:
            pytest.fail(f"juju run {unit} {action} printed no task: {stdout!r}")
        return {"status": "failed", "message": (stderr or stdout).strip()}
    return task


async def run_action(ops_test: OpsTest, unit: str, action: str, **params: str) -> dict:
    """The results of an action that must complete."""
    task = await try_action(ops_test, unit, action, **params)
    assert task.get("status") == "completed", (unit, action, task)
    return task.get("results", {})


async def get_super_password_action(ops_test: OpsTest, app: str = APP) -> dict:
    unit = ops_test.model.applications[app].units[0]
    action = await (await unit.run_action("get-super-password")).wait()
    assert action.status == "completed", action.results
    return action.results


async def reveal_secret(ops_test: OpsTest, secret_id: str) -> dict[str, str]:
    _, stdout, _ = await ops_test.juju(
        "show-secret", secret_id, "--reveal", "--format=json", check=True
    )
    (details,) = json.loads(stdout).values()
    content = details["content"]
    # The JSON output nests the values under "Data"; the YAML one inlines them.
    return content.get("Data", content)


async def internal_secret(ops_test: OpsTest, app: str = APP) -> dict[str, str]:
    """The charm's app-owned secret: super-password, sync-password and, mid-rotation,
    super-password-previous and sync-password-next."""
    results = await get_super_password_action(ops_test, app)
    return await reveal_secret(ops_test, results["secret-id"])


async def super_password(ops_test: OpsTest, app: str = APP) -> str:
    return (await internal_secret(ops_test, app))["super-password"]


# -- ZooKeeper clients (kazoo blocks: the tests call these through asyncio.to_thread) ----


def connect_string(ips: Iterable[str], chroot: str = "") -> str:
    """host:port,...,host:port[/chroot] for kazoo."""
    return ",".join(f"{ip}:{CLIENT_PORT}" for ip in ips) + chroot


def _kazoo(hosts: str, **auth) -> KazooClient:
    # One try each: refusals must show, not hide behind retries.
    return KazooClient(
        hosts=hosts,
        timeout=10,
        connection_retry={"max_tries": 1},
        command_retry={"max_tries": 1},
        **auth,
    )


def client(host: str, password: str | None, username: str = SUPER_USER) -> KazooClient:
    """A client of one member (its IP); SASL DIGEST-MD5 unless password is None."""
    if password is None:
        return _kazoo(f"{host}:{CLIENT_PORT}")
    return sasl_client(f"{host}:{CLIENT_PORT}", username, password)


def sasl_client(hosts: str, username: str, password: str) -> KazooClient:
    """A client that logs in with SASL DIGEST-MD5 (hosts: a connect string)."""
    sasl = {"mechanism": "DIGEST-MD5", "username": username, "password": password}
    return _kazoo(hosts, sasl_options=sasl)


def digest_client(hosts: str, username: str, password: str) -> KazooClient:
    """A client that authenticates with the digest scheme, as a client app may.

    ZooKeeper accepts any digest login (it only derives an identity from it): what the
    credentials are worth shows in the ACLs, on the first read or write.
    """
    return _kazoo(hosts, auth_data=[("digest", f"{username}:{password}")])


@contextlib.contextmanager
def session(zk: KazooClient) -> Iterator[KazooClient]:
    try:
        zk.start(timeout=15)
        yield zk
    finally:
        zk.stop()
        zk.close()


def write(host: str, password: str, path: str, value: bytes) -> None:
    with session(client(host, password)) as zk:
        zk.create(path, value, makepath=True)


def read(host: str, password: str, path: str) -> bytes:
    with session(client(host, password)) as zk:
        zk.sync(path)  # a follower may not have applied the latest write yet
        return zk.get(path)[0]


def refused(zk: KazooClient, path: str) -> bool:
    """True if the client cannot open a session, or cannot read `path` with it."""
    try:
        with session(zk):
            zk.get(path)
    except REFUSED:
        return True
    return False


def voters(host: str, password: str) -> list[int]:
    """Server ids of the voting members in ZooKeeper's committed config, sorted."""
    config = read(host, password, "/zookeeper/config").decode()
    return sorted(
        int(match.group(1))
        for match in re.finditer(r"^server\.(\d+)=[^;\n]*:participant\b", config, re.MULTILINE)
    )


async def kazoo_eventually(
    call: Callable[..., T], *args, timeout: float = SETTLE_TIMEOUT, every: float = 5
) -> T:
    """call(*args) in a thread, retried on any kazoo error (a member starting, catching
    up, a session lost to a restart) until `timeout`; then its last error is raised."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await asyncio.to_thread(call, *args)
        except (KazooException, KazooTimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(every)


async def read_eventually(
    host: str, password: str, path: str, timeout: float = SETTLE_TIMEOUT
) -> bytes:
    """Read `path` through `host`, retrying while that member starts and catches up."""
    return await kazoo_eventually(read, host, password, path, timeout=timeout)


# -- Kubernetes -------------------------------------------------------------------------


async def kubectl(ops_test: OpsTest, *args: str, stdin: bytes | None = None) -> str:
    """Run kubectl in the model's namespace (Juju names it after the model)."""
    command = ["kubectl"] if shutil.which("kubectl") else ["microk8s", "kubectl"]
    _, stdout, _ = await ops_test.run(
        *command, "--namespace", ops_test.model_name, *args, stdin=stdin, check=True
    )
    return stdout


async def get_pod(ops_test: OpsTest, pod: str) -> dict | None:
    """The pod's manifest, or None while it does not exist."""
    stdout = await kubectl(ops_test, "get", "pod", pod, "--ignore-not-found", "--output=json")
    found = json.loads(stdout) if stdout.strip() else None
    if found and found.get("kind") == "List":  # some kubectl versions print an empty list
        found = next(iter(found["items"]), None)
    return found


async def get_statefulset(ops_test: OpsTest, app: str = APP) -> dict:
    """The application's StatefulSet (Juju names it after the application)."""
    return json.loads(await kubectl(ops_test, "get", "statefulset", app, "--output=json"))


def partition(statefulset: dict) -> int:
    """The RollingUpdate partition: Kubernetes replaces only pods at or above it."""
    rolling = statefulset["spec"].get("updateStrategy", {}).get("rollingUpdate") or {}
    return int(rolling.get("partition", 0))


def pod_revision(pod: dict) -> str | None:
    """The StatefulSet revision the pod was made from."""
    return pod["metadata"].get("labels", {}).get("controller-revision-hash")


def ready(pod: dict) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


async def live_pod_ips(ops_test: OpsTest, units: int = UNITS, app: str = APP) -> list[str]:
    """The IPs of pods 0..units-1 as Kubernetes reports them now (Juju's view may lag
    behind a replaced pod), in ordinal order; each pod must exist and be Ready."""
    ips = []
    for ordinal in range(units):
        pod = await get_pod(ops_test, f"{app}-{ordinal}")
        assert pod is not None and ready(pod), f"pod {app}-{ordinal} is not ready"
        ips.append(pod["status"]["podIP"])
    return ips


async def wait_for_replacement(
    ops_test: OpsTest, pod: str, old_uid: str, timeout: float = SETTLE_TIMEOUT
) -> dict:
    """Until the StatefulSet has recreated `pod` (a new UID) and it is Ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = await get_pod(ops_test, pod)
        if new and new["metadata"]["uid"] != old_uid and ready(new):
            return new
        await asyncio.sleep(5)
    pytest.fail(f"pod {pod} did not come back ready within {timeout}s")


# The PIDs of the ZooKeeper JVMs in a container, found through /proc with the base's sh (the
# rock has no ps and no python): processes with the main class as an argument of its own.
# The class name is put together at run time so that this script's own command line, which
# spells it only in pieces, never matches. A process may exit while it is being looked at.
_MAIN_HEAD, _MAIN_TAIL = SERVER_MAIN_CLASS.rsplit(".", 1)
_SERVER_PIDS = (
    f"tail={_MAIN_TAIL}; "
    "for d in /proc/[0-9]*; do "
    f'{{ tr "\\000" "\\n" < "$d/cmdline"; }} 2>/dev/null | grep -qx "{_MAIN_HEAD}.$tail" '
    '&& echo "${d#/proc/}"; '
    "done; true"
)


async def server_pid(ops_test: OpsTest, unit: str) -> str | None:
    """The PID of the ZooKeeper server in the unit's workload container, None if none runs.

    A new PID means the server was restarted.
    """
    pod = unit.replace("/", "-")
    stdout = await kubectl(
        ops_test, "exec", pod, "--container", "zookeeper", "--", "sh", "-c", _SERVER_PIDS
    )
    pids = stdout.split()
    assert len(pids) <= 1, f"{unit} runs several ZooKeeper servers: {pids}"
    return pids[0] if pids else None
