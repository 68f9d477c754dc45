"""Pure rolling-restart decisions: who may restart next, and what counts as a change."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from records import Record, frozen


def fingerprint(parts: Iterable[str]) -> str:
    """A short digest of everything a running server read at start."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


@frozen
class Member(Record):
    """One unit as the roll sees it, from what it last reported in peer data."""

    pending: bool  # its server runs with settings older than the charm wants
    serving: bool
    zk_leader: bool = False
    failed: bool = False  # its last restart did not come back in time
    # Fingerprints of what its server runs and should run (None: not reported).
    running: str | None = None
    target: str | None = None


@frozen
class Decision(Record):
    grant: int | None = None
    held: str | None = None


def next_restart(members: Mapping[int, Member], granted: int | None) -> Decision:
    """Which unit restarts next: one at a time, followers first, the ZooKeeper leader last,
    only while every member serves, and never past a unit whose restart failed."""
    failed = sorted(o for o, m in members.items() if m.failed)
    if failed:
        return Decision(held=f"rolling restart halted: unit {failed[0]} did not come back")
    current = members.get(granted) if granted is not None else None
    if current is not None and current.pending:
        return Decision(grant=granted)
    pending = [o for o, m in sorted(members.items()) if m.pending]
    if not pending:
        return Decision()
    down = sorted(o for o, m in members.items() if not m.serving)
    if down:
        return Decision(held=f"rolling restart waits for unit {down[0]} to serve")
    followers = [o for o in pending if not members[o].zk_leader]
    if followers:
        return Decision(grant=followers[0])
    # Only the leader is pending in this view. Other members may not have reported the
    # change yet: the leader goes only once every other one runs what it is about to.
    leader = pending[0]
    target = members[leader].target
    behind = [
        o
        for o, m in sorted(members.items())
        if o != leader and m.running is not None and m.running != target
    ]
    if target is not None and behind:
        return Decision(held=f"rolling restart waits for unit {behind[0]} before the leader")
    return Decision(grant=leader)
