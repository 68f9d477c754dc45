"""State tests of TLS: the certificates relation's hooks in, the request, the stores on the
unit's disk, what the unit reports and the leader's steps out."""

from __future__ import annotations

import dataclasses
import json

import ops
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from ops import testing

import certificates
import tls
import tlsplan
from layout import K8S
from state import ClusterUnitData
from tests.ca import CA
from tests.unit.conftest import internal_secret
from tests.unit.test_charm import (
    context,
    follower_state,
    make_state,
    member_line,
    peers,
    pod,
    workload,
)

RELATION_ID = 9707  # far from the ids ops.testing gives other relations


def with_certificates(state: testing.State, provider: dict | None = None, own=None):
    relation = testing.Relation(
        "certificates",
        id=RELATION_ID,
        remote_app_name="self-signed-certificates",
        remote_app_data=provider or {},
        local_unit_data={"ingress-address": "10.1.0.5", **(own or {})},
    )
    return dataclasses.replace(state, relations={*state.relations, relation})


def replacing(state: testing.State, relation) -> testing.State:
    """The state with `relation` in place of the one with its id."""
    kept = {r for r in state.relations if r.id != relation.id}
    return dataclasses.replace(state, relations={*kept, relation})


def certificates_relation(state: testing.State) -> testing.Relation:
    return state.get_relation(RELATION_ID)


def requested(state: testing.State) -> list[str]:
    data = certificates_relation(state).local_unit_data
    return [
        r["certificate_signing_request"] for r in json.loads(data["certificate_signing_requests"])
    ]


def issued(ca: CA, csrs: list[str]) -> dict:
    return {
        "certificates": json.dumps(
            [
                {
                    "certificate_signing_request": csr,
                    "certificate": ca.sign(csr),
                    "ca": ca.pem,
                    "chain": [ca.pem],
                }
                for csr in csrs
            ]
        )
    }


def follower(disk, **kw) -> testing.State:
    return follower_state(disk, internal_secret(), **kw)


@pytest.fixture
def asked(disk):
    """unit/1 after the relation's first hooks: it has sent its certificate request."""
    ctx = context(1)
    state = with_certificates(follower(disk))
    out = ctx.run(ctx.on.relation_created(certificates_relation(state)), state)
    return ctx.run(ctx.on.relation_changed(certificates_relation(out), remote_unit=0), out)


def test_a_unit_asks_for_a_certificate_for_its_pod_and_the_service(asked):
    (csr_pem,) = requested(asked)
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = set(names.get_values_for_type(x509.DNSName))
    assert dns == {pod(1), pod(1).split(".", 1)[1]}
    assert not names.get_values_for_type(x509.IPAddress)  # tls-sans-ip is off


def test_the_private_key_lives_in_a_secret_of_the_units_and_nowhere_in_relation_data(asked):
    keys = [s for s in asked.secrets if s.owner == "unit"]
    assert keys, "the library keeps the unit's private key in a secret of its own"
    key_pems = [v for s in keys for v in s.latest_content.values() if "PRIVATE KEY" in v]
    assert key_pems
    for relation in asked.relations:
        for bag in (relation.local_unit_data, relation.local_app_data):
            assert not any("PRIVATE KEY" in v for v in bag.values())


def test_an_issued_certificate_becomes_stores_only_the_server_reads(asked, disk):
    ca = CA()
    ctx = context(1)
    signed = issued(ca, requested(asked))
    state = replacing(
        asked, dataclasses.replace(certificates_relation(asked), remote_app_data=signed)
    )
    out = ctx.run(ctx.on.relation_changed(certificates_relation(state), remote_unit=0), state)
    keystore, truststore = disk / K8S.keystore, disk / K8S.truststore
    assert keystore.stat().st_mode & 0o777 == 0o600
    assert truststore.stat().st_mode & 0o777 == 0o600
    text = keystore.read_text()
    assert text.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, as ZooKeeper reads it
    serialization.load_pem_private_key(text.encode(), password=None)
    leaf = x509.load_pem_x509_certificate(text.split("-----END PRIVATE KEY-----\n", 1)[1].encode())
    assert pod(1) in leaf.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.DNSName)
    assert truststore.read_text().strip() == ca.pem.strip()
    reported = json.loads(peers(out).local_unit_data["tls-ca"])
    assert reported.strip() == ca.pem.strip()


def test_other_hooks_leave_the_library_alone_and_the_stores_as_they_are(disk):
    ctx = context(1)
    state = with_certificates(follower(disk))
    with ctx(ctx.on.update_status(), state) as manager:
        manager.run()
        assert manager.charm.reconciler.io.certificates is None
    assert not (disk / K8S.keystore).exists()


@pytest.mark.parametrize(
    ("path", "attached"),
    [
        ("hooks/certificates-relation-changed", True),
        ("hooks/certificates-relation-broken", True),
        ("hooks/secret-expired", True),
        ("hooks/config-changed", True),
        ("hooks/upgrade-charm", True),
        ("hooks/update-status", False),
        ("hooks/cluster-relation-changed", False),
        ("hooks/zookeeper-relation-changed", False),
        ("actions/restart", False),
    ],
)
def test_the_requirer_is_attached_in_the_hooks_that_can_bring_a_certificate(path, attached):
    assert certificates.needed(path) is attached


def leader_with_units(disk, *, tls="off", units=None, mine=None, related=None):
    """unit/0 leading units 1 and 2 (`units`: their reports); `mine`: the step its own
    server runs (with its certificate), `related`: whether the leader recorded the
    certificates relation."""
    units = units or {}
    app_data = {
        "bootstrap-members": json.dumps([0, 1, 2]),
        "members": json.dumps([member_line(n).strip() for n in range(3)]),
        "root-closed": "true",
        "tls": json.dumps(tls),
    }
    if related is not None:
        app_data["tls-related"] = json.dumps(related)
    secret = internal_secret()
    app_data["internal-secret-id"] = json.dumps(secret.id)
    state = make_state(disk, app_data=app_data, secrets=[secret])
    relation = dataclasses.replace(
        peers(state),
        local_unit_data={**peers(state).local_unit_data, **(reported(mine) if mine else {})},
        peers_data={o: {k: json.dumps(v) for k, v in data.items()} for o, data in units.items()},
    )
    state = dataclasses.replace(state, relations={relation})
    return with_certificates(state)


A_CA = CA().pem


def ready(phase: str, ca: str | None = A_CA) -> dict:
    return {"state": "serving", "running-tls": phase, "tls-ca": ca}


def reported(phase: str) -> dict:
    """This unit's own report as peer data holds it."""
    return {"running-tls": json.dumps(phase), "tls-ca": json.dumps(A_CA)}


def app(state: testing.State) -> dict:
    return {k: json.loads(v) for k, v in peers(state).local_app_data.items()}


def certificates_changed(ctx, state):
    return ctx.run(ctx.on.relation_changed(certificates_relation(state), remote_unit=0), state)


def test_the_leader_waits_for_every_units_certificate_before_the_first_step(disk):
    ctx = context(0)
    state = leader_with_units(disk, units={1: ready("off"), 2: ready("off", ca=None)})
    out = certificates_changed(ctx, state)
    assert app(out)["tls"] == "off"
    assert app(out)["tls-related"] is True
    assert out.app_status == ops.WaitingStatus(
        "switching TLS on: waiting for the certificates of units [0, 2]"
    )


def test_once_every_server_runs_a_step_the_leader_takes_the_next(disk):
    ctx = context(0)
    units = {1: ready("unified"), 2: ready("unified")}
    state = leader_with_units(disk, tls="unified", units=units, mine="unified")
    out = certificates_changed(ctx, state)
    assert app(out)["tls"] == "quorum"
    assert app(out)["tls-cas"] == [A_CA]


def test_without_the_relation_the_leader_steps_back_from_on(disk):
    ctx = context(0)
    units = {1: ready("on"), 2: ready("on")}
    state = leader_with_units(disk, tls="on", units=units, mine="on", related=True)
    out = ctx.run(ctx.on.relation_broken(certificates_relation(state)), state)
    assert app(out)["tls"] == "quorum"
    assert app(out)["tls-related"] is False
    assert out.app_status == ops.WaitingStatus("switching TLS off: step quorum")


def test_update_status_goes_by_what_the_leader_recorded_of_the_relation(disk):
    """No relation-ids call for it on every hook: the relation's own hooks keep the record."""
    ctx = context(0)
    state = leader_with_units(disk, units={1: ready("off"), 2: ready("off")})
    out = ctx.run(ctx.on.update_status(), state)
    assert app(out)["tls"] == "off"
    assert app(out).get("tls-related", False) is False


def test_a_unit_joining_a_tls_ensemble_waits_for_its_certificate_then_starts(disk):
    ctx = context(1)
    state = with_certificates(follower(disk))
    peer = peers(state)
    state = replacing(
        state, dataclasses.replace(peer, local_app_data={**peer.local_app_data, "tls": '"on"'})
    )
    out = ctx.run(ctx.on.relation_created(certificates_relation(state)), state)
    out = certificates_changed(ctx, out)
    assert out.unit_status == ops.WaitingStatus(
        "waiting for this unit's certificate from the certificates relation"
    )
    assert "zookeeper" not in workload(out).plan.services
    ca = CA()
    signed = issued(ca, requested(out))
    out = replacing(out, dataclasses.replace(certificates_relation(out), remote_app_data=signed))
    out = certificates_changed(ctx, out)
    assert "zookeeper" in workload(out).plan.services
    zoo_cfg = (disk / K8S.zoo_cfg).read_text()
    assert "secureClientPort=2182" in zoo_cfg
    assert "sslQuorum=true" in zoo_cfg
    assert "portUnification=false" in zoo_cfg


def test_a_new_leader_takes_the_switch_on_from_where_the_old_one_left_it(disk):
    """The step and whether TLS is wanted live in peer data: a unit elected mid-switch goes
    on with the next step in leader-elected, without the certificates relation's hooks."""
    ctx = context(0)
    units = {1: ready("unified"), 2: ready("unified")}
    state = leader_with_units(disk, tls="unified", units=units, mine="unified", related=True)
    out = ctx.run(ctx.on.leader_elected(), state)
    assert app(out)["tls"] == "quorum"


def test_a_revoked_certificate_is_kept_and_said_until_the_provider_issues_a_new_one(asked, disk):
    ca, ctx = CA(), context(1)
    signed = issued(ca, requested(asked))
    state = replacing(
        asked, dataclasses.replace(certificates_relation(asked), remote_app_data=signed)
    )
    serving = ctx.run(ctx.on.relation_changed(certificates_relation(state), remote_unit=0), state)
    keystore = (disk / K8S.keystore).read_text()
    # The provider revokes it (v4: the same entry, `revoked` set).
    entries = json.loads(signed["certificates"])
    revoked = {"certificates": json.dumps([{**e, "revoked": True} for e in entries])}
    state = replacing(
        serving, dataclasses.replace(certificates_relation(serving), remote_app_data=revoked)
    )
    out = ctx.run(ctx.on.relation_changed(certificates_relation(state), remote_unit=0), state)

    assert out.unit_status == testing.WaitingStatus(
        "this unit's certificate was revoked: waiting for the provider to issue a new one"
    )
    assert (disk / K8S.keystore).read_text() == keystore  # the server keeps what it serves
    # Said in hooks that do not read the relation too, until the new certificate.
    later = ctx.run(ctx.on.update_status(), out)
    assert later.unit_status == out.unit_status
    renewed = issued(ca, requested(later))
    state = replacing(
        later, dataclasses.replace(certificates_relation(later), remote_app_data=renewed)
    )
    fixed = ctx.run(ctx.on.relation_changed(certificates_relation(state), remote_unit=0), state)

    assert "revoked" not in fixed.unit_status.message
    assert serving.unit_status == fixed.unit_status
    assert (disk / K8S.keystore).read_text() != keystore
    assert json.loads(peers(fixed).local_unit_data["tls-revoked"]) is False


def leader_says(state: testing.State, cas: list[str], everywhere: list[str]):
    """The leader's app data: `cas` for every member to trust, and the CAs it saw every
    member with a certificate trust (`everywhere`)."""
    cluster = peers(state)
    fingerprints = sorted(tls.fingerprint(c) for c in everywhere)
    data = {"tls-cas": json.dumps(cas), "tls-trusted": json.dumps(fingerprints)}
    return replacing(
        state, dataclasses.replace(cluster, local_app_data={**cluster.local_app_data, **data})
    )


def issuer_of(keystore) -> x509.Name:
    leaf = keystore.read_text().split("-----END PRIVATE KEY-----\n", 1)[1]
    return x509.load_pem_x509_certificate(leaf.encode()).issuer


def reported_by(state: testing.State) -> dict:
    data = peers(state).local_unit_data
    return {k: json.loads(v) for k, v in data.items() if k.startswith("tls-")}


def test_a_certificate_from_a_new_ca_waits_until_every_member_trusts_that_ca(asked, disk):
    old, new, ctx = CA("old-ca"), CA("new-ca"), context(1)
    first = replacing(
        asked,
        dataclasses.replace(
            certificates_relation(asked), remote_app_data=issued(old, requested(asked))
        ),
    )
    serving = ctx.run(ctx.on.relation_changed(certificates_relation(first), remote_unit=0), first)
    served = (disk / K8S.keystore).read_text()
    serving = leader_says(serving, [old.pem], [old.pem])

    # The provider moves to a new CA: this unit trusts it at once, serves the old
    # certificate still, and says which CA it waits to serve from.
    moved = replacing(
        serving,
        dataclasses.replace(
            certificates_relation(serving), remote_app_data=issued(new, requested(serving))
        ),
    )
    out = ctx.run(ctx.on.relation_changed(certificates_relation(moved), remote_unit=0), moved)

    assert (disk / K8S.keystore).read_text() == served
    assert (
        new.pem.strip() in (disk / K8S.keystore_next).read_text()
        or (disk / K8S.keystore_next).stat().st_mode & 0o777 == 0o600
    )
    trusted = (disk / K8S.truststore).read_text()
    assert old.pem.strip() in trusted and new.pem.strip() in trusted
    mine = reported_by(out)
    assert mine["tls-ca"].strip() == old.pem.strip()
    assert mine["tls-ca-next"].strip() == new.pem.strip()
    assert set(mine["tls-trusts"]) == {tls.fingerprint(old.pem), tls.fingerprint(new.pem)}
    # The leader lists every CA a member serves from or waits for (tlsplan.trusted_cas).
    views = {1: ClusterUnitData.model_validate(mine)}
    assert tlsplan.trusted_cas([mine["tls-ca"]], views) == [mine["tls-ca"], mine["tls-ca-next"]]

    # Until the leader saw every member trust it, it stays held back, whatever hook runs.
    out = ctx.run(ctx.on.update_status(), leader_says(out, [old.pem, new.pem], [old.pem]))
    assert (disk / K8S.keystore).read_text() == served

    # Every member trusts it now: the next hook serves the new certificate (a reload, no
    # certificates hook needed) and reports it.
    everyone = leader_says(out, [old.pem, new.pem], [old.pem, new.pem])
    done = ctx.run(ctx.on.update_status(), everyone)
    assert issuer_of(disk / K8S.keystore) == new.certificate.subject
    mine = reported_by(done)
    assert mine["tls-ca"].strip() == new.pem.strip()
    assert mine["tls-ca-next"] is None
