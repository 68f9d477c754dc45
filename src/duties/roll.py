"""The leader's duty in a rolling restart: grant the next restart, one unit at a time, the
ZooKeeper leader last (rolling.py decides; this asks ZooKeeper who leads)."""

from __future__ import annotations

import logging

import rolling
from duties import NOTHING, Outcome
from shells import Shells
from snapshot import Snapshot
from state import MemberState

logger = logging.getLogger(__name__)


def run(snap: Snapshot, io: Shells) -> Outcome:
    views = snap.views
    # Who leads now, asked of ZooKeeper while a roll is under way: peer data can be a hook
    # behind (a leader change, or a report this hook's view does not have yet).
    rolling_now = any(data.pending_config for data in views.values())
    leaders = io.leading_now(views, snap.published) if rolling_now else frozenset()
    members = {
        ordinal: rolling.Member(
            pending=data.pending_config is not None,
            serving=data.state is MemberState.SERVING,
            zk_leader=ordinal in leaders if leaders else data.mode == "leader",
            failed=data.failed_config is not None,
            running=data.running_config,
            target=data.pending_config,
        )
        for ordinal, data in views.items()
    }
    grant = snap.cluster.restart_grant
    decision = rolling.next_restart(members, grant)
    if snap.cluster.upgrade_partition is not None and decision.grant not in (None, grant):
        decision = rolling.Decision(held="rolling restart waits for the upgrade")
    if decision.grant == grant:
        return Outcome(held=decision.held) if decision.held else NOTHING
    logger.info("rolling restart: unit %s next (ZooKeeper leader %s)", decision.grant, leaders)
    return Outcome(
        cluster=snap.cluster.model_copy(update={"restart_grant": decision.grant}),
        held=decision.held,
    )
