"""A client app that names its certificate's subject (`x509-subject`) gets its chroot owned by
that certificate too: sessions presenting it need no password (tls-client-auth want/need).

The provider side as Juju drives it (ops.testing, with test_provider's stand-in ZooKeeper),
the canonical form the server's x509 provider derives (clients.x509_identity), and zoo.cfg
letting such sessions through `enforce.auth`.
"""

from __future__ import annotations

import pytest
from ops import testing

import clients
import render
from clients import Acl
from config import parse
from layout import K8S
from state import TLSPhase
from tests.unit.test_provider import (
    KAFKA,
    answer,
    asking,
    client,
    parse_policy,
    password_of,
    policy_line,
    records,
    run,
    serve,
)

SUBJECT = "CN=kafka,O=acme"
WITH_SUBJECT = {**KAFKA, "x509-subject": " cn = kafka , o=acme "}

CANONICAL = {
    "CN=kafka": "CN=kafka",
    "cn=kafka, ou=brokers ,o=Acme Corp": "CN=kafka,OU=brokers,O=Acme Corp",
    "CN=kafka-0.kafka-endpoints.prod.svc.cluster.local": (
        "CN=kafka-0.kafka-endpoints.prod.svc.cluster.local"
    ),
    "UID=app_1,DC=example,DC=com": "UID=app_1,DC=example,DC=com",
    "CN=spiffe://prod/kafka,C=DE,ST=Berlin,L=Berlin,STREET=Main 1": (
        "CN=spiffe://prod/kafka,C=DE,ST=Berlin,L=Berlin,STREET=Main 1"
    ),
}

BAD = {
    "no key": ("kafka", "write it as KEY=value"),
    "unknown attribute": ("CN=kafka,EMAILADDRESS=a@b", "keys from CN, O, OU"),
    "OID": ("2.5.4.3=kafka", "keys from CN, O, OU"),
    "escaped comma": ("CN=kafka\\, inc", "may hold only letters"),
    "multi-valued RDN": ("CN=kafka+OU=x", "may hold only letters"),
    "quote": ('CN="kafka"', "may hold only letters"),
    "empty value": ("CN=,O=acme", "may hold only letters"),
    "empty RDN": ("CN=kafka,,O=acme", "write it as KEY=value"),
    "hash": ("CN=#04024869", "may hold only letters"),
}


@pytest.mark.parametrize("subject", CANONICAL)
def test_a_subject_is_written_as_the_servers_x509_provider_names_the_session(subject):
    assert clients.x509_identity(subject) == CANONICAL[subject]


@pytest.mark.parametrize("case", BAD)
def test_a_subject_the_server_could_name_differently_is_refused_with_the_fix(case):
    subject, fix = BAD[case]
    with pytest.raises(ValueError, match="x509-subject") as refused:
        clients.x509_identity(subject)
    assert fix in str(refused.value)


def test_a_named_subject_owns_the_chroot_beside_the_apps_user(disk, zookeeper):
    out = serve(disk, client(7, WITH_SUBJECT))

    assert out.unit_status == testing.ActiveStatus("leader, 3 members")
    password = password_of(out, 7)
    perms, owners = policy_line(7, "cdrwa", password)
    # The extension gives the certificate's sessions the chroot, and every znode they create
    # there stays closed to everyone but the app (its user, its certificate) and super.
    owners.append(f"x509:{SUBJECT}")
    assert parse_policy(zookeeper.policy).chroots["/kafka"] == (perms, owners)
    assert zookeeper.znodes["/kafka"] == [
        Acl("sasl", "relation-7", "cdrw"),
        Acl("digest", clients.digest_id("relation-7", password), "cdrw"),
        Acl("x509", SUBJECT, "cdrw"),
        Acl("sasl", "super", "cdrwa"),
    ]
    # The client learns the identity as the servers spell it.
    assert answer(out, 7)["x509-subject"] == SUBJECT
    assert records(out)["7"]["x509"] == SUBJECT


def test_narrowed_roles_hold_for_the_certificate_too(disk, zookeeper):
    out = serve(disk, client(7, {**WITH_SUBJECT, "extra-user-roles": "r"}))

    assert Acl("x509", SUBJECT, "r") in zookeeper.znodes["/kafka"]
    assert parse_policy(zookeeper.policy).chroots["/kafka"][0] == "r"
    assert answer(out, 7)["x509-subject"] == SUBJECT


def test_a_bad_subject_blocks_naming_the_fix_and_the_app_keeps_its_chroot(disk, zookeeper):
    out = serve(disk, client(7, {**KAFKA, "x509-subject": "kafka"}))

    assert out.unit_status.name == "blocked"
    assert out.unit_status.message.startswith("relation 7 (kafka): x509-subject 'kafka'")
    assert "CN=myapp,O=myorg" in out.unit_status.message
    # The user and chroot it asked for are served as without the field.
    assert answer(out, 7)["secret-user"]
    assert "x509-subject" not in answer(out, 7)
    assert [a.scheme for a in zookeeper.znodes["/kafka"]] == ["sasl", "digest", "sasl"]
    assert not any("x509:" in line for line in parse_policy(zookeeper.policy).lines)


def test_a_bad_subject_later_changes_nothing_and_fixing_it_unblocks(disk, zookeeper):
    granted = serve(disk, client(7, WITH_SUBJECT))
    policy_before, acls_before = zookeeper.policy, list(zookeeper.znodes["/kafka"])

    bad = run(asking(granted, 7, {**KAFKA, "x509-subject": "CN=kafka+OU=x"}), relation_id=7)

    assert bad.unit_status.name == "blocked"
    assert "x509-subject 'CN=kafka+OU=x'" in bad.unit_status.message
    # The certificate the app uses keeps working: nothing it had is lost.
    assert zookeeper.policy == policy_before
    assert zookeeper.znodes["/kafka"] == acls_before
    assert answer(bad, 7)["x509-subject"] == SUBJECT

    fixed = run(asking(bad, 7, {**KAFKA, "x509-subject": "CN=kafka-2,O=acme"}), relation_id=7)

    assert fixed.unit_status == testing.ActiveStatus("leader, 3 members")
    assert Acl("x509", "CN=kafka-2,O=acme", "cdrw") in zookeeper.znodes["/kafka"]
    assert Acl("x509", SUBJECT, "cdrw") not in zookeeper.znodes["/kafka"]
    assert answer(fixed, 7)["x509-subject"] == "CN=kafka-2,O=acme"


def test_dropping_the_subject_takes_the_certificates_access_back(disk, zookeeper):
    granted = serve(disk, client(7, WITH_SUBJECT))
    zookeeper.client_creates("/kafka/topics", [Acl("x509", SUBJECT, "cdrw")])

    out = run(asking(granted, 7, KAFKA), relation_id=7)

    assert "x509-subject" not in answer(out, 7)
    assert not any("x509:" in line for line in parse_policy(zookeeper.policy).lines)
    # The chroot's tree is closed again to the app's user and super only.
    for path in ("/kafka", "/kafka/topics"):
        assert [a.scheme for a in zookeeper.znodes[path]] == ["sasl", "digest", "sasl"]
    assert records(out)["7"].get("x509") is None


def test_naming_anothers_subject_grants_nothing_of_the_other_app(disk, zookeeper):
    # A hostile app names the subject another app uses: its own chroot is then open to that
    # certificate, the other app's chroot is still the other app's only.
    out = serve(
        disk,
        client(7, WITH_SUBJECT),
        client(8, {"database": "/mallory", "x509-subject": SUBJECT}, app="mallory"),
    )

    chroots = parse_policy(zookeeper.policy).chroots
    assert [o for o in chroots["/kafka"][1] if not o.startswith("x509:")] == policy_line(
        7, "cdrwa", password_of(out, 7)
    )[1]
    assert "sasl:relation-8" not in chroots["/kafka"][1]
    assert all(a.id != "relation-8" for a in zookeeper.znodes["/kafka"])


@pytest.mark.parametrize(
    ("auth", "phase", "schemes"),
    [
        ("none", TLSPhase.ON, "sasl,digest"),
        ("want", TLSPhase.ON, "sasl,digest,x509"),
        ("need", TLSPhase.UNIFIED, "sasl,digest,x509"),
        # The x509 provider exists only with secureClientPort: naming it without would stop
        # ZooKeeper at start ("Authentication scheme x509 is not available").
        ("need", TLSPhase.OFF, "sasl,digest"),
    ],
)
def test_enforce_auth_admits_certificate_sessions_only_while_servers_ask_for_them(
    auth, phase, schemes
):
    text = render.zoo_cfg(parse({"tls-client-auth": auth}), K8S, "a", "/d", tls=phase)
    assert render.parse_properties(text)["enforce.auth.schemes"] == schemes
