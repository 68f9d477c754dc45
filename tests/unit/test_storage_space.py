"""The data volume. Full: the unit says so (blocked, naming the fix) and is active again
once there is room. Lost: the unit starts again as the same member.

The charm reads the room where Juju mounts the volume in the charm container; os.statvfs,
the one call that asks the kernel, answers for that path as the `data_volume` fixture says
(conftest.py), and one test reads a real filesystem."""

import dataclasses
import os
import re
from dataclasses import replace

import pytest
from ops import testing

import admin
import status
from charm import ZooKeeperCharm
from layout import K8S
from snapshot import Space
from tests.unit.test_charm import (
    context,
    follower_state,
    internal_secret_without_label,
    make_state,
    member_line,
    unit_state,
)

MIB = 2**20


@pytest.mark.parametrize(
    ("free", "total", "full"),
    [
        (100 * MIB, 1024 * MIB, False),
        (16 * MIB, 64 * MIB, False),  # at the floor
        (15 * MIB, 64 * MIB, True),
        (0, 64 * MIB, True),
        (30 * MIB, 10 * 1024 * MIB, True),  # under 2 % of a large volume
        (300 * MIB, 10 * 1024 * MIB, False),
    ],
)
def test_a_volume_is_full_below_the_larger_of_a_floor_and_a_share(free, total, full):
    message = status.storage_full(Space(free=free, total=total))
    assert (message is not None) == full
    if full:
        assert f"{free / MIB:.0f} MiB free of {total / MIB:.0f} MiB" in message


def test_an_unknown_volume_is_not_full():
    assert status.storage_full(None) is None


def test_a_full_volume_blocks_the_unit_and_names_the_fix(disk, data_volume):
    ctx = context()
    data_volume.free, data_volume.total = 2 * MIB, 1024 * MIB
    out = ctx.run(ctx.on.update_status(), make_state(disk))

    assert out.unit_status == testing.BlockedStatus(
        "data storage full: 2 MiB free of 1024 MiB; "
        "free space on the volume or move the unit to a larger one"
    )
    assert unit_state(out) == "serving"  # its server still answers: the leader counts it


def test_a_full_volume_outranks_waiting_for_quorum(disk, data_volume, admin_server):
    # ZooKeeper drops out of the quorum when it cannot write: the volume is what to fix.
    admin_server.health = admin.NOT_RUNNING
    ctx = context()
    data_volume.free = 0
    out = ctx.run(ctx.on.update_status(), make_state(disk))

    assert out.unit_status.name == "blocked"
    assert out.unit_status.message.startswith("data storage full: 0 MiB free")


def test_once_space_is_freed_the_unit_is_active_again(disk, data_volume):
    ctx = context()
    data_volume.free = 0
    full = ctx.run(ctx.on.update_status(), make_state(disk))
    data_volume.free = 500 * MIB
    out = ctx.run(ctx.on.update_status(), full)

    assert full.unit_status.name == "blocked"
    assert out.unit_status == testing.ActiveStatus("leader, 3 members")


def test_a_check_failing_on_a_full_volume_says_so_at_once(disk, data_volume, admin_server):
    """The health check's failure wakes the charm (no waiting for update-status)."""
    ctx = context()
    running = ctx.run(ctx.on.update_status(), make_state(disk))
    data_volume.free, admin_server.health = 0, admin.NOT_RUNNING
    info = testing.CheckInfo(
        "zookeeper-ready",
        level=testing.pebble.CheckLevel.READY,
        status=testing.pebble.CheckStatus.DOWN,
    )
    container = dataclasses.replace(running.get_container("zookeeper"), check_infos={info})
    state = dataclasses.replace(running, containers={container})
    out = ctx.run(ctx.on.pebble_check_failed(container, info=info), state)

    assert running.unit_status.name == "active"
    assert out.unit_status.name == "blocked"


def test_the_room_is_read_from_the_volumes_mount_in_the_charm_container(
    disk, tmp_path, monkeypatch
):
    """A real filesystem (this machine's, under the test's directory) as the charm's mount
    of the volume: its real figures, whatever they are, make the same decision."""
    monkeypatch.setattr(ZooKeeperCharm, "layout", replace(K8S, charm_volume=str(tmp_path)))
    ctx = context()
    out = ctx.run(ctx.on.update_status(), make_state(disk))

    stats = os.statvfs(tmp_path)
    room = Space(free=stats.f_bavail * stats.f_frsize, total=stats.f_blocks * stats.f_frsize)
    full = status.storage_full(room)
    assert (out.unit_status.message == full) if full else out.unit_status.name == "active"


def test_a_volume_not_mounted_says_nothing_of_it(disk, monkeypatch):
    monkeypatch.setattr(ZooKeeperCharm, "layout", replace(K8S, charm_volume="/nowhere"))
    ctx = context()
    out = ctx.run(ctx.on.update_status(), make_state(disk))

    assert out.unit_status == testing.ActiveStatus("leader, 3 members")


# -- a lost volume ------------------------------------------------------------------------


def test_a_voter_back_on_an_empty_volume_starts_from_the_published_ensemble(
    new_disk, admin_server
):
    """unit/3 joined by reconfig (the bootstrap members were 0-2); its pod comes back on a
    new, empty volume. It starts as the same member (myid 4) of the four the leader
    published, as a participant: never alone, nor from the bootstrap three, which would let
    it and one other elect a leader of their own. ZooKeeper then syncs it from the leader."""
    admin_server.health = admin.Health(serving=True, mode="follower", voters=4)
    disk = new_disk()
    ctx = context(3)
    state = follower_state(disk, internal_secret_without_label(), members=range(4))
    out = ctx.run(ctx.on.upgrade_charm(), state)
    out = ctx.run(ctx.on.start(), out)

    assert (disk / "data/myid").read_text() == "4\n"
    assert (disk / "conf/zoo.cfg.dynamic").read_text() == "".join(map(member_line, range(4)))
    zoo_cfg = (disk / "conf/zoo.cfg").read_text()
    assert re.findall(r"^dynamicConfigFile=(.*)$", zoo_cfg, flags=re.M) == [
        f"{K8S.conf_dir}/zoo.cfg.dynamic"
    ]
    assert out.unit_status.message.startswith("follower, 4 members")
