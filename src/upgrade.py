"""Pure upgrade decisions: when the StatefulSet's partition may move, and what first.

A charm upgrade on Kubernetes replaces pods. The StatefulSet's RollingUpdate `partition`
holds them: Kubernetes replaces only pods whose ordinal is at or above it, highest first, and
the partition survives `juju refresh`. `pre-upgrade-check` sets it to the highest ordinal, so
the refresh replaces one pod; from then on the leader lowers it one ordinal at a time, each
time the pods already replaced serve and ZooKeeper says the quorum is in sync. The ZooKeeper
leader goes last: a partition step can only expose the next lower ordinal, so when that pod
leads ZooKeeper (and others are still to go), leadership is moved away first; so too when
the pod pre-upgrade-check exposes leads (after a plain election, the highest id often does).

Moving leadership is a reconfig that drops the leader from the voters and adds it straight
back. ZooKeeper hands over to a "designated leader" among the voters that acked the change
(in practice the lowest id), so the leader usually lands on ordinal 0, the last pod to go:
one extra election per upgrade. Whoever ZooKeeper picks, the next call looks again.
"""

from __future__ import annotations

from collections.abc import Iterable

from ensemble import myid
from records import Record, frozen


@frozen
class Unit(Record):
    """One unit as the upgrade sees it."""

    ordinal: int
    upgraded: bool  # its pod runs the StatefulSet's update revision
    serving: bool
    zk_leader: bool = False


@frozen
class Step(Record):
    """What to do now; at most one field is set. All unset: nothing to do (no upgrade)."""

    partition: int | None = None  # set the StatefulSet's partition to this
    bounce_leader: int | None = None  # move ZooKeeper leadership off this server id first
    wait: str | None = None  # why nothing may move now
    # Partition 0, every pod on the new revision, every unit serving, the quorum in sync:
    # the charm clears its upgrade state.
    done: bool = False


def pre_upgrade_partition(planned_units: int) -> int:
    """The partition pre-upgrade-check sets: `juju refresh` then replaces the highest pod only.

    The action then asks next_step (refreshed=False): that pod may lead ZooKeeper, and must
    hand over before the refresh replaces it.
    """
    return max(planned_units - 1, 0)


def check(
    units: Iterable[Unit], quorum_synced: bool, roll_pending: bool, *, planned_units: int
) -> list[str]:
    """Why an upgrade may not start now (empty: it may).

    Starting means replacing a pod soon, so everything must be healthy first: a replaced pod
    on top of a member already down (or restarting for a roll) can cost the quorum.
    """
    return [*_unhealthy(_by_ordinal(units), planned_units, quorum_synced)] + (
        ["a rolling restart is under way: wait for it to finish"] if roll_pending else []
    )


def next_step(
    units: Iterable[Unit],
    partition: int | None,
    quorum_synced: bool,
    *,
    planned_units: int,
    refreshed: bool,
) -> Step:
    """The leader's next move in an upgrade (pre-upgrade-check runs it too, right after
    setting the partition: the pod it exposes may lead ZooKeeper).

    partition: the StatefulSet's partition while an upgrade is under way, None otherwise.
    planned_units: the application's scale (pods are ordinals 0..planned_units-1).
    refreshed: `juju refresh` has run since pre-upgrade-check (the StatefulSet's update
    revision is no longer the one pre-upgrade-check saw). Before that every pod runs the
    update revision, which would look like a finished upgrade: lowering the partition then
    would leave the refresh itself unguarded.

    The partition only ever moves down by one ordinal (past pods that do not exist, at most
    to the highest ordinal), and only when every pod at or above it runs the new revision,
    every unit serves, and ZooKeeper reports the quorum in sync. No pod is exposed to
    replacement while it leads ZooKeeper, unless it is the last one to go: leadership is
    moved off it first. A unit missing from `units` holds everything: its state is unknown.
    """
    if partition is None or planned_units < 1:
        return Step()
    view = _by_ordinal(units)
    missing = [o for o in range(planned_units) if o not in view]
    if missing:
        return Step(wait=_missing(missing[0]))
    exposed = min(partition, planned_units)  # Kubernetes replaces ordinals >= exposed
    to_go = [o for o in range(planned_units) if not refreshed or not view[o].upgraded]
    unhealthy = list(_unhealthy(view, planned_units, quorum_synced))
    exposed_leaders = [o for o in to_go if o >= exposed and view[o].zk_leader]
    if exposed_leaders and len(to_go) > 1:
        # An exposed pod leads and others are still to go: before the refresh (the pod
        # pre-upgrade-check exposes led), or after a leadership change.
        if unhealthy:
            return Step(wait=f"upgrade paused: {unhealthy[0]}")
        return Step(bounce_leader=myid(exposed_leaders[-1]))
    if not refreshed:
        return Step(wait="pre-upgrade-check passed: waiting for `juju refresh`")
    stale = [o for o in reversed(to_go) if o >= exposed]
    if stale:
        return Step(wait=f"waiting for unit {stale[0]} to be replaced with the new revision")
    if unhealthy:
        return Step(wait=f"upgrade paused: {unhealthy[0]}")
    if exposed == 0:
        return Step(done=True)
    target = exposed - 1
    if target not in to_go or to_go == [target]:
        # Lowering past it replaces nothing, or it is the last pod to go (leader or not).
        return Step(partition=target)
    leaders = sorted(o for o in range(planned_units) if view[o].zk_leader)
    if len(leaders) != 1:
        found = ", ".join(map(str, leaders)) or "none"
        return Step(wait=f"upgrade paused: units leading ZooKeeper: {found}; need exactly one")
    if leaders[0] == target:
        return Step(bounce_leader=myid(target))
    return Step(partition=target)


def _by_ordinal(units: Iterable[Unit]) -> dict[int, Unit]:
    return {u.ordinal: u for u in units}


def _missing(ordinal: int) -> str:
    return f"unit {ordinal} has not reported its state yet: wait for it to settle"


def _unhealthy(view: dict[int, Unit], planned_units: int, quorum_synced: bool) -> Iterable[str]:
    for ordinal in range(planned_units):
        unit = view.get(ordinal)
        if unit is None:
            yield _missing(ordinal)
        elif not unit.serving:
            yield f"unit {ordinal} is not serving"
    if not quorum_synced:
        yield "ZooKeeper reports followers out of sync"
