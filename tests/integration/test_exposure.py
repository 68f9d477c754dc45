"""Kubernetes objects on Juju + MicroK8s: the PodDisruptionBudget the leader keeps, and
`expose-external=nodeport` giving a client app a Service address it can log in through.

A client app (the test requirer charm, tests/integration/requirer) is told the node's
address and the Service's node port instead of the pods' DNS names; the test connects with
exactly what the app was told, as a client outside the cluster would. Runs in its own model;
see test_charm.py for what the integration tests need.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from pytest_operator.plugin import OpsTest

from tests.integration.helpers import (
    APP,
    CLIENT_PORT,
    FAST_UPDATE_STATUS,
    SETTLE_TIMEOUT,
    deploy_zookeeper,
    eventually,
    kubectl,
    run_action,
    sasl_client,
    session,
    wait_for_idle,
)

REQUIRER = Path(__file__).resolve().parent / "requirer"
CLIENT_APP = "requirer-outside"
CHROOT = f"/app-{CLIENT_APP}"
SERVICE = f"{APP}-external"


async def kube_object(ops_test: OpsTest, kind: str, name: str) -> dict | None:
    stdout = await kubectl(ops_test, "get", kind, name, "--ignore-not-found", "--output=json")
    return json.loads(stdout) if stdout.strip() else None


async def credentials(ops_test: OpsTest) -> dict[str, str]:
    return await run_action(ops_test, f"{CLIENT_APP}/0", "get-credentials")


def round_trip(hosts: str, creds: dict, value: bytes) -> bytes:
    zk: KazooClient = sasl_client(hosts, creds["username"], creds["password"])
    with session(zk):
        zk.ensure_path("/data")
        zk.set("/data", value)
        return zk.get("/data")[0]


@pytest.mark.abort_on_fail
async def test_deploy_zookeeper_and_a_client_app(ops_test: OpsTest, charm, zookeeper_image):
    requirer = await ops_test.build_charm(REQUIRER)
    await deploy_zookeeper(ops_test, charm, zookeeper_image)
    await ops_test.model.deploy(requirer, application_name=CLIENT_APP, num_units=1)
    await ops_test.model.integrate(f"{APP}:zookeeper", f"{CLIENT_APP}:zookeeper")
    async with ops_test.fast_forward(FAST_UPDATE_STATUS):
        await ops_test.model.wait_for_idle(
            apps=[CLIENT_APP], status="active", timeout=SETTLE_TIMEOUT, wait_for_exact_units=1
        )
    await wait_for_idle(ops_test, status="active")


async def test_the_leader_keeps_a_disruption_budget_owned_by_the_statefulset(ops_test: OpsTest):
    budget = await kube_object(ops_test, "poddisruptionbudget", APP)
    assert budget is not None, "no PodDisruptionBudget named after the app"
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": APP}}
    (owner,) = budget["metadata"]["ownerReferences"]
    statefulset = await kube_object(ops_test, "statefulset", APP)
    assert (owner["kind"], owner["uid"]) == ("StatefulSet", statefulset["metadata"]["uid"])
    # Kubernetes counts the app's pods under it: all of them, none allowed down but one.
    assert budget["status"]["expectedPods"] == 3
    assert not await kube_object(ops_test, "service", SERVICE)


@pytest.mark.abort_on_fail
async def test_nodeport_gives_the_client_an_address_it_connects_through(ops_test: OpsTest):
    await ops_test.model.applications[APP].set_config({"expose-external": "nodeport"})
    await wait_for_idle(ops_test, status="active")

    service = await kube_object(ops_test, "service", SERVICE)
    assert service is not None, f"no Service {SERVICE}"
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    (port,) = service["spec"]["ports"]
    assert port["port"] == CLIENT_PORT  # TLS is off: the plaintext port, SASL enforced
    node_port = port["nodePort"]

    async def told() -> dict | None:
        creds = await credentials(ops_test)
        return creds if f":{node_port}" in creds["endpoints"] else None

    creds = await eventually(told, f"the client being told node port {node_port}")
    hosts = creds["endpoints"].split(",")
    assert all(h.endswith(f":{node_port}") for h in hosts), creds
    assert creds["uris"] == creds["endpoints"] + CHROOT, creds
    value = b"through the node port"
    got = await asyncio.to_thread(round_trip, creds["uris"], creds, value)
    assert got == value


async def test_back_to_false_removes_the_service_and_tells_the_pods_again(ops_test: OpsTest):
    await ops_test.model.applications[APP].set_config({"expose-external": "false"})
    await wait_for_idle(ops_test, status="active")

    async def gone() -> bool:
        return await kube_object(ops_test, "service", SERVICE) is None

    await eventually(gone, f"Service {SERVICE} deleted")
    creds = await credentials(ops_test)
    assert all(".svc.cluster.local:2181" in h for h in creds["endpoints"].split(",")), creds
    # The budget stays: it is not part of the exposure.
    assert await kube_object(ops_test, "poddisruptionbudget", APP) is not None
