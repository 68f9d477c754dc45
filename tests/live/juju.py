"""The hook orders of the Juju stand-in (see JUJU.md): what Juju fixes, and a seeded choice
wherever it fixes nothing.

Pure: lists of hooks and a scheduler that picks the next one from a seed. The cluster runs
what it picks. A seed reproduces a run exactly (`ZK_LIVE_SEED=<n>`), up to the timing of the
real servers underneath.
"""

from __future__ import annotations

import dataclasses
import os
import random
from collections import deque
from collections.abc import Iterable

PEER_RELATION_ID = 1


@dataclasses.dataclass(frozen=True)
class Hook:
    unit: int
    event: str
    remote: int | None = None  # JUJU_REMOTE_UNIT
    departing: int | None = None  # JUJU_DEPARTING_UNIT
    relation_id: int = PEER_RELATION_ID
    # Pebble's events: the notice key (JUJU_NOTICE_KEY) or the check's name.
    workload: str | None = None

    def __str__(self) -> str:
        extra = "" if self.remote is None else f"({self.remote})"
        if self.workload is not None:
            extra = f"({self.workload})"
        return f"{self.unit}:{self.event}{extra}"


# A unit's setup (and a recreated pod's) runs in this order, and Pebble's own events can
# only follow it: the workload runs nothing before a hook started it.
SETUP = frozenset(
    {
        "install",
        "relation_created",
        "leader_elected",
        "config_changed",
        "start",
        "storage_attached",
        "upgrade_charm",
    }
)


def seed_from_env() -> int:
    raw = os.environ.get("ZK_LIVE_SEED")
    return int(raw) if raw else random.SystemRandom().randrange(1 << 30)


def _merge(rng: random.Random, *sequences: Iterable[Hook]) -> list[Hook]:
    """A random interleaving that keeps the order inside each sequence."""
    queues = [deque(s) for s in sequences if s]
    merged = []
    while queues:
        weights = [len(q) for q in queues]
        queue = rng.choices(queues, weights)[0]
        merged.append(queue.popleft())
        if not queue:
            queues.remove(queue)
    return merged


def deploy_hooks(unit: int, leader: bool, rng: random.Random) -> list[Hook]:
    """A new unit's first hooks (JUJU.md sections 1-2): its setup sequence in Juju's fixed
    order, storage-attached after start (Kubernetes), and pebble-ready whenever Pebble comes
    up after install, not tied to that sequence."""
    setup = [
        Hook(unit, "install"),
        Hook(unit, "relation_created"),
        *([Hook(unit, "leader_elected")] if leader else []),
        Hook(unit, "config_changed"),
        Hook(unit, "start"),
        Hook(unit, "storage_attached"),
    ]
    at = rng.randint(1, len(setup))
    return [*setup[:at], Hook(unit, "pebble_ready"), *setup[at:]]


def restart_hooks(unit: int, rng: random.Random) -> list[Hook]:
    """A pod deleted and recreated with its storage (JUJU.md section 6): the new pod's charm
    runs upgrade-charm, config-changed and start; pebble-ready comes when Pebble is up."""
    setup = [Hook(unit, "upgrade_charm"), Hook(unit, "config_changed"), Hook(unit, "start")]
    at = rng.randint(0, len(setup))
    return [*setup[:at], Hook(unit, "pebble_ready"), *setup[at:]]


def join_hooks(unit: int, remote: int) -> list[Hook]:
    return [Hook(unit, "relation_joined", remote), Hook(unit, "relation_changed", remote)]


def teardown_hooks(unit: int, remotes: Iterable[int], rng: random.Random) -> list[Hook]:
    """A dying unit's hooks (Juju >= 3.1, sidecar; JUJU.md section 3): the peer relation's
    departed hooks, one per remote unit (departing = itself), in any order; storage-detaching
    anywhere among them; stop after every relation hook; remove last. A peer relation gets
    no relation-broken on a dying unit (its view just empties)."""
    remotes = list(remotes)
    rng.shuffle(remotes)
    relation = [Hook(unit, "relation_departed", r, departing=unit) for r in remotes]
    detach = [Hook(unit, "storage_detaching")]
    merged = [*_merge(rng, relation, detach), Hook(unit, "stop")]
    if rng.random() < 0.5:  # or after stop: charms saw both (JUJU.md)
        merged = [*relation, Hook(unit, "stop"), *detach]
    return [*merged, Hook(unit, "remove")]


class Scheduler:
    """Per-unit hook queues, run one hook at a time per unit, units in a seeded order.

    `overlap` is the chance that a hook starts (takes its snapshot of relation data) while
    another unit's hook is still under way: its effects then reach the other unit only in
    that unit's next hook, as on Juju.
    """

    def __init__(self, seed: int, overlap: float = 0.3):
        self.seed = seed
        self.rng = random.Random(seed)
        self.overlap = overlap
        self.queues: dict[int, deque[Hook]] = {}
        self.log: list[str] = []
        self.dying_units: set[int] = set()
        self.lost: set[int] = set()  # units whose agent is gone with their node: no hooks

    def add(self, hooks: Iterable[Hook]) -> None:
        for hook in hooks:
            queue = self.queues.setdefault(hook.unit, deque())
            if hook.event == "relation_changed" and hook in queue:
                continue  # Juju coalesces a change not yet delivered
            queue.append(hook)

    def add_workload(self, hook: Hook) -> None:
        """A hook from the unit's Pebble (a custom notice, a check failing or recovering).

        Juju promises no order between these and the unit's other pending hooks (JUJU.md
        section 9): it goes anywhere in the unit's queue after its setup hooks, never ahead
        of the hook at the head (under way, or failed and waiting for its retry). A dying
        unit runs teardown hooks only (JUJU.md section 3).
        """
        if hook.unit in self.dying_units:
            self.log.append(f"{hook} not delivered: unit dying")
            return
        queue = self.queues.setdefault(hook.unit, deque())
        after = max((i + 1 for i, h in enumerate(queue) if h.event in SETUP), default=0)
        at = self.rng.randint(max(after, 1 if queue else 0), len(queue))
        queue.insert(at, hook)

    def drop(self, unit: int) -> None:
        self.queues.pop(unit, None)
        self.dying_units.discard(unit)  # dead: a later pod with its ordinal is a new unit

    def dying(self, unit: int) -> None:
        """A dying unit runs its teardown and actions only (JUJU.md section 3)."""
        teardown = {"relation_departed", "storage_detaching", "stop", "remove", "action"}
        self.dying_units.add(unit)
        queue = self.queues.get(unit, deque())
        self.queues[unit] = deque(h for h in queue if h.event in teardown)

    def pending(self, unit: int | None = None) -> bool:
        if unit is not None:
            return bool(self.queues.get(unit)) and unit not in self.lost
        return any(q for u, q in self.queues.items() if u not in self.lost)

    def pick(self, busy: Iterable[int] = ()) -> Hook | None:
        """The next hook to start, from a unit with nothing under way."""
        busy = set(busy) | self.lost
        ready = sorted(u for u, q in self.queues.items() if q and u not in busy)
        if not ready:
            return None
        return self.queues[self.rng.choice(ready)][0]

    def discard(self, hook: Hook, why: str) -> None:
        """A queued hook that never runs."""
        self.queues[hook.unit].popleft()
        self.log.append(f"{hook} not run: {why}")

    def done(self, hook: Hook) -> None:
        self.queues[hook.unit].popleft()
        self.log.append(str(hook))

    def overlaps(self) -> bool:
        return self.rng.random() < self.overlap
