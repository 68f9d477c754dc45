"""A 5-unit ensemble split 2 against 3, ZooKeeper's leader and Juju's on the side of 2, then
healed. The majority elects a leader and serves on; the two cut off serve nothing, and
their charms (Juju's leader among them, which still hears every unit through Juju) change no
membership, restart nothing and say they wait for a quorum. Clients of the majority lose no
session, no acknowledged write and no update."""

from __future__ import annotations

import time

from tests.chaos.clients import (
    Updater,
    agreeing,
    client_figures,
    flowing,
    holding,
    lost_updates,
    read_counter,
    record,
    statuses_of,
)
from tests.live import network
from tests.live.cluster import Cluster, deadline_poll
from tests.live.writer import Writer, client_app

RELATION = 90
# Past the clients' session timeout: a session the majority did not take over would expire.
HOLD = 12.0


def test_a_leader_on_the_minority_side_of_a_partition_changes_nothing(cluster: Cluster):
    cluster.deploy(5)
    cluster.wait_serving()
    cluster.settle()
    chroot, user = client_app(cluster, "chaos", RELATION)
    healths = cluster.wait_serving()
    (voters,) = {h.voter_ids for h in healths.values()}
    leader = next(o for o, h in healths.items() if h.mode == "leader")
    # Juju's leader runs the membership duty: on the cut-off side it sees every unit's
    # report through Juju but reaches only its own side's servers.
    minority = {leader, cluster.leader}
    if len(minority) == 1:
        minority.add(min(o for o in cluster.units if o != leader))
    majority = set(cluster.units) - minority
    hosts = cluster.hosts(sorted(majority)) + chroot
    pids = {o: u.process.pid for o, u in cluster.units.items()}
    restarts = {o: u.restarts for o, u in cluster.units.items()}
    published = cluster.app_data["members"]  # the membership Juju's leader last recorded
    figures: dict[str, object] = {
        "bench": "chaos",
        "fault": "partition-2-3-leader-on-2",
        "units": 5,
    }
    with (
        Writer(hosts, None, path="/writes", sasl=user) as writer,
        Updater(hosts, user, "/counter", "a") as first,
        Updater(hosts, user, "/counter", "b") as second,
    ):
        flowing(writer, 0, 30, "writes before the fault")
        before = len(writer.acknowledged)
        struck = time.monotonic()
        network.partition(minority, majority)
        try:
            figures["writes_again_s"] = round(
                flowing(writer, before, 60, "writes after the fault", start=struck), 2
            )
            holding(writer, HOLD)
            # ZooKeeper's old leader steps down once it misses a quorum of followers.
            deadline_poll(
                lambda: not any(cluster.units[o].health().serving for o in minority),
                30,
                "the minority to stop serving",
            )
            cluster.settle()
            during = statuses_of(cluster)
            for o in minority:
                status = cluster.units[o].status
                assert status.name == "waiting" and "quorum" in status.message, during
            for o in majority:
                assert cluster.units[o].status.name == "active", during
            assert {o: u.process.pid for o, u in cluster.units.items()} == pids
        finally:
            network.partition(minority, majority, apart=False)
        healed = time.monotonic()
        after = agreeing(cluster, 90)
        figures["all_serving_after_s"] = round(time.monotonic() - healed, 2)
        flowing(writer, len(writer.acknowledged), 30, "writes once healed")
    cluster.settle()
    statuses = {"during": during, "after": statuses_of(cluster)}
    assert {h.voter_ids for h in after.values()} == {voters}
    assert cluster.app_data["members"] == published
    assert {o: u.process.pid for o, u in cluster.units.items()} == pids
    assert {o: u.restarts for o, u in cluster.units.items()} == restarts
    assert all(u.status.name == "active" for u in cluster.units.values()), statuses

    assert writer.missing() == []
    assert writer.expirations == first.expirations == second.expirations == 0
    value, stat = read_counter(hosts, user)
    assert lost_updates([first, second], stat.version, value) == []
    for client in (writer, first, second):
        client.close()
    figures["statuses"] = statuses
    record(figures | client_figures(writer, [first, second]))
