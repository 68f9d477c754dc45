"""Client applications on Juju: two apps related to zookeeper-k8s, each shut in its chroot.

The client apps are two deployments of the test requirer charm in tests/integration/requirer
(built on the requirer library in lib/, which speaks data_interfaces v0 as Kafka's charm
does): it asks for /app-<its name> and hands the credentials it received to the test
through its get-credentials action. The test logs in with them over the digest scheme and
over SASL: both work as soon as the relation is answered (the charm publishes them once
every server accepts the user), with no restart.

The DNS names in `endpoints` and `uris` resolve only inside the cluster: the test connects
through the pods' IPs, with the chroot it was given. Runs in its own model (pytest-operator
makes one per module); see test_charm.py for what the integration tests need.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoAuthError
from kazoo.handlers.threading import KazooTimeoutError
from pytest_operator.plugin import OpsTest

from tests.integration.helpers import (
    APP,
    CLIENT_PORT,
    FAST_UPDATE_STATUS,
    SETTLE_TIMEOUT,
    UNITS,
    connect_string,
    deploy_zookeeper,
    digest_client,
    eventually,
    live_pod_ips,
    read_eventually,
    refused,
    run_action,
    sasl_client,
    session,
    super_password,
    try_action,
    wait_for_idle,
    wait_for_one_leader,
)

# Built with ops_test.build_charm; absolute, so the tests may run from any directory.
REQUIRER = Path(__file__).resolve().parent / "requirer"
LIBRARY = Path(__file__).resolve().parents[2] / "lib"


def requirer_tree(workdir: Path) -> Path:
    """The requirer charm with this repository's requirer library in its lib/, as a client
    charm author has it after `charmcraft fetch-lib` (the library is not on Charmhub yet)."""
    tree = workdir / "requirer"
    shutil.copytree(REQUIRER, tree)
    shutil.copytree(LIBRARY, tree / "lib")
    return tree


APP_A, APP_B = "requirer-a", "requirer-b"
# What each asks for: the requirer charm's default, /app-<application name>.
CHROOTS = {APP_A: f"/app-{APP_A}", APP_B: f"/app-{APP_B}"}


async def credentials(ops_test: OpsTest, app: str) -> dict[str, str]:
    """What the app received, as its get-credentials action reports it."""
    return await run_action(ops_test, f"{app}/0", "get-credentials")


async def wait_for_clients(ops_test: OpsTest, apps: list[str], status: str) -> None:
    async with ops_test.fast_forward(FAST_UPDATE_STATUS):
        await ops_test.model.wait_for_idle(
            apps=apps, status=status, timeout=SETTLE_TIMEOUT, wait_for_exact_units=1
        )


async def settled(ops_test: OpsTest) -> None:
    """ZooKeeper idle, with one Juju leader."""
    await wait_for_idle(ops_test, status="active")
    await wait_for_one_leader(ops_test)


def use_chroot(zk: KazooClient, value: bytes) -> bytes:
    """As the app: write /data under its chroot (the client's root) and read it back."""
    with session(zk):
        zk.ensure_path("/data")
        zk.set("/data", value)
        return zk.get("/data")[0]


def use_chroot_as(
    login: Callable[[str, str, str], KazooClient], hosts: str, creds: dict, value: bytes
) -> bytes:
    """use_chroot, logged in with the app's credentials (login: digest_client, sasl_client)."""
    return use_chroot(login(hosts, creds["username"], creds["password"]), value)


def read_data(zk: KazooClient) -> bytes:
    """As the app: read /data under its chroot, changing nothing."""
    with session(zk):
        return zk.get("/data")[0]


def not_denied(zk: KazooClient, chroot: str) -> list[str]:
    """What an authenticated session could do to another app's chroot, or to the root
    (empty: it was denied everything). The session itself must open."""
    attempts = {
        "list": lambda: zk.get_children(chroot),
        "read": lambda: zk.get(f"{chroot}/data"),
        "create": lambda: zk.create(f"{chroot}/intrusion", b"x"),
        "write": lambda: zk.set(f"{chroot}/data", b"x"),
        "delete": lambda: zk.delete(f"{chroot}/data"),
        "create at the root": lambda: zk.create("/outside", b"x"),
    }
    allowed = []
    with session(zk):
        for name, attempt in attempts.items():
            try:
                attempt()
            except NoAuthError:
                continue
            allowed.append(name)
    return allowed


@pytest.mark.abort_on_fail
@pytest.mark.skip_if_deployed
async def test_deploy_zookeeper_and_relate_two_client_apps(
    ops_test: OpsTest, charm, zookeeper_image
):
    requirer = await ops_test.build_charm(requirer_tree(ops_test.tmp_path))
    await deploy_zookeeper(ops_test, charm, zookeeper_image)
    for app in (APP_A, APP_B):
        await ops_test.model.deploy(requirer, application_name=app, num_units=1)
    await wait_for_clients(ops_test, [APP_A, APP_B], status="blocked")  # no relation yet

    for app in (APP_A, APP_B):
        await ops_test.model.integrate(f"{APP}:zookeeper", f"{app}:zookeeper")
    await wait_for_clients(ops_test, [APP_A, APP_B], status="active")
    await settled(ops_test)


@pytest.mark.abort_on_fail
async def test_each_app_gets_its_own_chroot_and_user(ops_test: OpsTest):
    a, b = await credentials(ops_test, APP_A), await credentials(ops_test, APP_B)
    hosts = [
        f"{APP}-{ordinal}.{APP}-endpoints.{ops_test.model_name}.svc.cluster.local:{CLIENT_PORT}"
        for ordinal in range(UNITS)
    ]
    for app, creds in ((APP_A, a), (APP_B, b)):
        assert creds["chroot"] == creds["database"] == CHROOTS[app], creds
        assert sorted(creds["endpoints"].split(",")) == hosts, creds
        assert creds["uris"] == creds["endpoints"] + CHROOTS[app], creds
        assert creds["username"].startswith("relation-"), creds
        assert len(creds["password"]) >= 32
        assert creds["tls"] == "disabled", creds
        assert creds["version"].startswith("3."), creds
        assert creds["secret-user"].startswith("secret:"), creds
    assert a["username"] != b["username"]
    assert a["password"] != b["password"]

    # The passwords travel only in secrets: no relation data shows them.
    for unit in (f"{APP_A}/0", f"{APP_B}/0", f"{APP}/0"):
        _, stdout, _ = await ops_test.juju("show-unit", unit, "--format=json", check=True)
        assert a["password"] not in stdout, unit
        assert b["password"] not in stdout, unit


async def test_each_app_reads_and_writes_under_its_own_chroot(ops_test: OpsTest):
    ips = await live_pod_ips(ops_test)
    admin = await super_password(ops_test)
    for app in (APP_A, APP_B):
        creds = await credentials(ops_test, app)
        hosts, value = connect_string(ips, CHROOTS[app]), f"written by {app}".encode()
        assert await asyncio.to_thread(use_chroot_as, digest_client, hosts, creds, value) == value
        # It landed in the chroot, where the super user finds it.
        assert await read_eventually(ips[0], admin, f"{CHROOTS[app]}/data", 60) == value


async def test_an_app_is_denied_the_other_apps_chroot_and_the_root(ops_test: OpsTest):
    ips = await live_pod_ips(ops_test)
    for app, other in ((APP_A, APP_B), (APP_B, APP_A)):
        creds = await credentials(ops_test, app)
        # Without a chroot in the connect string, so the other app's paths can be named.
        zk = digest_client(connect_string(ips), creds["username"], creds["password"])
        assert await asyncio.to_thread(not_denied, zk, CHROOTS[other]) == [], app


async def test_sasl_logins_work_on_every_server_without_a_restart(ops_test: OpsTest):
    ips = await live_pod_ips(ops_test)
    for app in (APP_A, APP_B):
        creds = await credentials(ops_test, app)
        value = f"written by {app} over SASL".encode()
        # Each server on its own, with no retry: the credentials were published only once
        # every server accepted the user.
        for ip in ips:
            hosts = connect_string([ip], CHROOTS[app])
            written = await asyncio.to_thread(use_chroot_as, sasl_client, hosts, creds, value)
            assert written == value, (app, ip)


async def test_removing_a_relation_shuts_that_app_out_and_no_other(ops_test: OpsTest):
    a, b = await credentials(ops_test, APP_A), await credentials(ops_test, APP_B)
    ips = await live_pod_ips(ops_test)
    hosts_a, hosts_b = connect_string(ips, CHROOTS[APP_A]), connect_string(ips, CHROOTS[APP_B])
    admin = await super_password(ops_test)
    kept = await read_eventually(ips[0], admin, f"{CHROOTS[APP_A]}/data", 60)
    # Before: A's credentials work, and its secret is there for the checks below to see go.
    zk = digest_client(hosts_a, a["username"], a["password"])
    assert await asyncio.to_thread(read_data, zk) == kept
    await ops_test.juju("show-secret", a["secret-user"], check=True)

    await ops_test.juju("remove-relation", f"{APP}:zookeeper", f"{APP_A}:zookeeper", check=True)
    await wait_for_clients(ops_test, [APP_A], status="blocked")

    # The leader revokes in its relation-broken hook: A's digest identity loses its ACLs.
    last: dict[str, str] = {}

    async def a_shut_out() -> bool:
        zk = digest_client(hosts_a, a["username"], a["password"])
        try:
            await asyncio.to_thread(read_data, zk)
        except NoAuthError:
            return True
        except (KazooException, KazooTimeoutError) as exc:  # e.g. a server restarting
            last["error"] = repr(exc)
            return False
        last["error"] = "still allowed"
        return False

    await eventually(a_shut_out, lambda: f"A shut out of its chroot (last: {last})")

    # Its user secret is gone, and the app knows it has no credentials.
    async def secret_removed() -> bool:
        code, _, _ = await ops_test.juju("show-secret", a["secret-user"])
        return code != 0

    await eventually(secret_removed, f"A's secret {a['secret-user']} removed")
    task = await try_action(ops_test, f"{APP_A}/0", "get-credentials")
    assert task["status"] == "failed", task

    # A's SASL user left the policy with it; B is untouched.
    await settled(ops_test)
    await wait_for_clients(ops_test, [APP_B], status="active")
    assert await credentials(ops_test, APP_B) == b
    for login in (digest_client, sasl_client):
        value = f"{login.__name__} after A left".encode()
        written = await asyncio.to_thread(use_chroot_as, login, hosts_b, b, value)
        assert written == value, login.__name__
    ips = await live_pod_ips(ops_test)
    a_sasl = sasl_client(connect_string(ips, CHROOTS[APP_A]), a["username"], a["password"])
    assert await asyncio.to_thread(refused, a_sasl, "/data")

    # A's data stays (delete-client-data is off), closed to all but the super user.
    assert await read_eventually(ips[0], admin, f"{CHROOTS[APP_A]}/data", 60) == kept
