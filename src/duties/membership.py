"""Who votes: the leader steps ZooKeeper's membership towards the units Juju plans, and a
unit being scaled away takes itself out of the vote before its pod goes."""

from __future__ import annotations

import logging
from collections.abc import Callable

import admin
import tlsplan
from duties import NOTHING, Outcome
from ensemble import EnsembleConfig, Server, client_rebinds, ordinal_of_id, plan_membership
from shells import Shells
from snapshot import Snapshot
from state import MemberState

logger = logging.getLogger(__name__)

# Enough reconfig steps for any scale change of a 7-member ensemble in one hook.
MAX_RECONFIG_STEPS = 8


def leavers(voter_ids, planned: int) -> set[int]:
    """The voters whose pods a scale to `planned` removes (ordinals planned and up)."""
    return {i for i in voter_ids if ordinal_of_id(i) >= planned}


def run(snap: Snapshot, io: Shells) -> Outcome:
    """The leader's step of ZooKeeper's membership, in the hook's one admin session."""
    planned = snap.planned
    reported = _reported_serving(snap, io)
    loopback = tlsplan.plaintext_on_loopback(snap.cluster.tls)
    joiners = {o: snap.unit.server(o, loopback=loopback) for o in reported}
    published = snap.published or EnsembleConfig(())
    layout = snap.unit.layout

    def client_host(address: str) -> str:
        return layout.client_host(address, loopback)

    expected = plan_membership(published, planned, reported, joiners)
    if not expected.step and not expected.held and not client_rebinds(published, client_host):
        return NOTHING  # what the leader last saw is what Juju plans: no session needed
    try:
        committed, held = step(io.zookeeper(snap), io, planned, joiners, client_host)
    except admin.AdminError as exc:
        logger.warning("membership change deferred to the next hook: %s", exc)
        return Outcome(
            held="cannot reach ZooKeeper to change membership; retrying on the next hook"
        )
    return Outcome(
        cluster=snap.cluster.model_copy(update={"members": committed.lines()}), held=held
    )


def step(
    zk: admin.Admin,
    io: Shells,
    planned: int,
    joiners: dict[int, Server],
    client_host: Callable[[str], str] | None = None,
) -> tuple[EnsembleConfig, str | None]:
    """Reconfig step by step towards `planned` voters; the committed config and why it
    stopped short, if it did. `client_host`: where a member at an address should take
    plaintext clients (loopback while TLS is on, tlsplan.py), moved by one more reconfig
    once membership is done; None: left as it is."""
    committed = zk.committed_config()
    held = None
    for _ in range(MAX_RECONFIG_STEPS):
        candidates = {ordinal_of_id(i) for i in committed.ids} | set(joiners)
        plan = plan_membership(committed, planned, io.serving_now(candidates, committed), joiners)
        held = plan.held
        if not plan.step:
            break
        logger.info("reconfig: adding %s, removing %s", plan.step.joining, plan.step.leaving)
        committed = zk.reconfig([s.line for s in plan.step.joining], list(plan.step.leaving))
    moved = client_rebinds(committed, client_host) if client_host and not held else ()
    if moved:
        logger.info("reconfig: plaintext clients on %s", [s.client_host for s in moved])
        committed = zk.reconfig([s.line for s in moved], [])
    return committed, held


def _reported_serving(snap: Snapshot, io: Shells) -> frozenset[int]:
    """Ordinals whose unit last said its server serves: cheap, but only a hint."""
    serving = {o for o, data in snap.others.items() if data.state is MemberState.SERVING}
    if io.health.serving:
        serving.add(snap.unit.ordinal)
    return frozenset(serving)


def leave(io: Shells, planned: int, passwords: list[str] | None) -> tuple[str | None, list[str]]:
    """Remove every leaving voter; why not, if that is not safe or possible now, and the
    committed members (empty if unknown).

    Needs neither the peer relation nor the leader: the passwords come from the internal
    secret by its label and the membership is ZooKeeper's own.
    """
    health = io.health
    if health.serving and not leavers(health.voter_ids, planned):
        return None, []  # this server's committed config already counts no leaver
    if passwords is None:
        return "cannot read the internal secret", []
    survivors = tuple(io.unit.address_of(o) for o in range(planned))
    try:
        with admin.session(passwords, io.unit.local_host, fallbacks=survivors) as zk:
            committed, held = step(zk, io, planned, {})
    except admin.AdminError as exc:
        return f"ZooKeeper unreachable: {exc}", []
    if leavers({s.id for s in committed.voters}, planned):
        return held or "leaving members still vote", committed.lines()
    return None, committed.lines()
