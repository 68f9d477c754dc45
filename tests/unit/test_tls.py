"""The TLS stores and names (tls.py), with certificates made here by `cryptography`."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

import tls
from layout import K8S


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(subject_key, subject: str, issuer_key=None, issuer: str | None = None, ca=False):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer or subject))
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key or subject_key, hashes.SHA256())


def _pem(certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _traditional(key) -> str:
    """As many providers send it: PKCS#1 ("BEGIN RSA PRIVATE KEY"), not PKCS#8."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def pki():
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue(ca_key, "root", ca=True)
    mid_key = ec.generate_private_key(ec.SECP256R1())
    mid = _issue(mid_key, "intermediate", ca_key, "root", ca=True)
    unit_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = _issue(unit_key, "zookeeper-k8s-0", mid_key, "intermediate")
    return {"ca": ca, "mid": mid, "leaf": leaf, "key": unit_key}


def _blocks(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line.startswith("-----BEGIN")]


def test_the_keystore_is_a_pkcs8_key_then_the_certificate_then_the_chain(pki):
    stores = tls.stores(
        _traditional(pki["key"]), _pem(pki["leaf"]), [_pem(pki["mid"])], [_pem(pki["ca"])]
    )
    assert _blocks(stores.keystore) == [
        "-----BEGIN PRIVATE KEY-----",  # PKCS#8: ZooKeeper's PEM reader wants no other
        "-----BEGIN CERTIFICATE-----",
        "-----BEGIN CERTIFICATE-----",
    ]
    certificates = x509.load_pem_x509_certificates(
        stores.keystore.split("-----END PRIVATE KEY-----\n", 1)[1].encode()
    )
    assert certificates == [pki["leaf"], pki["mid"]]
    key = serialization.load_pem_private_key(stores.keystore.encode(), password=None)
    assert key.private_numbers() == pki["key"].private_numbers()
    assert x509.load_pem_x509_certificates(stores.truststore.encode()) == [pki["ca"]]


def test_a_chain_that_repeats_the_leaf_or_the_ca_is_stored_without_them(pki):
    chain = [_pem(pki["leaf"]), _pem(pki["mid"]), _pem(pki["ca"])]
    stores = tls.stores(_traditional(pki["key"]), _pem(pki["leaf"]), chain, [_pem(pki["ca"])])
    assert len(_blocks(stores.keystore)) == 3  # key, leaf, intermediate


def test_two_cas_are_both_trusted_during_a_ca_change_and_a_repeated_one_once(pki):
    other = _issue(ec.generate_private_key(ec.SECP256R1()), "new root", ca=True)
    cas = [_pem(pki["ca"]), _pem(other), _pem(pki["ca"])]
    stores = tls.stores(_traditional(pki["key"]), _pem(pki["leaf"]), [], cas)
    assert x509.load_pem_x509_certificates(stores.truststore.encode()) == [pki["ca"], other]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"key": "not a key"}, "the private key is not an unencrypted PEM key"),
        ({"certificate": "garbage"}, "the certificate is not a PEM certificate"),
        ({"chain": ["garbage"]}, "the chain certificate is not a PEM certificate"),
        ({"cas": []}, "no CA certificate to trust"),
        ({"other_key": True}, "the certificate is not for this unit's private key"),
    ],
)
def test_what_cannot_make_a_store_is_refused_saying_what_is_wrong(pki, change, message):
    key = pki["key"]
    if change.pop("other_key", False):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    given = {
        "key": _traditional(key),
        "certificate": _pem(pki["leaf"]),
        "chain": [_pem(pki["mid"])],
        "cas": [_pem(pki["ca"])],
    } | change
    with pytest.raises(tls.TLSError, match=message):
        tls.stores(given["key"], given["certificate"], given["chain"], given["cas"])


def test_the_names_are_the_pods_stable_name_and_the_headless_services():
    assert tls.sans(K8S, "zookeeper-k8s", "prod", 2) == [
        "zookeeper-k8s-2.zookeeper-k8s-endpoints.prod.svc.cluster.local",
        "zookeeper-k8s-endpoints.prod.svc.cluster.local",
    ]
