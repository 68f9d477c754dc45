"""TLS from the certificates relation on a running ensemble, switched on and off under a
client app that follows what its relation says, with certificates from a CA made here."""

from __future__ import annotations

import json
import socket
import ssl

import pytest
from cryptography import x509
from kazoo.exceptions import NoAuthError
from kazoo.handlers.threading import KazooTimeoutError

from tests.ca import CA
from tests.live import network, zk
from tests.live.cluster import Cluster, deadline_poll
from tests.live.juju import Hook
from tests.live.writer import Writer, client_app

RELATION = 90


class Follower:
    """A client app as a user writes one: it connects where its relation data says (TLS
    with the CA it was given, or plaintext) and moves when the data changes, the new
    client up before the old one goes."""

    def __init__(self, cluster: Cluster, chroot: str, user: tuple[str, str], workdir):
        self.cluster, self.chroot, self.user, self.workdir = cluster, chroot, user, workdir
        self.writers: list[tuple[str, Writer]] = []
        self.moves: list[str] = []
        # Sessions lost by each client before the app closed it.
        self.expired: list[int] = []

    def follow(self) -> None:
        answer = self.cluster.credentials(RELATION)
        mode = answer.get("tls", "disabled")
        if self.writers and self.writers[-1][0] == mode:
            return
        tls = None
        if mode == "enabled":
            ca = self.workdir / f"ca-{len(self.writers)}.pem"
            ca.write_text(answer["tls-ca"])
            tls = {"use_ssl": True, "ca": str(ca), "verify_certs": True}
        hosts = answer["endpoints"] + self.chroot
        writer = Writer(hosts, None, path="/writes", sasl=self.user, tls=tls).__enter__()
        if self.writers:
            # The app moves: the old client stops and closes its session, as an app does.
            old = self.writers[-1][1]
            old.__exit__()
            self.expired.append(old.expirations)  # closing it reads as LOST to kazoo
            old.close()
        self.writers.append((mode, writer))
        self.moves.append(f"{mode} {answer['endpoints']}")

    def stop(self) -> None:
        if self.writers and len(self.expired) < len(self.writers):
            last = self.writers[-1][1]
            last.__exit__()
            self.expired.append(last.expirations)

    def missing(self) -> list[str]:
        """Writes any of its clients was told of that the last one cannot read."""
        last = self.writers[-1][1]
        last.client.sync(last.path)
        present = {f"{last.path}/{c}" for c in last.client.get_children(last.path)}
        return [p for _, w in self.writers for p in w.acknowledged if p not in present]


def refused(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(3)
        try:
            sock.connect((address, port))
        except (ConnectionRefusedError, TimeoutError):
            return True
    return False


def peer_certificate(host: str, port: int, ca_file: str, newest=None) -> dict:
    """What the server at host:port presents in a TLS handshake, verified by the CA and
    the host's name (no client certificate: a member may then drop the connection).
    `newest`: the newest TLS version the client offers (a TLS 1.2-only client)."""
    context = ssl.create_default_context(cafile=ca_file)
    if newest is not None:
        context.maximum_version = newest
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        return tls.getpeercert()


def verifies(host: str, port: int, ca_file: str) -> bool:
    try:
        return bool(peer_certificate(host, port, ca_file))
    except (ssl.SSLError, OSError):
        return False


def deployed(cluster: Cluster) -> Cluster:
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.settle()
    return cluster


def tls_on(cluster: Cluster, ca: CA) -> None:
    """`juju integrate` with the certificates provider, until every step of the switch ran."""
    cluster.relate_certificates(ca)
    cluster.wait_serving()
    cluster.settle()
    assert cluster.app_data["tls"] == '"on"', cluster.juju.log[-40:]


def with_client_certificate(tls: dict, workdir, name: str, pair: tuple[str, str]) -> dict:
    """kazoo's TLS arguments plus a client certificate and key (PEM) written for it."""
    certificate, key = pair
    (workdir / f"{name}.pem").write_text(certificate)
    (workdir / f"{name}.key").write_text(key)
    return {
        **tls,
        "certfile": str(workdir / f"{name}.pem"),
        "keyfile": str(workdir / f"{name}.key"),
    }


@pytest.fixture
def related(cluster: Cluster, tmp_path):
    deployed(cluster)
    chroot, user = client_app(cluster, "follower", RELATION)
    follower = Follower(cluster, chroot, user, tmp_path)
    follower.follow()
    cluster.after_hook.append(follower.follow)
    yield cluster, follower
    follower.stop()
    follower.writers[-1][1].close()


def test_tls_switches_on_and_off_under_a_client_that_follows_its_relation(related, tmp_path):
    cluster, follower = related
    ca = CA()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(ca.pem)
    tls_on(cluster, ca)

    # Clients were moved to the TLS port, by name, with the CA to check servers by.
    answer = cluster.credentials(RELATION)
    assert answer["tls"] == "enabled"
    assert answer["tls-ca"].strip() == ca.pem.strip()
    names = [cluster.units[o].address for o in sorted(cluster.units)]
    assert answer["endpoints"] == ",".join(f"{n}:2182" for n in names)
    assert [m.split()[0] for m in follower.moves] == ["disabled", "enabled"]

    for ordinal, unit in sorted(cluster.units.items()):
        # Each server presents its own certificate, for its pod's name, signed by the CA.
        served = peer_certificate(unit.address, 2182, str(ca_file))
        assert ("DNS", unit.address) in served["subjectAltName"]
        # A TLS 1.2-only client still gets in (tls-protocols' default).
        assert peer_certificate(unit.address, 2182, str(ca_file), ssl.TLSVersion.TLSv1_2)
        # The members speak TLS to each other: the election port does a handshake.
        elected = peer_certificate(unit.address, 3888, str(ca_file))
        assert ("DNS", unit.address) in elected["subjectAltName"]
        # Nothing off the pod speaks plaintext to a server any more.
        ip = network.unit_address(ordinal)
        assert refused(ip, 2181), f"unit {ordinal} still takes plaintext clients"

    cluster.unrelate_certificates()
    cluster.wait_serving()
    cluster.settle()
    assert cluster.app_data["tls"] == '"off"', (
        cluster.juju.log[-40:],
        {o: (u.status, u.unit_data) for o, u in cluster.units.items()},
    )
    answer = cluster.credentials(RELATION)
    assert answer["tls"] == "disabled"
    assert answer["endpoints"] == ",".join(f"{n}:2181" for n in names)
    assert [m.split()[0] for m in follower.moves] == ["disabled", "enabled", "disabled"]
    for ordinal in cluster.units:
        assert refused(network.unit_address(ordinal), 2182)
        assert not refused(network.unit_address(ordinal), 2181)

    # The client app never lost its session and every write it was told of is there.
    for mode, writer in follower.writers:
        deadline_poll(lambda w=writer: len(w.acknowledged) > 0, 30, f"{mode} writes")
    follower.stop()
    assert follower.expired == [0, 0, 0]
    assert follower.missing() == []


def test_a_peer_with_a_certificate_from_another_ca_is_refused(cluster: Cluster, tmp_path):
    deployed(cluster)
    tls_on(cluster, CA())
    stranger = CA("another-ca")
    certificate, key = stranger.client(cluster.units[1].address)
    (tmp_path / "c.pem").write_text(certificate)
    (tmp_path / "k.pem").write_text(key)
    context = ssl.create_default_context(cafile=None)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    unit = cluster.units[0]
    with (
        network.inside(cluster.units[1].netns),
        socket.create_connection((unit.address, 3888), timeout=5) as raw,
        # TLS 1.3 checks the client's certificate after the handshake: the refusal (an
        # alert) comes with the first read; a member that took it would wait for more.
        pytest.raises(ssl.SSLError, match=r"(?i)alert|certificate"),
        context.wrap_socket(raw, server_hostname=unit.address) as tls,
    ):
        tls.settimeout(5)
        tls.recv(1)


def test_a_renewed_certificate_is_served_with_no_restart(cluster: Cluster, tmp_path):
    deployed(cluster)
    ca = CA()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(ca.pem)
    tls_on(cluster, ca)
    unit = cluster.units[0]

    def serial() -> int:
        return int(peer_certificate(unit.address, 2182, str(ca_file))["serialNumber"], 16)

    before = serial()
    pids = {o: u.process.pid for o, u in cluster.units.items()}
    restarts = list(cluster.restart_log)
    cluster.renew_certificates()
    cluster.settle()
    deadline_poll(lambda: serial() != before, 60, "the renewed certificate served")
    assert serial() in ca.issued[-3:]  # one of the three just issued
    assert {o: u.process.pid for o, u in cluster.units.items()} == pids
    assert cluster.restart_log == restarts
    cluster.wait_serving()


def test_a_new_ca_is_rolled_in_without_splitting_the_quorum(cluster: Cluster, tmp_path):
    deployed(cluster)
    tls_on(cluster, CA("first-ca"))
    pids = {o: u.process.pid for o, u in cluster.units.items()}
    second = CA("second-ca")
    ca_file = tmp_path / "second.pem"
    ca_file.write_text(second.pem)
    cluster.renew_certificates(second)
    cluster.settle()
    for unit in cluster.units.values():
        deadline_poll(
            lambda u=unit: verifies(u.address, 2182, str(ca_file)),
            60,
            f"{unit.name} serving a certificate from the new CA",
        )
    # Only the new CA is trusted once every member moved to it.
    trusted = json.loads(cluster.app_data["tls-cas"])
    assert [ca.strip() for ca in trusted] == [second.pem.strip()]
    assert {o: u.process.pid for o, u in cluster.units.items()} == pids
    # A member that starts again now joins its peers over TLS with the new certificates.
    cluster.kill_process(cluster.units[1])
    cluster.settle()
    cluster.wait_serving()
    assert all(h.voters == 3 for h in cluster.wait_serving().values())


def with_client_auth(cluster: Cluster, value: str) -> CA:
    """TLS on from a new CA, then `juju config zookeeper-k8s tls-client-auth=<value>`
    rolled out; the CA."""
    ca = CA()
    tls_on(cluster, ca)
    cluster.config["tls-client-auth"] = value
    for ordinal in sorted(cluster.units):
        cluster.juju.add([Hook(ordinal, "config_changed")])
    cluster.drain()
    cluster.wait_serving()
    cluster.settle()
    return ca


def test_with_client_auth_need_only_clients_with_a_certificate_from_the_ca_connect(
    related, tmp_path
):
    cluster, follower = related
    ca = with_client_auth(cluster, "need")
    assert all(u.status.name == "active" for u in cluster.units.values())
    answer = cluster.credentials(RELATION)
    hosts = answer["endpoints"] + "/follower"
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(answer["tls-ca"])
    server_only = {"use_ssl": True, "ca": str(ca_file), "verify_certs": True}
    with pytest.raises(KazooTimeoutError):
        zk.connect(hosts, sasl=follower.user, tls=server_only)
    mutual = with_client_certificate(server_only, tmp_path, "client", ca.client("follower"))
    with zk.session(hosts, sasl=follower.user, tls=mutual) as client:
        client.create("/writes/mtls", b"x")
    stranger = CA("another-ca").client("follower")
    forged = with_client_certificate(server_only, tmp_path, "stranger", stranger)
    with pytest.raises(KazooTimeoutError):
        zk.connect(hosts, sasl=follower.user, tls=forged)


def test_under_client_auth_the_certificate_an_app_names_opens_its_chroot_and_no_other(
    related, tmp_path
):
    cluster, follower = related
    # want: the app beside it keeps logging in by password over TLS without a certificate.
    ca = with_client_auth(cluster, "want")
    # The app names its certificate's subject as Python prints it; the server's x509
    # provider (Java's X500Principal) must derive the very same identity from it.
    certificate, key = ca.client("certapp", organization="acme")
    subject = x509.load_pem_x509_certificate(certificate.encode()).subject.rfc4514_string()
    assert subject == "CN=certapp,O=acme"
    cluster.relate(
        "certapp",
        {
            "database": "/certapp",
            "requested-secrets": '["username", "password", "uris"]',
            "x509-subject": subject,
        },
        RELATION + 1,
    )
    cluster.settle()
    answer = cluster.credentials(RELATION + 1)
    assert answer["x509-subject"] == subject
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(answer["tls-ca"])
    server_only = {"use_ssl": True, "ca": str(ca_file), "verify_certs": True}
    own = with_client_certificate(server_only, tmp_path, "certapp", (certificate, key))
    hosts = answer["endpoints"]
    # No password at all: the certificate is the app's login, in its chroot only.
    with zk.session(hosts + "/certapp", tls=own) as client:
        client.create("/jobs", b"1")
        assert client.get("/jobs")[0] == b"1"
    with zk.session(hosts, tls=own) as client:
        for path in ("/follower", "/follower/writes", "/zookeeper-k8s/policy"):
            with pytest.raises(NoAuthError):
                client.exists(path)
        with pytest.raises(NoAuthError):
            client.create("/stolen", b"")
    # Another certificate from the same CA connects (any CA-signed certificate does) and
    # owns nothing: not the app's chroot, whatever ACL the app's znodes were given.
    intruder = with_client_certificate(server_only, tmp_path, "intruder", ca.client("intruder"))
    with zk.session(hosts, tls=intruder) as client:
        for path in ("/certapp", "/certapp/jobs"):
            with pytest.raises(NoAuthError):
                client.exists(path)
        with pytest.raises(NoAuthError):
            client.set("/certapp/jobs", b"2")
    # The password app beside it, without a certificate, wrote on throughout.
    assert follower.expired == [0] * len(follower.expired)
    assert follower.missing() == []
