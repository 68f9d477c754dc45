"""The metric names the alert rules and the dashboard read are ones a live ZooKeeper reports.

docs/metrics.md maps each Prometheus name to the admin server's `monitor` keys; Debian's
3.9.3 build (no Prometheus provider) reports them under the default provider's names.
"""

import re

from tests import metrics_mapping
from tests.live.cluster import deadline_poll
from tests.live.writer import client_app

SID = "<sid>"
# The per-namespace quota gauges are there for each client chroot: the test relates one.
NAMESPACE, CLIENT = "<namespace>", "kafka"


def monitor(unit) -> dict:
    return unit.admin_command("monitor")


def sids_with(key: str, reported: dict) -> set[int]:
    pattern = re.compile(re.escape(key).replace(re.escape(SID), r"(\d+)") + "$")
    return {int(m.group(1)) for k in reported if (m := pattern.match(k))}


def missing(rows, leader: dict, follower: dict, followers: int) -> list[str]:
    gaps = []
    for row in rows:
        places = {"every member": [("leader", leader), ("follower", follower)]}.get(
            row.reported_by, [("leader", leader)]
        )
        for key in (k.replace(NAMESPACE, CLIENT) for k in row.monitor):
            for role, reported in places:
                if SID in key:
                    # One per learner the leader sends to.
                    if len(sids_with(key, reported)) != followers:
                        gaps.append(f"{key} for each of {followers} learners on the {role}")
                elif key not in reported:
                    gaps.append(f"{key} on the {role}")
    return gaps


def by_state(cluster) -> dict[str, tuple]:
    """(unit, its `monitor`) of one leader and one follower, as far as there are any."""
    found = {}
    for unit in cluster.units.values():
        reported = monitor(unit)
        found.setdefault(reported.get("server_state"), (unit, reported))
    return found


def test_monitor_reports_every_name_the_mapping_says_it_does(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.settle()
    client_app(cluster, CLIENT)  # its chroot /kafka gets the charm's quota
    rows = [row for row in metrics_mapping.rows() if row.reported_by != "not in monitor"]
    assert {row.reported_by for row in rows} == {"every member", "leader"}
    last = {}

    def complete():
        last.update(by_state(cluster))
        if "leader" not in last or "follower" not in last:
            return False
        # The per-learner summaries appear with the first packet sent to each learner.
        return not missing(rows, last["leader"][1], last["follower"][1], followers=2)

    try:
        deadline_poll(complete, 30, "every mapped name in `monitor`")
    except TimeoutError:
        gaps = missing(rows, last["leader"][1], last["follower"][1], followers=2)
        raise AssertionError(f"`monitor` lacks: {gaps}") from None
    (leader_unit, leader), (_, follower) = last["leader"], last["follower"]

    # "leader" in the mapping means what it says: a follower reports none of those keys.
    leader_only = [k for row in rows if row.reported_by == "leader" for k in row.monitor]
    on_follower = [
        k for k in leader_only if (sids_with(k, follower) if SID in k else k in follower)
    ]
    assert on_follower == []
    # The per-learner keys are the other two voters' server ids.
    voters = leader_unit.health().voter_ids
    assert leader["quorum_size"] == len(voters) == 3
    learners = sids_with("cnt_<sid>_learner_handler_qp_size", leader)
    assert len(learners) == 2 and learners < voters
