"""The leader's duty to the `system-users` config: rotate to the super password the admin
put in that user secret."""

from __future__ import annotations

import logging

import ops

import rotation
from duties import NOTHING, Outcome
from shells import Shells
from snapshot import Snapshot

logger = logging.getLogger(__name__)


def run(snap: Snapshot, io: Shells) -> Outcome:
    secret_id = snap.config.system_users
    if secret_id is None:
        return NOTHING
    try:
        content = io.model.get_secret(id=secret_id).get_content(refresh=True)
    except ops.SecretNotFoundError:
        return Outcome(
            blocked=f"system-users: secret {secret_id} not found or not granted: "
            f"juju grant-secret {secret_id} {snap.unit.app}"
        )
    except ops.ModelError as exc:
        return Outcome(blocked=f"system-users: cannot read secret {secret_id}: {exc}")
    password = content.get("super-password")
    problem = rotation.password_problem(password)
    if problem:
        return Outcome(
            blocked=f"system-users: super-password {problem}; add a new secret revision"
        )
    secret = snap.secret
    if password in (secret.super_password, secret.super_password_previous):
        return NOTHING
    if (
        snap.cluster.rotation
        or secret.super_password_previous
        or any(v.pending_config for v in snap.views.values())
    ):
        return Outcome(held="system-users: new password waits for the current roll")
    logger.info("rotating the super password to the one in system-users")
    rotated, _ = rotation.start(secret, {"super"}, password, "")
    return Outcome(secret=rotated)  # the next pass rolls with the new password
