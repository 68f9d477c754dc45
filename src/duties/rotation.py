"""The leader's duty in a password rotation: move it on once every server runs its current
credentials (rotation.py says what the next phase is)."""

from __future__ import annotations

import logging

import rotation
from duties import NOTHING, Outcome
from shells import Shells
from snapshot import Snapshot

logger = logging.getLogger(__name__)


def run(snap: Snapshot, io: Shells) -> Outcome:
    secret, cluster = snap.secret, snap.cluster
    if cluster.rotation is None and secret.super_password_previous is None:
        return NOTHING
    expected = snap.jaas_fingerprint
    if any(v.running_jaas != expected for v in snap.views.values()):
        return NOTHING
    step = rotation.advance(secret, cluster.quorum_generation, cluster.rotation)
    logger.info("password rotation: %s -> %s", cluster.rotation, step.phase or "done")
    return Outcome(
        secret=step.secret,
        cluster=cluster.model_copy(
            update={"quorum_generation": step.generation, "rotation": step.phase}
        ),
    )
