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


def stores(snap: Snapshot, io: Shells) -> Outcome:
    """Write this unit's key store when the certificates relation issued it a certificate
    (in the hooks that read it), and its trust store whenever the CAs to trust change.

    A server reloads both files when they change (client.certReload,
    sslQuorumReloadCertFiles): a renewal restarts nothing. The stores stay after the
    relation goes: switching TLS off takes three rolling restarts that still need them.
    """
    workload, layout, me = io.workload, snap.unit.layout, snap.me
    requested = _requested(snap, io)
    ca, trusted = me.tls_ca, None
    material = io.certificates.material() if io.certificates is not None else None
    if material is not None:
        try:
            built = tls.stores(
                material.private_key,
                material.certificate,
                list(material.chain),
                [material.ca, *snap.cluster.tls_cas],
            )
        except tls.TLSError as exc:
            return Outcome(
                me=requested, blocked=f"the certificates relation's certificate is unusable: {exc}"
            )
        if workload.read(layout.keystore) != built.keystore:
            logger.info("writing this unit's TLS key store")
            workload.write(layout.keystore, built.keystore, secret=True)
        ca, trusted = material.ca, built.truststore
    if ca is None:
        return Outcome(me=requested)
    if trusted is None:
        try:
            trusted = tls.truststore([ca, *snap.cluster.tls_cas])
        except tls.TLSError as exc:
            return Outcome(me=requested, blocked=f"the CAs to trust are unusable: {exc}")
    if workload.read(layout.truststore) != trusted:
        workload.write(layout.truststore, trusted, secret=True)
    if ca != me.tls_ca:
        return Outcome(me=(requested or me).model_copy(update={"tls_ca": ca}))
    return Outcome(me=requested)


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
    wanted = {"tls": phase, "tls_cas": cas, "tls_related": snap.tls_wanted}
    if (phase, cas, snap.tls_wanted) == (cluster.tls, cluster.tls_cas, cluster.tls_related):
        return Outcome(held=held)
    if phase is not cluster.tls:
        logger.info("TLS: every server runs step %s; next: %s", cluster.tls, phase)
    return Outcome(cluster=cluster.model_copy(update=wanted), held=held)
