"""The leader's duty to client apps: each `zookeeper` relation gets its chroot, user and
ACLs, and loses them when it goes (provider.py); the opted-in open chroots are made."""

from __future__ import annotations

import dataclasses

import admin
import clients
import exposure
import provider
import tls
import tlsplan
from duties import NOTHING, Outcome
from ensemble import EnsembleConfig
from layout import CLIENT_PORT, SECURE_CLIENT_PORT
from shells import Shells
from snapshot import Snapshot


def run(snap: Snapshot, io: Shells) -> Outcome:
    if not snap.cluster.root_closed:
        if not io.health.serving:
            return NOTHING  # nothing to serve clients with yet
        try:
            io.zookeeper(snap).set_acls("/", clients.super_only())
        except admin.AdminError as exc:
            return Outcome(held=f"closing the root znode waits for ZooKeeper: {exc}")
        snap = snap.but(cluster=snap.cluster.model_copy(update={"root_closed": True}))
    outcome = _serve(snap, io)
    return dataclasses.replace(outcome, cluster=outcome.cluster or snap.cluster)


def _serve(snap: Snapshot, io: Shells) -> Outcome:
    hosts = snap.voter_addresses
    tls_ca = _tls_ca(snap)
    # Told the Service's address while exposed; asked about users on each member itself.
    told, port = exposure.endpoints(
        snap.cluster, hosts, SECURE_CLIENT_PORT if tls_ca else CLIENT_PORT
    )
    served_by = provider.Provider(
        io.model,
        snap.cluster.clients,
        reserved=snap.open_chroots,  # only a valid option reserves paths
        addresses=told,
        port=port,
        version=io.health.version or "unknown",
        zookeeper=lambda: io.zookeeper(snap),
        delete_data=snap.config.delete_client_data,
        refusing=lambda user, password, chroot: admin.refusing(
            hosts, user, password, chroot, **io.reach(snap.published)
        ),
        policy_digest=snap.cluster.policy_digest,
        tls_ca=tls_ca,
        quotas=(snap.config.client_max_znodes, snap.config.client_max_bytes),
    )
    try:
        served = served_by.serve()
    except admin.AdminError as exc:
        return Outcome(held=f"clients wait for ZooKeeper: {exc}")
    held = None
    if served.waiting:
        held = (
            f"relations {', '.join(map(str, served.waiting))}: waiting for every server "
            "to accept their users"
        )
    problems = served.problems + snap.open_chroot_problems
    # Client users live in the policy znode, not in any server's files: nothing rolls.
    cluster = snap.cluster.model_copy(
        update={"clients": served.records, "policy_digest": served.policy_digest}
    )
    try:
        cluster = _open_chroots(snap.but(cluster=cluster), io)
    except admin.AdminError as exc:
        held = held or f"open chroots wait for ZooKeeper: {exc}"
    return Outcome(
        cluster=cluster,
        held=held,
        blocked="; ".join(problems) or None,
        unfinished=served.closing,
    )


def _tls_ca(snap: Snapshot) -> str | None:
    """What clients verify servers with, while they are to connect over TLS (else None)."""
    plaintext_open = not (snap.published or EnsembleConfig(())).plaintext_on_loopback
    cas = snap.cluster.tls_cas
    if not cas or not tlsplan.clients_on_tls(snap.tls_wanted, snap.views, plaintext_open):
        return None
    return tls.truststore(cas)


def _open_chroots(snap: Snapshot, io: Shells):
    """Create the opted-in chroots, once, and close the root before auth goes off."""
    paths = snap.open_chroots
    done = snap.cluster.open_chroots_made
    if set(paths) == set(done):
        return snap.cluster
    zk = io.zookeeper(snap)
    zk.set_acls("/", clients.super_only())
    for path in paths:
        zk.ensure_chroot(path, clients.open_acls(), clients.super_only())
    for path in set(done) - set(paths):
        # No longer opted in: its data stays, closed to all but the super user.
        zk.set_tree_acls(path, clients.super_only())
    return snap.cluster.model_copy(update={"open_chroots_made": sorted(paths)})
