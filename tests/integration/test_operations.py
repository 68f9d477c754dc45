"""Day-2 operations on Juju: the restart action, password rotation, ensemble-status, and an
upgrade (pre-upgrade-check, then `juju refresh` with the same charm file).

The tests run in order on one deployment of three units, in this module's own model
(pytest-operator makes one per module); see test_charm.py for what the integration tests
need and how to run them. Each operation is awaited through what it must change (new
server processes, a new secret content, new pods), not only through Juju's idle status,
then the ensemble must be back to one leader and two followers with its data.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from pytest_operator.plugin import OpsTest

from tests.integration.helpers import (
    APP,
    DEPLOY_TIMEOUT,
    IMAGE_RESOURCE,
    SETTLE_TIMEOUT,
    UNITS,
    client,
    deploy_zookeeper,
    eventually,
    get_pod,
    get_statefulset,
    get_super_password_action,
    juju_status,
    live_pod_ips,
    partition,
    pod_revision,
    read_eventually,
    ready,
    refused,
    reveal_secret,
    run_action,
    server_pid,
    super_password,
    try_action,
    unit_statuses,
    wait_for_idle,
    wait_for_one_leader,
    write,
)

# Znodes of this run, so a rerun against a kept model (--model) starts clean.
ROOT = f"/integration-ops-{uuid.uuid4().hex[:8]}"
LEADER = f"{APP}/leader"  # `juju run` resolves it to the Juju leader unit


async def settled(ops_test: OpsTest, timeout: float = SETTLE_TIMEOUT) -> None:
    await wait_for_idle(ops_test, status="active", timeout=timeout)
    await wait_for_one_leader(ops_test, timeout=timeout)


async def run_on_leader(ops_test: OpsTest, action: str, **params: str) -> dict:
    """The results of an ensemble-wide action, run on the leader once it accepts.

    These actions refuse, changing nothing, while a roll is under way or a unit does not
    serve yet; Juju's idle status can come a little before a roll's last hook. So a
    refusal is retried for a while, and the last one is shown if it never passes.
    """
    last: dict = {}

    async def accepted() -> dict | None:
        last.clear()
        last.update(await try_action(ops_test, LEADER, action, **params))
        return last.get("results") if last.get("status") == "completed" else None

    return await eventually(accepted, lambda: f"{action} accepted (last: {last})", every=15)


async def write_marker(ops_test: OpsTest, name: str) -> tuple[str, bytes, str]:
    """A znode written now as super: (path, value, the super password used)."""
    password = await super_password(ops_test)
    path, value = f"{ROOT}/{name}", f"written before {name}".encode()
    await asyncio.to_thread(write, (await live_pod_ips(ops_test))[0], password, path, value)
    return path, value, password


async def assert_readable_everywhere(path: str, value: bytes, password: str, ips) -> None:
    for ip in ips:
        assert await read_eventually(ip, password, path, timeout=60) == value, ip


@pytest.mark.abort_on_fail
@pytest.mark.skip_if_deployed
async def test_deploy_three_units(ops_test: OpsTest, charm, zookeeper_image):
    await deploy_zookeeper(ops_test, charm, zookeeper_image)


@pytest.mark.abort_on_fail
async def test_the_restart_action_restarts_every_server_and_keeps_the_data(ops_test: OpsTest):
    await settled(ops_test)
    path, value, password = await write_marker(ops_test, "restart")
    units = sorted(unit_statuses(ops_test))
    before = {unit: await server_pid(ops_test, unit) for unit in units}
    assert all(before.values()), f"a server is not running: {before}"

    results = await run_on_leader(ops_test, "restart")
    assert "restarting" in results, results

    # The roll is done when every unit runs a new server process (a new PID).
    now: dict[str, str | None] = {}

    async def every_server_restarted() -> bool:
        now.update({unit: await server_pid(ops_test, unit) for unit in units})
        return all(now[unit] and now[unit] != before[unit] for unit in units)

    await eventually(
        every_server_restarted,
        lambda: f"every server restarted (PIDs before {before}, now {now})",
        timeout=DEPLOY_TIMEOUT,
    )
    await settled(ops_test)
    await assert_readable_everywhere(path, value, password, await live_pod_ips(ops_test))


@pytest.mark.abort_on_fail
async def test_rotate_passwords_retires_the_old_super_password(ops_test: OpsTest):
    await settled(ops_test)
    secret_id = (await get_super_password_action(ops_test))["secret-id"]
    old = await reveal_secret(ops_test, secret_id)
    path, value, _ = await write_marker(ops_test, "rotation")

    results = await run_on_leader(ops_test, "rotate-passwords", users="all")
    assert results["rotating"] == "super, sync", results
    assert results["secret-id"] == secret_id
    assert old["super-password"] not in json.dumps(results)

    # Done when the secret holds new passwords and no longer the ones kept mid-rotation
    # (the previous super password, the next quorum one): every server runs the new ones.
    content: dict[str, str] = {}

    async def rotated() -> bool:
        content.clear()
        content.update(await reveal_secret(ops_test, secret_id))
        return (
            content["super-password"] != old["super-password"]
            and content["sync-password"] != old["sync-password"]
            and "super-password-previous" not in content
            and "sync-password-next" not in content
        )

    await eventually(
        rotated,
        lambda: f"passwords rotated (secret keys now: {sorted(content)})",
        timeout=DEPLOY_TIMEOUT,
        every=15,
    )
    await settled(ops_test)

    new = content["super-password"]
    for ip in await live_pod_ips(ops_test):
        assert await read_eventually(ip, new, path, timeout=60) == value, ip
        assert await asyncio.to_thread(refused, client(ip, old["super-password"]), path), ip


async def test_ensemble_status_lists_every_member(ops_test: OpsTest):
    await settled(ops_test)
    results = await run_action(ops_test, f"{APP}/0", "ensemble-status")

    servers = {key: value for key, value in results.items() if key.startswith("server-")}
    assert sorted(servers) == [f"server-{myid}" for myid in range(1, UNITS + 1)], results
    assert sorted(server["mode"] for server in servers.values()) == sorted(
        ["leader"] + ["follower"] * (UNITS - 1)
    ), results
    for key, server in servers.items():
        ordinal = int(key.removeprefix("server-")) - 1
        assert server["address"] == (
            f"{APP}-{ordinal}.{APP}-endpoints.{ops_test.model_name}.svc.cluster.local"
        ), server
        assert server["role"] == "participant", server
        assert server["lag"].isdigit(), server
        assert server["zxid"].startswith("0x"), server
    assert min(int(server["lag"]) for server in servers.values()) == 0, results
    assert results["config-version"].startswith("0x"), results


@pytest.mark.abort_on_fail
async def test_pre_upgrade_check_says_safe_and_holds_every_pod_but_the_highest(
    ops_test: OpsTest,
):
    await settled(ops_test)
    results = await run_on_leader(ops_test, "pre-upgrade-check")
    assert results["safe"] == "yes", results
    assert results["partition"] == str(UNITS - 1), results
    assert partition(await get_statefulset(ops_test)) == UNITS - 1


async def test_refresh_replaces_every_pod_one_at_a_time(
    ops_test: OpsTest, charm: Path, zookeeper_image: str
):
    path, value, password = await write_marker(ops_test, "refresh")
    old_revision = (await get_statefulset(ops_test))["status"]["updateRevision"]
    old_charm_rev = int((await juju_status(ops_test))["applications"][APP]["charm-rev"])

    await ops_test.juju(
        "refresh",
        APP,
        "--path",
        str(charm),
        "--resource",
        f"{IMAGE_RESOURCE}={zookeeper_image}",
        check=True,
    )

    # Until every pod runs the new revision and the partition is back to 0, checking on
    # the way that pods go highest ordinal first and never two down at once.
    seen: dict = {}

    async def every_pod_replaced() -> bool:
        statefulset = await get_statefulset(ops_test)
        revision = statefulset["status"].get("updateRevision")
        pods = [await get_pod(ops_test, f"{APP}-{ordinal}") for ordinal in range(UNITS)]
        replaced = [
            pod is not None and pod_revision(pod) not in (None, old_revision) for pod in pods
        ]
        down = [ordinal for ordinal, pod in enumerate(pods) if pod is None or not ready(pod)]
        seen.update(
            revision=revision, partition=partition(statefulset), replaced=replaced, down=down
        )
        # Replaced pods are always the highest ordinals.
        assert replaced == sorted(replaced), f"a lower ordinal went first: {seen}"
        assert len(down) <= 1, f"more than one pod down at once: {seen}"
        return (
            revision != old_revision
            and partition(statefulset) == 0
            and not down
            and all(pod_revision(pod) == revision for pod in pods)
        )

    await eventually(
        every_pod_replaced,
        lambda: f"every pod replaced with the new revision (last seen: {seen})",
        timeout=DEPLOY_TIMEOUT,
    )
    await settled(ops_test, timeout=DEPLOY_TIMEOUT)

    assert int((await juju_status(ops_test))["applications"][APP]["charm-rev"]) > old_charm_rev
    await assert_readable_everywhere(path, value, password, await live_pod_ips(ops_test))
