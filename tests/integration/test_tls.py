"""TLS on Juju: `juju integrate zookeeper-k8s self-signed-certificates` turns the ensemble to
TLS, removing the relation turns it back; plaintext from off the pod is refused while TLS is
on. Runs in its own model; see test_charm.py for what the integration tests need.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import uuid

import pytest
from kazoo.client import KazooClient
from pytest_operator.plugin import OpsTest

from tests.integration.helpers import (
    APP,
    DEPLOY_TIMEOUT,
    SUPER_USER,
    deploy_zookeeper,
    pod_ips,
    read,
    run_action,
    session,
    super_password,
    wait_for_idle,
    write,
)

PROVIDER = "self-signed-certificates"
SECURE_PORT = 2182
ROOT = f"/integration-tls-{uuid.uuid4().hex[:8]}"


def listening(ip: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(5)
        try:
            sock.connect((ip, port))
        except OSError:
            return False
    return True


def tls_client(ip: str, password: str, ca_file: str) -> KazooClient:
    sasl = {"mechanism": "DIGEST-MD5", "username": SUPER_USER, "password": password}
    return KazooClient(
        hosts=f"{ip}:{SECURE_PORT}",
        timeout=10,
        connection_retry={"max_tries": 1},
        command_retry={"max_tries": 1},
        sasl_options=sasl,
        use_ssl=True,
        ca=ca_file,
        verify_certs=True,
    )


def tls_round_trip(ip: str, password: str, ca_file: str, path: str) -> bytes:
    with session(tls_client(ip, password, ca_file)) as zk:
        zk.create(path, b"over tls", makepath=True)
        zk.sync(path)
        return zk.get(path)[0]


@pytest.mark.abort_on_fail
async def test_deploy_zookeeper_and_a_certificates_provider(
    ops_test: OpsTest, charm, zookeeper_image
):
    await deploy_zookeeper(ops_test, charm, zookeeper_image)
    # Certificates name the pods' IPs too: this machine reaches members by IP.
    await ops_test.model.applications[APP].set_config({"tls-sans-ip": "true"})
    await ops_test.model.deploy(PROVIDER, channel="1/stable")
    await wait_for_idle(ops_test, status="active", timeout=DEPLOY_TIMEOUT, app=PROVIDER, units=1)


async def test_integrating_turns_clients_and_quorum_to_tls(ops_test: OpsTest):
    await ops_test.model.integrate(APP, PROVIDER)
    await wait_for_idle(ops_test, status="active", timeout=DEPLOY_TIMEOUT)
    ca = (await run_action(ops_test, f"{PROVIDER}/0", "get-ca-certificate"))["ca-certificate"]
    password = await super_password(ops_test)
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as ca_file:
        ca_file.write(ca)
        ca_file.flush()
        for ip in (await pod_ips(ops_test)).values():
            path = f"{ROOT}/{ip}"
            got = await asyncio.to_thread(tls_round_trip, ip, password, ca_file.name, path)
            assert got == b"over tls"
            # Plaintext clients are kept on the pod's loopback.
            assert not await asyncio.to_thread(listening, ip, 2181)


async def test_removing_the_relation_turns_it_back(ops_test: OpsTest):
    await ops_test.juju("remove-relation", APP, PROVIDER, check=True)
    await wait_for_idle(ops_test, status="active", timeout=DEPLOY_TIMEOUT)
    password = await super_password(ops_test)
    for ip in (await pod_ips(ops_test)).values():
        assert not await asyncio.to_thread(listening, ip, SECURE_PORT)
        path = f"{ROOT}/plain-{ip}"
        await asyncio.to_thread(write, ip, password, path, b"plain again")
        assert await asyncio.to_thread(read, ip, password, path) == b"plain again"
