"""juju scale-application up and down: ZooKeeper's voters follow, nothing is lost."""

import pytest

from ensemble import EnsembleConfig, Role
from tests.live.cluster import Cluster
from tests.live.writer import Writer
from tests.live.zk import session


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


def scale_and_check(cluster: Cluster, writer: Writer, size: int) -> None:
    before = pids(cluster)
    cluster.scale(size)
    cluster.wait_serving()
    cluster.settle()
    assert_ensemble_is_the_units(cluster)
    # Members that stayed were never restarted.
    assert {o: p for o, p in pids(cluster).items() if o in before} == {
        o: p for o, p in before.items() if o in cluster.units
    }
    members = f"{size} member" + ("s" if size != 1 else "")
    assert all(u.status.message.startswith(("leader", "follower")) for u in cluster.units.values())
    assert all(members in u.status.message for u in cluster.units.values())
    assert writer.expirations == 0


@pytest.mark.parametrize("sizes", [(5, 3, 1, 3), (4, 3)], ids=["3-5-3-1-3", "3-4-3"])
def test_scaling_changes_the_voters_and_loses_no_acknowledged_write(cluster, sizes):
    cluster.deploy(3)
    cluster.wait_serving()
    # The client follows the ensemble as a user's app would: it knows every address used.
    hosts = ",".join(f"127.0.0.{n}:2181" for n in range(1, max(sizes) + 1))
    with Writer(hosts, cluster.super_password()) as writer:
        for size in sizes:
            scale_and_check(cluster, writer, size)
            assert writer.acknowledged, "the client could not write"
    assert writer.missing() == []
    assert writer.expirations == 0
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
    healths = cluster.wait_serving()
    zk_leader = next(o for o, h in healths.items() if h.mode == "leader")

    # Joiners start and sync; then the ZooKeeper leader dies before the charm adds them.
    for ordinal in (3, 4):
        cluster.add_unit(ordinal)
    cluster.planned = 5
    for ordinal in (3, 4):
        for event in ("install", "config_changed", "start", "pebble_ready"):
            cluster.run(ordinal, event)
    killed = cluster.units[zk_leader]
    cluster.stop_process(killed, sig=9)
    for ordinal in (3, 4):
        cluster.run(cluster.leader, "relation_changed", remote_unit=ordinal)

    # Pebble brings the server back; the next hooks converge.
    cluster.start_process(killed)
    cluster.wait_serving(timeout=90)
    cluster.settle()
    cluster.settle()
    assert_ensemble_is_the_units(cluster)
    assert (
        sorted(u.status.message.split(", ")[1] for u in cluster.units.values())
        == ["5 members"] * 5
    )
