"""The charm's duties, one module each, run by reconcile.py in a fixed order.

Each duty is one function `run(snapshot, shells) -> Outcome`: it reads only the snapshot of
this pass (snapshot.py), does its I/O through the shells (shells.py), and returns what it
changed in Juju's state instead of writing it; reconcile saves that and hands the next duty
a snapshot that includes it.
"""

from __future__ import annotations

from records import Record, frozen
from state import ClusterAppData, ClusterUnitData, InternalSecret


@frozen
class Outcome(Record):
    cluster: ClusterAppData | None = None  # new application data (the leader's only)
    me: ClusterUnitData | None = None  # this unit's new report
    secret: InternalSecret | None = None  # new internal secret content: the pass restarts
    held: str | None = None  # why something waits (a waiting status)
    blocked: str | None = None  # a user error to fix (a blocked status)
    stop: bool = False  # nothing after this duty can run in this pass
    # Left for the next hook though nothing waits: the leader is not settled (reconcile.py).
    unfinished: bool = False


NOTHING = Outcome()
