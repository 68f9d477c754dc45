"""The charm deployed by Juju on Kubernetes, checked through a real ZooKeeper client.

Needs a Juju 3.6 controller on MicroK8s (with its `registry` addon), charmcraft (with
LXD, or pass --destructive-mode) and a kubectl for the cluster (`kubectl`, else
`microk8s kubectl`). ZooKeeper is reached from this machine through the pods' IPs, which
MicroK8s routes to its host. Build the rock, push it to MicroK8s' registry, then run:

    rockcraft pack
    rockcraft.skopeo --insecure-policy copy --dest-tls-verify=false \\
        oci-archive:zookeeper_3.9.4_amd64.rock docker://localhost:32000/zookeeper:3.9.4
    PYTEST_ADDOPTS=--zookeeper-image=localhost:32000/zookeeper:3.9.4 make integration

`ZOOKEEPER_IMAGE=localhost:32000/zookeeper:3.9.4 make integration` does the same. With
tox, pass the option itself (tox does not pass ZOOKEEPER_IMAGE through):
`tox -e integration -- --zookeeper-image=localhost:32000/zookeeper:3.9.4`.
pytest-operator's options apply too: --keep-models, or --model=<name> --no-deploy to run
again against a deployment kept from an earlier run.

The tests share one deployment and run in order; a failed deployment aborts the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

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

REPO = Path(__file__).resolve().parents[2]
APP = yaml.safe_load((REPO / "metadata.yaml").read_text())["name"]
IMAGE_RESOURCE = "zookeeper-image"
UNITS = 3
CLIENT_PORT = 2181
SUPER_USER = "super"
# The mount point of the `data` storage (metadata.yaml): it must outlive the pod.
STORAGE = "/var/lib/zookeeper"

DEPLOY_TIMEOUT = 30 * 60  # pulls the image and starts three JVMs
SETTLE_TIMEOUT = 10 * 60
# update-status while waiting, so a unit whose server came up between hooks says so soon.
# It must stay well above wait_for_idle's 15 s idle period, or the units never look idle.
FAST_UPDATE_STATUS = "60s"

SERVING_STATUSES = sorted(["leader, 3 members"] + ["follower, 3 members"] * (UNITS - 1))
# Znodes of this run, so a rerun against a kept model (--model) starts clean.
ROOT = f"/integration-{uuid.uuid4().hex[:8]}"

REFUSED = (
    AuthFailedError,
    ConnectionLoss,
    NoAuthError,
    SessionClosedRequireSaslError,
    SessionExpiredError,
    KazooTimeoutError,
)


# -- Juju -------------------------------------------------------------------------------


def unit_statuses(ops_test: OpsTest) -> dict[str, tuple[str, str]]:
    return {
        unit.name: (unit.workload_status, unit.workload_status_message)
        for unit in ops_test.model.applications[APP].units
    }


def one_leader_of_three(ops_test: OpsTest) -> bool:
    statuses = unit_statuses(ops_test).values()
    return all(status == "active" for status, _ in statuses) and (
        sorted(message for _, message in statuses) == SERVING_STATUSES
    )


async def wait_for_idle(ops_test: OpsTest, status: str, timeout: float = SETTLE_TIMEOUT) -> None:
    async with ops_test.fast_forward(FAST_UPDATE_STATUS):
        await ops_test.model.wait_for_idle(
            apps=[APP], status=status, timeout=timeout, wait_for_exact_units=UNITS
        )


async def wait_for_one_leader(ops_test: OpsTest, timeout: float = SETTLE_TIMEOUT) -> None:
    """Until every unit is active and exactly one says it leads an ensemble of three."""
    async with ops_test.fast_forward(FAST_UPDATE_STATUS):
        try:
            await ops_test.model.block_until(
                lambda: one_leader_of_three(ops_test), timeout=timeout
            )
        except TimeoutError:
            pytest.fail(f"expected one leader and two followers, got {unit_statuses(ops_test)}")


async def pod_ips(ops_test: OpsTest) -> dict[str, str]:
    """Unit name -> pod IP, as `juju status` reports it."""
    _, stdout, _ = await ops_test.juju("status", "--format=json", check=True)
    units = json.loads(stdout)["applications"][APP]["units"]
    return {name: unit["address"] for name, unit in units.items()}


async def get_super_password_action(ops_test: OpsTest) -> dict:
    unit = ops_test.model.applications[APP].units[0]
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


async def super_password(ops_test: OpsTest) -> str:
    results = await get_super_password_action(ops_test)
    return (await reveal_secret(ops_test, results["secret-id"]))["super-password"]


# -- ZooKeeper clients (kazoo blocks: the tests call these through asyncio.to_thread) ----


def client(host: str, password: str | None, username: str = SUPER_USER) -> KazooClient:
    """A client of one member; SASL DIGEST-MD5 unless password is None."""
    sasl = None
    if password is not None:
        sasl = {"mechanism": "DIGEST-MD5", "username": username, "password": password}
    return KazooClient(
        hosts=f"{host}:{CLIENT_PORT}",
        timeout=10,
        sasl_options=sasl,
        connection_retry={"max_tries": 1},
        command_retry={"max_tries": 1},
    )


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


async def read_eventually(
    host: str, password: str, path: str, timeout: float = SETTLE_TIMEOUT
) -> bytes:
    """Read `path` through `host`, retrying while that member starts and catches up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await asyncio.to_thread(read, host, password, path)
        except (KazooException, KazooTimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(5)


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


def ready(pod: dict) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


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


# -- Tests ------------------------------------------------------------------------------


@pytest.mark.abort_on_fail
@pytest.mark.skip_if_deployed
async def test_deploy_three_units(ops_test: OpsTest, charm, zookeeper_image):
    await ops_test.model.deploy(
        charm,
        application_name=APP,
        resources={IMAGE_RESOURCE: zookeeper_image},
        num_units=UNITS,
        trust=True,
        # Three JVMs on one test machine: a small heap is plenty for these tests.
        config={"jvm-heap-mb": 256},
    )
    await wait_for_idle(ops_test, status="active", timeout=DEPLOY_TIMEOUT)


async def test_exactly_one_unit_leads_an_ensemble_of_three(ops_test: OpsTest):
    await wait_for_one_leader(ops_test)


async def test_super_user_writes_and_reads_through_a_pod_ip(ops_test: OpsTest):
    password = await super_password(ops_test)
    ips = [ip for _, ip in sorted((await pod_ips(ops_test)).items())]
    assert len(ips) == UNITS
    path = f"{ROOT}/written-by-super"

    await asyncio.to_thread(write, ips[0], password, path, b"hello")
    # Read back through every member: the write reached the whole ensemble.
    for ip in ips:
        assert await asyncio.to_thread(read, ip, password, path) == b"hello"


async def test_clients_without_the_super_password_are_refused(ops_test: OpsTest):
    password = await super_password(ops_test)
    ip = next(iter((await pod_ips(ops_test)).values()))
    path = f"{ROOT}/guarded"
    await asyncio.to_thread(write, ip, password, path, b"secret data")

    anonymous = client(ip, password=None)
    assert await asyncio.to_thread(refused, anonymous, path)
    wrong_password = client(ip, password="not-the-password")
    assert await asyncio.to_thread(refused, wrong_password, path)
    # An unknown name with super's password: ZooKeeper before 3.9.3 let it in
    # (ZOOKEEPER-4839); the rock ships 3.9.4.
    unknown_user = client(ip, password=password, username="nobody")
    assert await asyncio.to_thread(refused, unknown_user, path)


async def test_get_super_password_gives_the_secret_id_not_the_password(ops_test: OpsTest):
    results = await get_super_password_action(ops_test)
    secret_id = results["secret-id"]
    assert results["username"] == SUPER_USER
    assert secret_id.startswith("secret:")

    # The ID leads to the password, which the action's output never shows.
    password = (await reveal_secret(ops_test, secret_id))["super-password"]
    assert password
    assert password not in json.dumps(results)
    # What `juju run` prints is free of it too.
    unit = ops_test.model.applications[APP].units[0].name
    _, stdout, _ = await ops_test.juju(
        "run", unit, "get-super-password", "--format=json", check=True
    )
    assert secret_id in stdout
    assert password not in stdout


@pytest.mark.abort_on_fail
async def test_a_bad_config_value_blocks_every_unit_until_reset(ops_test: OpsTest):
    password = await super_password(ops_test)
    ip = next(iter((await pod_ips(ops_test)).values()))
    path = f"{ROOT}/before-bad-config"
    await asyncio.to_thread(write, ip, password, path, b"still here")
    app = ops_test.model.applications[APP]

    await app.set_config({"tick-time": "5"})
    await wait_for_idle(ops_test, status="blocked")
    for name, (status, message) in unit_statuses(ops_test).items():
        assert status == "blocked", name
        assert message.startswith("invalid config: tick-time must be"), (name, message)
    # A blocked charm leaves the running ensemble alone.
    assert await asyncio.to_thread(read, ip, password, path) == b"still here"

    await app.reset_config(["tick-time"])
    await wait_for_idle(ops_test, status="active")
    await wait_for_one_leader(ops_test)


async def test_a_deleted_pod_comes_back_with_its_data(ops_test: OpsTest):
    password = await super_password(ops_test)
    ips = await pod_ips(ops_test)
    path = f"{ROOT}/before-pod-delete"
    await asyncio.to_thread(write, next(iter(ips.values())), password, path, b"kept")

    # The ZooKeeper leader's pod: losing it also forces an election.
    leader = next(
        name
        for name, (_, message) in unit_statuses(ops_test).items()
        if message.startswith("leader")
    )
    pod = leader.replace("/", "-")
    # A file on the data storage, outside ZooKeeper's reach: only a kept volume still has it.
    marker, marker_path = uuid.uuid4().hex, f"{STORAGE}/integration-marker"
    in_pod = (pod, "--container", "zookeeper", "--")
    await kubectl(ops_test, "exec", "--stdin", *in_pod, "tee", marker_path, stdin=marker.encode())
    old_uid = (await get_pod(ops_test, pod))["metadata"]["uid"]

    await kubectl(ops_test, "delete", "pod", pod, "--wait=true")
    new_pod = await wait_for_replacement(ops_test, pod, old_uid)

    kept = await kubectl(ops_test, "exec", *in_pod, "cat", marker_path)
    assert kept.strip() == marker
    # The replacement pod may have a new IP: ask Kubernetes, not Juju's possibly stale view.
    assert await read_eventually(new_pod["status"]["podIP"], password, path) == b"kept"
    await wait_for_idle(ops_test, status="active")
    await wait_for_one_leader(ops_test)
