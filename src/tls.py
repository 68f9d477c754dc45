"""Pure: what a TLS server needs from the certificates relation, as the PEM files ZooKeeper
reads (no keytool, no openssl): the names its certificate must carry and its two stores.

ZooKeeper 3.9 reads PEM key and trust stores (`ssl.keyStore.type=PEM`); its PEM reader wants
the private key as PKCS#8, and the key store holds the key, then the certificate, then the
chain up to (not including) the CA.
"""

from __future__ import annotations

import hashlib

from layout import Layout
from records import Record, frozen

# cryptography is imported where a store is built, not here: every hook imports this module
# (charm.py names a certificate's SANs) and only the hooks that write a store need it.


class TLSError(ValueError):
    """What the certificates relation handed over cannot make a store: says what is wrong."""


@frozen
class Stores(Record):
    keystore: str  # PKCS#8 key, certificate, chain
    truststore: str  # the CA certificates a peer or client certificate may chain to


def fingerprint(ca: str) -> str:
    """A short name for a CA (PEM) in peer data: every unit gets the same text from the
    provider, so its hash says which CA is meant without carrying the PEM again."""
    return hashlib.sha256(ca.strip().encode()).hexdigest()[:16]


def sans(layout: Layout, app: str, model: str, ordinal: int) -> list[str]:
    """DNS names this unit's certificate must carry: its pod's stable name (what peers and
    clients connect to, hostname verification on) and the headless service's name."""
    pod = layout.address(app, model, ordinal)
    service = pod.split(".", 1)[1] if "." in pod else pod
    return list(dict.fromkeys((pod, service)))


def stores(private_key: str, certificate: str, chain: list[str], cas: list[str]) -> Stores:
    """The key and trust stores; `cas` may hold an old CA beside a new one while the
    ensemble moves from one to the other (both trusted until every member has the new one)."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(private_key.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise TLSError(f"the private key is not an unencrypted PEM key: {exc}") from None
    leaf = _certificate(certificate, "certificate")
    if _spki(leaf.public_key()) != _spki(key.public_key()):
        raise TLSError("the certificate is not for this unit's private key")
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    trusted = [_certificate(ca, "CA certificate") for ca in cas]
    if not trusted:
        raise TLSError("no CA certificate to trust")
    # The chain as sent, without the leaf (some providers repeat it) and without a CA
    # (clients have it already and some TLS stacks reject a self-signed certificate in the
    # chain).
    fingerprints = {_der(c) for c in (leaf, *trusted)}
    sent = [_certificate(pem, "chain certificate") for pem in chain]
    intermediates = [c for c in sent if _der(c) not in fingerprints]
    keystore = pkcs8 + "".join(_pem(c) for c in (leaf, *intermediates))
    return Stores(keystore=keystore, truststore=truststore(cas))


def truststore(cas: list[str]) -> str:
    """The trust store for these CA certificates, each once, in the order given."""
    trusted = [_certificate(ca, "CA certificate") for ca in cas]
    if not trusted:
        raise TLSError("no CA certificate to trust")
    return "".join(_pem(c) for c in {_der(c): c for c in trusted}.values())


def _certificate(pem: str, what: str):
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise TLSError(f"the {what} is not a PEM certificate: {exc}") from None


def _spki(public_key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _der(certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return certificate.public_bytes(serialization.Encoding.DER)


def _pem(certificate) -> str:
    from cryptography.hazmat.primitives import serialization

    return certificate.public_bytes(serialization.Encoding.PEM).decode()
