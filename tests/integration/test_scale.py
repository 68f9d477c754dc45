"""Scaling on Juju: 3 → 5 → 3 → 1 → 3, no data lost at any step.

Each step waits until every unit is active with exactly one ZooKeeper leader of the new
size, checks that ZooKeeper's committed config (`/zookeeper/config`) has exactly the new
voters, writes a znode, and reads every znode written so far through every pod's IP.

Runs in its own model (pytest-operator makes one per module), like every module here; see
test_charm.py for what the integration tests need and how to run them.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from pytest_operator.plugin import OpsTest

from tests.integration.helpers import (
    APP,
    DEPLOY_TIMEOUT,
    UNITS,
    deploy_zookeeper,
    kazoo_eventually,
    live_pod_ips,
    read_eventually,
    super_password,
    unit_statuses,
    voters,
    wait_for_idle,
    wait_for_one_leader,
    write,
)

# Znodes of this run, so a rerun against a kept model (--model) starts clean.
ROOT = f"/integration-scale-{uuid.uuid4().hex[:8]}"
# Every znode written so far and its value: each step reads them all back.
WRITTEN: dict[str, bytes] = {}


async def scale_to(ops_test: OpsTest, units: int) -> None:
    await ops_test.model.applications[APP].scale(units)
    # A joiner pulls the image and syncs before it is added; a leaver is removed from the
    # vote before its pod goes.
    await wait_for_idle(ops_test, status="active", timeout=DEPLOY_TIMEOUT, units=units)
    await wait_for_one_leader(ops_test, units=units)


async def check_ensemble(ops_test: OpsTest, units: int, step: str) -> None:
    """ZooKeeper's voters are servers 1..units; a znode written now, and every earlier one,
    reads back through every pod."""
    password = await super_password(ops_test)
    ips = await live_pod_ips(ops_test, units)
    assert len(ips) == units

    for ip in ips:
        # Retried on errors only: a member that has just joined may still be catching up.
        found = await kazoo_eventually(voters, ip, password, timeout=60)
        assert found == list(range(1, units + 1)), (ip, found)

    path, value = f"{ROOT}/at-{step}", f"written with {units} unit(s)".encode()
    await asyncio.to_thread(write, ips[-1], password, path, value)
    WRITTEN[path] = value
    for ip in ips:
        for known, expected in WRITTEN.items():
            assert await read_eventually(ip, password, known, timeout=60) == expected, (ip, known)


@pytest.mark.abort_on_fail
@pytest.mark.skip_if_deployed
async def test_deploy_three_units(ops_test: OpsTest, charm, zookeeper_image):
    await deploy_zookeeper(ops_test, charm, zookeeper_image)


@pytest.mark.abort_on_fail
async def test_three_units_serve_before_scaling(ops_test: OpsTest):
    await wait_for_one_leader(ops_test)
    await check_ensemble(ops_test, UNITS, "3")


@pytest.mark.abort_on_fail
async def test_scale_up_to_five(ops_test: OpsTest):
    await scale_to(ops_test, 5)

    messages = sorted(message for _, message in unit_statuses(ops_test).values())
    assert messages.count("leader, 5 members") == 1, messages
    assert messages.count("follower, 5 members") == 4, messages
    await check_ensemble(ops_test, 5, "5")


@pytest.mark.abort_on_fail
async def test_scale_down_to_three(ops_test: OpsTest):
    await scale_to(ops_test, 3)
    await check_ensemble(ops_test, 3, "5-to-3")


@pytest.mark.abort_on_fail
async def test_scale_down_to_one(ops_test: OpsTest):
    await scale_to(ops_test, 1)

    assert list(unit_statuses(ops_test).values()) == [("active", "leader, 1 member")]
    await check_ensemble(ops_test, 1, "3-to-1")


async def test_scale_back_up_to_three(ops_test: OpsTest):
    await scale_to(ops_test, 3)
    await check_ensemble(ops_test, 3, "1-to-3")
    assert len(WRITTEN) == 5
