"""What `juju status` says, from what the hook's reconcile found: every status the charm
shows is made here, and each waiting or blocked one names what gets out of it."""

from __future__ import annotations

import ops

import admin
from snapshot import Snapshot, Space
from state import TLSPhase

# A server with this many requests queued is struggling; say so in its status.
BUSY_OUTSTANDING_REQUESTS = 1000
# Below this much room on the data volume (the larger of the two) a server is about to fail
# writing its transaction log or its next snapshot (as large as the data): say so before it
# does. A full volume stops the member, never the ensemble's majority.
LOW_SPACE_BYTES = 16 * 2**20
LOW_SPACE_FRACTION = 0.02
# A unit that joins while the ensemble speaks TLS cannot start without its certificate.
WAITING_FOR_CERTIFICATE = "waiting for this unit's certificate from the certificates relation"


def trust_needed(app: str) -> str:
    """Kubernetes refused the leader (HTTP 403): the app's service account may not manage
    the objects the charm keeps beside Juju's; `juju trust` gives it the rights."""
    return (
        "Kubernetes refused the charm's PodDisruptionBudget and client Service: "
        f"run `juju trust {app} --scope=cluster`"
    )


def waiting_for_external(mode: str) -> str:
    return (
        f"expose-external={mode}: waiting for Kubernetes to give every unit an address "
        "(clients are told the pods' own until then)"
    )


def found(
    snap: Snapshot | ops.StatusBase, held: list[str], blocked: list[str]
) -> list[ops.StatusBase]:
    """What reconcile found (bad inputs, a hold, a user error): the unit's and the app's."""
    if isinstance(snap, ops.StatusBase):
        return [snap]
    return [ops.WaitingStatus(h) for h in held[:1]] + [ops.BlockedStatus(b) for b in blocked[:1]]


def storage_full(space: Space | None) -> str | None:
    """Why the data volume needs the user, if it does (None: room enough, or unknown)."""
    if space is None or space.free >= max(LOW_SPACE_BYTES, space.total * LOW_SPACE_FRACTION):
        return None
    mib = 2**20
    return (
        f"data storage full: {space.free / mib:.0f} MiB free of {space.total / mib:.0f} MiB; "
        "free space on the volume or move the unit to a larger one"
    )


def unit(
    snap: Snapshot, running: bool, health: admin.Health, restart_timeout: float
) -> list[ops.StatusBase]:
    statuses: list[ops.StatusBase] = []
    me = snap.me
    full = storage_full(snap.space)
    if full is not None:
        statuses.append(ops.BlockedStatus(full))
    if me.failed_config is not None:
        statuses.append(
            ops.BlockedStatus(
                f"restart failed: zookeeper did not rejoin the quorum within "
                f"{restart_timeout:.0f}s; fix the cause, then run the restart action"
            )
        )
    elif me.restarting is not None:
        statuses.append(ops.MaintenanceStatus("restarting zookeeper with new settings"))
    elif me.pending_config is not None:
        statuses.append(ops.MaintenanceStatus("settings changed: waiting to restart in turn"))
    if snap.published is None:
        statuses.append(ops.WaitingStatus("waiting for the leader to publish the ensemble"))
    elif not running and snap.cluster.tls is not TLSPhase.OFF and me.tls_ca is None:
        statuses.append(ops.WaitingStatus(WAITING_FOR_CERTIFICATE))
    elif not running:
        statuses.append(ops.MaintenanceStatus("starting zookeeper"))
    elif not health.serving:
        statuses.append(ops.WaitingStatus("zookeeper started, waiting for quorum"))
    elif not snap.votes:
        statuses.append(ops.WaitingStatus("in sync, waiting to be added to the ensemble"))
    else:
        statuses.append(ops.ActiveStatus(serving_message(health)))
    return statuses


def serving_message(health: admin.Health) -> str:
    voters = health.voters
    message = f"{health.mode}, {voters} member" + ("s" if voters != 1 else "")
    if voters % 2 == 0:
        message += f" (even: tolerates {voters // 2 - 1} failure(s), like {voters - 1})"
    if health.outstanding_requests >= BUSY_OUTSTANDING_REQUESTS:
        message += f"; {health.outstanding_requests} requests queued"
    return message


def app(snap: Snapshot) -> ops.StatusBase:
    """What `juju status` shows for the application (the leader's view)."""
    published = snap.published
    if published is None:
        return ops.WaitingStatus("the ensemble is forming")
    voters, planned = len(published.voters), snap.planned
    if voters != planned:
        return ops.MaintenanceStatus(f"{voters} voting members, moving to {planned}")
    served = len(snap.cluster.clients)
    return ops.ActiveStatus(
        f"{voters} voting members, {served} client app" + ("" if served == 1 else "s")
    )


# The order ops picks the status to show in when several were found (ops.StatusBase).
_PRIORITY = {"error": 5, "blocked": 4, "maintenance": 3, "waiting": 2, "active": 1}


def chosen(statuses: list[ops.StatusBase]) -> ops.StatusBase:
    """The one ops would set: the first of the highest priority."""
    return max(statuses, key=lambda s: _PRIORITY.get(s.name, 0))


def said(status: ops.StatusBase) -> str:
    return f"{status.name}: {status.message}"
