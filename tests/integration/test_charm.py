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
Every module in tests/integration gets its own model (pytest-operator), so test_scale,
test_operations and test_clients deploy their own; helpers.py holds what they share.
"""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from pytest_operator.plugin import OpsTest

from tests.integration.helpers import (
    APP,
    DEPLOY_TIMEOUT,
    IMAGE_RESOURCE,
    STORAGE,
    SUPER_USER,
    UNITS,
    client,
    get_pod,
    get_super_password_action,
    kubectl,
    pod_ips,
    read,
    read_eventually,
    refused,
    reveal_secret,
    super_password,
    unit_statuses,
    wait_for_idle,
    wait_for_one_leader,
    wait_for_replacement,
    write,
)

# Znodes of this run, so a rerun against a kept model (--model) starts clean.
ROOT = f"/integration-{uuid.uuid4().hex[:8]}"


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
