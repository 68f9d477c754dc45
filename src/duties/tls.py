"""TLS: every unit keeps its stores from what the certificates relation issued it; the
leader steps the ensemble through switching TLS on or off (tlsplan.py decides)."""

from __future__ import annotations

import logging

import tls
import tlsplan
from duties import Outcome
from shells import Shells
from snapshot import Snapshot
from state import TLSPhase

logger = logging.getLogger(__name__)

REVOKED = "this unit's certificate was revoked: waiting for the provider to issue a new one"


def stores(snap: Snapshot, io: Shells) -> Outcome:
    """Write this unit's key store when the certificates relation issued it a certificate
    (in the hooks that read it), and its trust store whenever the CAs to trust change.

    A server reloads both files when they change (client.certReload,
    sslQuorumReloadCertFiles): a renewal restarts nothing. A certificate from a new CA is
    held back (keystore-next) until every member reports that its trust store holds that
    CA, so no member refuses this one meanwhile. The stores stay after the relation goes:
    switching TLS off takes three rolling restarts that still need them.
    """
    workload, layout, me = io.workload, snap.unit.layout, snap.me
    requested = _requested(snap, io)
    me = requested or me
    ca, held_back, revoked = me.tls_ca, me.tls_ca_next, me.tls_revoked
    material = io.certificates.material() if io.certificates is not None else None
    if material is not None:
        revoked = material.revoked
        if revoked:
            # Not written; the server goes on with what it has: a revoked certificate
            # (ZooKeeper's clients check no revocation lists) is better than no TLS. The
            # provider issues a new one for the same request, which a later hook writes.
            logger.warning("the certificates provider revoked this unit's certificate")
            material = None
    keystore = None  # what the server is to serve, when that changes this hook
    if material is not None:
        ca_now = (
            material.ca if tlsplan.may_serve(material.ca, me, snap.cluster.tls_trusted) else ca
        )
        held_back = None if ca_now == material.ca else material.ca
        try:
            built = tls.stores(
                material.private_key,
                material.certificate,
                list(material.chain),
                _trusted(ca_now, held_back, snap),
            )
        except tls.TLSError as exc:
            return Outcome(
                me=requested, blocked=f"the certificates relation's certificate is unusable: {exc}"
            )
        if held_back is None:
            keystore, ca = built.keystore, material.ca
        elif workload.read(layout.keystore_next) != built.keystore:
            logger.info("holding back a certificate from a new CA until every member trusts it")
            workload.write(layout.keystore_next, built.keystore, secret=True)
    elif held_back is not None and tlsplan.may_serve(held_back, me, snap.cluster.tls_trusted):
        keystore = workload.read(layout.keystore_next)
        if keystore is not None:
            ca, held_back = held_back, None
    if keystore is not None and workload.read(layout.keystore) != keystore:
        logger.info("writing this unit's TLS key store")
        workload.write(layout.keystore, keystore, secret=True)
    held = REVOKED if revoked else None
    if ca is None:
        return _reported(me, held, requested is not None, tls_revoked=revoked)
    cas = _trusted(ca, held_back, snap)
    try:
        trusted = tls.truststore(cas)
    except tls.TLSError as exc:
        return Outcome(me=requested, blocked=f"the CAs to trust are unusable: {exc}")
    if workload.read(layout.truststore) != trusted:
        workload.write(layout.truststore, trusted, secret=True)
    return _reported(
        me,
        held,
        requested is not None,
        tls_ca=ca,
        tls_ca_next=held_back,
        tls_revoked=revoked,
        tls_trusts=sorted({tls.fingerprint(c) for c in cas}),
    )


def _trusted(ca: str | None, held_back: str | None, snap: Snapshot) -> list[str]:
    """The CA it serves from, the one it holds a certificate back for, and every CA the
    leader says some member uses."""
    return [c for c in (ca, held_back) if c] + snap.cluster.tls_cas


def _reported(me, held: str | None, changed: bool, **report) -> Outcome:
    """`me` with `report`, if that or anything before (`changed`) differs from peer data."""
    if not changed and all(getattr(me, key) == value for key, value in report.items()):
        return Outcome(held=held)
    return Outcome(me=me.model_copy(update=report), held=held)


def _requested(snap: Snapshot, io: Shells):
    """This unit's report with the external names its certificate request now carries,
    if they changed (None if not): the request is sent in this hook."""
    certs = io.certificates
    if certs is None or certs.external == snap.me.external_sans:
        return None
    certs.sync()
    return snap.me.model_copy(update={"external_sans": certs.external})


def switch(snap: Snapshot, io: Shells) -> Outcome:
    """The leader's step of the switch: the CAs every member trusts, and the next phase."""
    cluster, views = snap.cluster, snap.views
    phase = tlsplan.next_phase(cluster.tls, snap.tls_wanted, views)
    cas = tlsplan.trusted_cas(cluster.tls_cas, views)
    held = None
    if snap.tls_wanted and phase is not TLSPhase.ON:
        missing = sorted(o for o, d in views.items() if not d.tls_ca)
        held = (
            f"switching TLS on: waiting for the certificates of units {missing}"
            if missing and phase is TLSPhase.OFF
            else f"switching TLS on: step {phase} of {' > '.join(tlsplan.ORDER[1:])}"
        )
    elif not snap.tls_wanted and phase is not TLSPhase.OFF:
        held = f"switching TLS off: step {phase}"
    everywhere = tlsplan.trusted_everywhere(views)
    wanted = {
        "tls": phase,
        "tls_cas": cas,
        "tls_related": snap.tls_wanted,
        "tls_trusted": everywhere,
    }
    if all(getattr(cluster, key) == value for key, value in wanted.items()):
        return Outcome(held=held)
    if phase is not cluster.tls:
        logger.info("TLS: every server runs step %s; next: %s", cluster.tls, phase)
    return Outcome(cluster=cluster.model_copy(update=wanted), held=held)
