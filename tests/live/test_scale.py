"""juju scale-application up and down, in the hook orders Juju really produces.

Each flow runs under several seeds (the stand-in's choice of order wherever Juju fixes
none), with a client writing throughout: no acknowledged write is lost, no session expires,
no member that stays is restarted, and the ensemble ends with the planned voters.
"""

import pytest
from ops import testing

from ensemble import EnsembleConfig, Role
from tests.live.cluster import Cluster, deadline_poll, pod_name
from tests.live.juju import join_hooks
from tests.live.writer import Writer, client_app
from tests.live.zk import session

SEEDS = (11, 22, 33)
# The writers log in as a related client app by its digest identity (the provider grants
# its SASL and its digest identity alike). A kazoo SASL client ends its session itself
# (AUTH_FAILED, or SessionClosedRequireSasl taken as fatal) when a server drops or refuses
# the SASL exchange, as servers do while they elect a leader: kazoo's doing, not a session
# ZooKeeper expired, and it would hide what these tests count. login_refusals() prints
# what the servers refused, should a writer's session end anyway.


def login_refusals(cluster: Cluster) -> list[str]:
    """The servers' own words for each SASL login they refused (a kazoo SASL client's
    session ends on one), so a failure says which server refused and why."""
    lines = []
    for log in sorted(cluster.workdir.glob("unit-*.log")):
        text = log.read_text(errors="replace").splitlines()
        lines += [f"{log.name}: {line}" for line in text if "SASL authenticate" in line]
    return lines[-10:]


def config_seen_by(cluster: Cluster, ordinal: int) -> EnsembleConfig:
    """The committed config as one member itself serves it (after a sync)."""
    unit = cluster.units[ordinal]
    with session(f"{unit.address}:2181", sasl=("super", cluster.super_password())) as client:
        client.sync("/zookeeper/config")
        return EnsembleConfig.parse(client.get("/zookeeper/config")[0].decode())


def assert_ensemble_is_the_units(cluster: Cluster) -> None:
    expected = {o + 1 for o in cluster.units}
    for ordinal in cluster.units:
        seen = config_seen_by(cluster, ordinal)
        assert seen.ids == expected, f"unit {ordinal} sees {sorted(seen.ids)}"
        assert all(s.role is Role.PARTICIPANT for s in seen.servers)
    published = EnsembleConfig.parse("\n".join(eval_list(cluster.app_data["members"])))
    assert published.ids == expected


def eval_list(raw: str) -> list[str]:
    import json

    return json.loads(raw)


def pids(cluster: Cluster) -> dict[int, int]:
    return {o: u.process.pid for o, u in cluster.units.items() if u.alive}


def every_address(size: int) -> str:
    # The client follows the ensemble as a user's app would: it knows every name used.
    return ",".join(f"{pod_name(o)}:2181" for o in range(size))


def scale_and_check(cluster: Cluster, writer: Writer, size: int) -> None:
    before = pids(cluster)
    cluster.scale(size)
    assert sorted(cluster.units) == list(range(size))
    cluster.wait_serving()
    cluster.settle()
    assert_ensemble_is_the_units(cluster)
    # Members that stayed were never restarted.
    assert {o: p for o, p in pids(cluster).items() if o in before} == {
        o: p for o, p in before.items() if o in cluster.units
    }
    members = f"{size} member" + ("s" if size != 1 else "")
    for unit in cluster.units.values():
        assert unit.status.message.startswith(("leader", "follower")), unit.status
        assert members in unit.status.message
    # What `juju status` shows for the app, as the leaders set it (only when it changed).
    assert cluster.app_status == testing.ActiveStatus(f"{size} voting members, 1 client app")
    assert writer.expirations == 0, login_refusals(cluster)


def zookeeper_leader(cluster: Cluster) -> int:
    healths = cluster.wait_serving()
    return next(o for o, h in healths.items() if h.mode == "leader")


def move_zookeeper_leadership_to(cluster: Cluster, target: int) -> None:
    """Stop the ZooKeeper leader's server until `target` leads (Pebble then restarts it).

    With members equally up to date, ZooKeeper's election picks the highest id, so a target
    with the highest ordinal wins once the others step aside.
    """
    for _ in range(len(cluster.units)):
        leader = zookeeper_leader(cluster)
        if leader == target:
            return
        cluster.stop_process(cluster.units[leader])
        others = [o for o in cluster.units if o != leader]
        deadline_poll(
            lambda others=others: any(cluster.units[o].health().mode == "leader" for o in others),
            30,
            "another ZooKeeper leader",
        )
        cluster.start_process(cluster.units[leader])
    assert zookeeper_leader(cluster) == target, f"unit {target} never led"


FLOWS = {
    "3-1": (3, (1,), None, None),
    "5-1": (5, (1,), None, None),
    "5-3": (5, (3,), None, None),
    "3-5": (3, (5,), None, None),
    # The ZooKeeper leader's server is among those that go.
    "3-1-zk-leader-leaves": (3, (1,), 2, None),
    # Juju's leader is a unit that goes: another is elected while the scale-down runs.
    "5-3-juju-leader-leaves": (5, (3,), None, 4),
}


@pytest.mark.parametrize("cluster", SEEDS, indirect=True, ids=lambda s: f"seed{s}")
@pytest.mark.parametrize("flow", FLOWS, ids=str)
def test_scaling_keeps_every_acknowledged_write_in_any_legal_hook_order(cluster, flow):
    start, sizes, zk_leader, juju_leader = FLOWS[flow]
    cluster.deploy(start)
    cluster.wait_serving()
    if zk_leader is not None:
        move_zookeeper_leadership_to(cluster, zk_leader)
    if juju_leader is not None:
        cluster.elect(juju_leader)
    chroot, user = client_app(cluster)
    with Writer(every_address(max(start, *sizes)) + chroot, None, digest=user) as writer:
        for size in sizes:
            scale_and_check(cluster, writer, size)
            assert writer.acknowledged, "the client could not write"
    assert writer.missing() == []
    assert writer.expirations == 0, login_refusals(cluster)
    writer.close()


def test_a_round_trip_through_every_size_on_one_ensemble(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    chroot, user = client_app(cluster)
    with Writer(every_address(5) + chroot, None, digest=user) as writer:
        for size in (5, 3, 1, 3, 4, 3):
            scale_and_check(cluster, writer, size)
    assert writer.missing() == []
    writer.close()


def test_even_membership_says_what_it_tolerates(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.scale(4)
    cluster.wait_serving()
    cluster.settle()
    leader = next(u for u in cluster.units.values() if u.status.message.startswith("leader"))
    assert leader.status.message == "leader, 4 members (even: tolerates 1 failure(s), like 3)"


def test_killing_the_zookeeper_leader_mid_scale_converges(cluster):
    cluster.deploy(3)
    killed = cluster.units[zookeeper_leader(cluster)]

    # Joiners start and sync; the ZooKeeper leader dies before the charm adds them.
    cluster.planned = 5
    for ordinal in (3, 4):
        cluster.add_unit(ordinal)
        cluster.run(ordinal, "install")
        cluster.run(ordinal, "config_changed")
        cluster.run(ordinal, "start")
        cluster.run(ordinal, "pebble_ready")
    cluster.stop_process(killed, sig=9)
    for ordinal in (3, 4):
        for other in cluster.units:
            if other != ordinal:
                cluster.juju.add([*join_hooks(other, ordinal), *join_hooks(ordinal, other)])
    cluster.drain()

    # Pebble brings the server back; the next hooks converge.
    cluster.start_process(killed)
    cluster.wait_serving(timeout=90)
    cluster.settle()
    cluster.settle()
    cluster.planned = None
    assert_ensemble_is_the_units(cluster)
    assert (
        sorted(u.status.message.split(", ")[1] for u in cluster.units.values())
        == ["5 members"] * 5
    )


@pytest.mark.parametrize("cluster", SEEDS[:2], indirect=True, ids=lambda s: f"seed{s}")
def test_scaling_down_while_a_leaving_member_is_down_keeps_a_quorum(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    chroot, user = client_app(cluster)  # told its user while every server accepts it
    cluster.stop_process(cluster.units[1])  # a member that is about to go is down already
    with Writer(every_address(3) + chroot, None, digest=user) as writer:
        cluster.scale(1)
        cluster.wait_serving()
        cluster.settle()
        assert_ensemble_is_the_units(cluster)
        assert cluster.units[0].status.message.startswith("leader, 1 member")
    assert writer.acknowledged
    assert writer.missing() == []
    assert writer.expirations == 0
    writer.close()
