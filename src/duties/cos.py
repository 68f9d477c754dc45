"""COS: every unit says where Prometheus scrapes it and forwards its workload's logs to
Loki; the leader publishes the scrape jobs, alert rules and dashboards (cos.py holds the
protocols).

Unlike the other duties it runs over its own inputs (snapshot.observe), not over
ZooKeeper's snapshot: what it publishes does not depend on the ensemble, and it must be
there even while the ensemble cannot be reconciled yet (no peer relation, no credentials),
since only the COS relations' own hooks, a new leader and a new charm come back to it.
"""

from __future__ import annotations

import logging

import cos
from duties import NOTHING, Outcome
from shells import Shells

logger = logging.getLogger(__name__)


def run(inputs: cos.Inputs, io: Shells) -> Outcome:
    if inputs.hook.publish:
        publish(inputs, io)
    if inputs.hook.forward:
        forward_logs(inputs, io)
    return NOTHING


def publish(inputs: cos.Inputs, io: Shells) -> None:
    topology = inputs.topology
    unit_data = cos.scrape_unit_data(inputs.address, topology.unit)
    scrapes = io.relations(cos.METRICS)
    dashboards = io.relations(cos.DASHBOARDS)
    for relation in scrapes:
        io.update_unit_data(relation, unit_data)
    if not inputs.leader:
        return
    # Built once a hook, and only if someone reads it: cosl's import is the costly part.
    if scrapes:
        app_data = cos.scrape_app_data(topology)
        for relation in scrapes:
            io.update_app_data(relation, app_data)
    if dashboards:
        app_data = cos.dashboards_app_data(topology)
        for relation in dashboards:
            io.update_app_data(relation, app_data)


def forward_logs(inputs: cos.Inputs, io: Shells) -> None:
    workload = io.workload
    if not workload.reachable:
        return  # pebble-ready comes back to it
    changes = cos.log_targets(inputs.loki, workload.log_targets(), inputs.topology)
    if changes:
        logger.info(
            "log forwarding: to %s; off: %s",
            sorted(n for n, t in changes.items() if "all" in t["services"]) or "none",
            sorted(n for n, t in changes.items() if "-all" in t["services"]) or "none",
        )
        workload.add_log_targets(changes)
