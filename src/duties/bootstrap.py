"""The leader's first duty: credentials and the ensemble every first unit starts with."""

from __future__ import annotations

from snapshot import Identity
from state import ClusterAppData


def plan(cluster: ClusterAppData, planned: int, unit: Identity) -> ClusterAppData:
    """What the application data must hold before any server can start (the internal
    secret's id is the caller's to add: making the secret is I/O)."""
    bootstrap = cluster.bootstrap_members
    if bootstrap is None:
        # Pod ordinals of a fresh StatefulSet are 0..n-1 and their DNS names are known in
        # advance, so every unit of the deployment can start at once with the same
        # ensemble instead of joining one after another.
        bootstrap = list(range(max(planned, 1)))
    members = cluster.members
    if members is None:
        members = [unit.server(o).line for o in bootstrap]
    return cluster.model_copy(update={"bootstrap_members": bootstrap, "members": members})
