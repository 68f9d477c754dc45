"""Faults on a 3-unit ensemble of pod-like units under clients that record what ZooKeeper
acknowledged: a server killed, a pod replaced, a server frozen past the session timeout, a
unit cut off the network. Each case: nothing acknowledged is lost, no lost update, no session
of the majority side expires, the charm changes no membership and restarts nothing it need
not, and the recovery times are printed (and appended to .cache/chaos.jsonl) as JSON lines.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

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
from tests.live.cluster import Cluster
from tests.live.writer import Writer, client_app

RELATION = 90
# Longer than the clients' session timeout (10 s): a frozen or cut-off member's sessions
# would expire if nothing took them over.
HOLD = 12.0

FAULTS = [
    "kill-leader-server",
    "kill-follower-server",
    "replace-leader-pod",
    "freeze-leader",
    "freeze-follower",
    "cut-off-leader",
    "cut-off-follower",
]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_loses_nothing_acknowledged_and_the_ensemble_recovers(cluster: Cluster, fault):
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.settle()
    chroot, user = client_app(cluster, "chaos", RELATION)
    healths = cluster.wait_serving()
    voters = {h.voter_ids for h in healths.values()}
    assert len(voters) == 1
    leader = next(o for o, h in healths.items() if h.mode == "leader")
    victim = leader if "leader" in fault else min(o for o in healths if o != leader)
    unit = cluster.units[victim]
    # The clients use the members that stay up: their sessions must never expire.
    majority = ",".join(
        f"{cluster.units[o].address}:2181" for o in sorted(cluster.units) if o != victim
    )
    hosts = majority + chroot
    others = {o: u.process.pid for o, u in cluster.units.items() if o != victim}
    figures: dict[str, object] = {"bench": "chaos", "fault": fault, "units": 3}
    with (
        Writer(hosts, None, path="/writes", sasl=user) as writer,
        Updater(hosts, user, "/counter", "a") as first,
        Updater(hosts, user, "/counter", "b") as second,
    ):
        flowing(writer, 0, 30, "writes before the fault")
        before = len(writer.acknowledged)
        pid = unit.process.pid
        struck = time.monotonic()
        if fault.startswith("kill"):
            cluster.kill_process(unit)
        elif fault.startswith("replace"):
            cluster.restart_pod(victim)
        elif fault.startswith("freeze"):
            os.kill(pid, signal.SIGSTOP)
        else:
            network.cut(victim)
        again = flowing(writer, before, 60, "writes after the fault", start=struck)
        figures["writes_again_s"] = round(again, 2)
        # As each unit's last hook left it (a cut-off unit's is taken again below).
        statuses = {"during": statuses_of(cluster)}
        if fault.startswith(("freeze", "cut")):
            holding(writer, HOLD)
            if fault.startswith("cut"):
                # Every unit's charm runs a hook; the one cut off cannot reach a quorum.
                cluster.settle()
                statuses = {"during": statuses_of(cluster)}
                assert unit.status.name == "waiting", statuses
                assert "quorum" in unit.status.message, statuses
            if fault.startswith("freeze"):
                os.kill(pid, signal.SIGCONT)
            else:
                network.cut(victim, False)
        healed = time.monotonic()
        after = agreeing(cluster, 90)
        figures["all_serving_after_s"] = round(time.monotonic() - healed, 2)
        flowing(writer, len(writer.acknowledged), 30, "writes once healed")
    cluster.settle()
    statuses["after"] = statuses_of(cluster)
    # The charm changed no membership and restarted no server of the majority.
    assert {h.voter_ids for h in after.values()} == voters
    assert {o: cluster.units[o].process.pid for o in others} == others
    if fault.startswith(("freeze", "cut")):
        assert unit.process.pid == pid  # nothing restarted it either
    assert all(u.status.name == "active" for u in cluster.units.values()), statuses

    assert writer.missing() == []
    assert writer.expirations == first.expirations == second.expirations == 0
    value, stat = read_counter(hosts, user)
    assert lost_updates([first, second], stat.version, value) == []
    for client in (writer, first, second):
        client.close()
    figures["statuses"] = statuses
    record(figures | client_figures(writer, [first, second]))
