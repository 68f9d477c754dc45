"""Pure password rotation: which credentials each server gets in each phase.

ZooKeeper reads its JAAS file only at start, so a password changes through rolling
restarts. The super password: servers restart one by one with the new one while the charm
still accepts using the previous one; then the previous one is forgotten. The quorum
password must never leave two servers unable to talk, so it takes three rolls:
ACCEPT (every server accepts old and new), SWITCH (learners log in with the new one), then
the old one is dropped.
"""

from __future__ import annotations

from records import Record, frozen
from render import Credentials
from state import InternalSecret, RotationPhase


def quorum_user(generation: int) -> str:
    return f"sync{generation}"


def credentials(
    secret: InternalSecret,
    generation: int,
    phase: RotationPhase | None,
) -> Credentials:
    current = secret.sync_user or quorum_user(generation), secret.sync_password
    accepted = dict([current])
    learner = current
    if phase is not None and secret.sync_password_next:
        upcoming = quorum_user(generation + 1), secret.sync_password_next
        accepted[upcoming[0]] = upcoming[1]
        if phase is RotationPhase.SWITCH:
            learner = upcoming
    return Credentials(
        super_password=secret.super_password,
        quorum_accepted=accepted,
        quorum_learner=learner,
    )


@frozen
class Advance(Record):
    """What the leader does once every server runs the current credentials."""

    secret: InternalSecret
    generation: int
    phase: RotationPhase | None


def advance(secret: InternalSecret, generation: int, phase: RotationPhase | None) -> Advance:
    """The next rotation state, to apply only when the current one is running everywhere."""
    if secret.super_password_previous is not None:
        secret = secret.model_copy(update={"super_password_previous": None})
    if phase is RotationPhase.ACCEPT:
        return Advance(secret, generation, RotationPhase.SWITCH)
    if phase is RotationPhase.SWITCH:
        done = secret.model_copy(
            update={
                "sync_password": secret.sync_password_next,
                "sync_password_next": None,
                "sync_user": quorum_user(generation + 1),
            }
        )
        return Advance(done, generation + 1, None)
    return Advance(secret, generation, None)


def start(
    secret: InternalSecret, which: set[str], new_super: str, new_sync: str
) -> tuple[InternalSecret, RotationPhase | None]:
    """Begin rotating `which` of {"super", "sync"}; returns the new secret and phase."""
    update: dict[str, str | None] = {}
    phase = None
    if "super" in which:
        update |= {"super_password_previous": secret.super_password, "super_password": new_super}
    if "sync" in which:
        update["sync_password_next"] = new_sync
        phase = RotationPhase.ACCEPT
    return secret.model_copy(update=update), phase


def password_problem(password: str | None) -> str | None:
    """Why a password a user chose cannot go into a JAAS file, or None if it can."""
    if not password:
        return "is missing"
    if not 8 <= len(password) <= 128:
        return "must be 8 to 128 characters long"
    if any(c in password for c in "\"\\'") or any(c.isspace() for c in password):
        return "must not contain quotes, backslashes or white space"
    return None
