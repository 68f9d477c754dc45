"""The TLS switch's steps: forward only when every member runs the current step and has its
certificate, back as soon as the certificates relation is gone; what clients are told."""

from __future__ import annotations

import pytest

import render
import tlsplan
from config import parse
from ensemble import EnsembleConfig, Server, client_rebinds
from layout import K8S
from state import ClusterUnitData

OFF, UNIFIED, QUORUM, ON = tlsplan.ORDER


def units(*phases, ca="CA"):
    return {o: ClusterUnitData(running_tls=p, tls_ca=ca) for o, p in enumerate(phases)}


@pytest.mark.parametrize(("now", "then"), [(OFF, UNIFIED), (UNIFIED, QUORUM), (QUORUM, ON)])
def test_switching_on_takes_one_step_once_every_server_runs_the_last(now, then):
    assert tlsplan.next_phase(now, True, units(now, now, now)) is then


@pytest.mark.parametrize(("now", "then"), [(ON, QUORUM), (QUORUM, UNIFIED), (UNIFIED, OFF)])
def test_switching_off_walks_the_same_steps_back(now, then):
    assert tlsplan.next_phase(now, False, units(now, now, now)) is then


@pytest.mark.parametrize("now", tlsplan.ORDER)
def test_no_step_while_one_server_still_runs_another(now):
    behind = tlsplan.ORDER[tlsplan.ORDER.index(now) - 1] if now is not OFF else UNIFIED
    for wanted in (True, False):
        assert tlsplan.next_phase(now, wanted, units(now, behind, now)) is now


def test_tls_starts_only_once_every_unit_has_its_certificate():
    views = units(OFF, OFF, OFF)
    views[2] = ClusterUnitData(running_tls=OFF)
    assert tlsplan.next_phase(OFF, True, views) is OFF
    assert tlsplan.next_phase(OFF, True, units(OFF, OFF, OFF)) is UNIFIED


def test_a_server_from_before_tls_was_tracked_runs_none():
    assert tlsplan.next_phase(OFF, True, {0: ClusterUnitData(tls_ca="CA")}) is UNIFIED
    assert tlsplan.next_phase(UNIFIED, True, {0: ClusterUnitData(tls_ca="CA")}) is UNIFIED


def test_the_end_of_each_direction_stays():
    assert tlsplan.next_phase(ON, True, units(ON, ON)) is ON
    assert tlsplan.next_phase(OFF, False, units(OFF, OFF)) is OFF
    assert tlsplan.next_phase(OFF, True, {}) is OFF


def test_clients_move_to_tls_only_once_every_server_serves_it():
    assert not tlsplan.clients_on_tls(True, units(UNIFIED, OFF), plaintext_open=True)
    assert tlsplan.clients_on_tls(True, units(UNIFIED, QUORUM), plaintext_open=True)
    assert not tlsplan.clients_on_tls(True, {}, plaintext_open=True)


def test_clients_stay_on_tls_switching_off_until_plaintext_is_open_again():
    assert tlsplan.clients_on_tls(False, units(ON, ON), plaintext_open=False)
    assert not tlsplan.clients_on_tls(False, units(QUORUM, QUORUM), plaintext_open=True)


def test_every_ca_a_member_uses_is_trusted_and_an_unused_one_dropped():
    views = {0: ClusterUnitData(tls_ca="new"), 1: ClusterUnitData(tls_ca="old")}
    assert tlsplan.trusted_cas(["old"], views) == ["old", "new"]
    moved = {0: ClusterUnitData(tls_ca="new"), 1: ClusterUnitData(tls_ca="new")}
    assert tlsplan.trusted_cas(["old", "new"], moved) == ["new"]


def test_only_the_last_step_keeps_plaintext_clients_on_loopback():
    assert [tlsplan.plaintext_on_loopback(p) for p in tlsplan.ORDER] == [
        False,
        False,
        False,
        True,
    ]


def settings(phase, **config):
    return render.parse_properties(
        render.zoo_cfg(parse(config), K8S, "zk-0.zk-endpoints.m.svc.cluster.local", "d", tls=phase)
    )


def test_no_tls_setting_while_tls_is_off():
    assert not [k for k in settings(OFF) if "ssl" in k.lower() or "secure" in k.lower()]


@pytest.mark.parametrize(
    ("phase", "quorum_tls", "unified"),
    [(UNIFIED, "false", "true"), (QUORUM, "true", "true"), (ON, "true", "false")],
)
def test_each_step_is_zookeepers_port_unification_procedure(phase, quorum_tls, unified):
    got = settings(phase)
    assert got["secureClientPort"] == "2182"
    assert got["sslQuorum"] == quorum_tls
    assert got["portUnification"] == unified
    for prefix in ("ssl.", "ssl.quorum."):
        assert got[prefix + "keyStore.location"] == str(K8S.keystore)
        assert got[prefix + "keyStore.type"] == "PEM"
        assert got[prefix + "trustStore.location"] == str(K8S.truststore)
        assert got[prefix + "trustStore.type"] == "PEM"
    assert got["ssl.quorum.hostnameVerification"] == "true"
    assert got["ssl.quorum.clientAuth"] == "need"
    assert got["client.certReload"] == got["sslQuorumReloadCertFiles"] == "true"


@pytest.mark.parametrize(
    ("protocols", "protocol", "enabled"),
    [
        ("TLSv1.3,TLSv1.2", "TLSv1.3", "TLSv1.3,TLSv1.2"),
        ("TLSv1.2", "TLSv1.2", "TLSv1.2"),
        ("TLSv1.2,TLSv1.3", "TLSv1.3", "TLSv1.2,TLSv1.3"),
    ],
)
def test_servers_accept_the_configured_protocols(protocols, protocol, enabled):
    got = settings(ON, **{"tls-protocols": protocols})
    for prefix in ("ssl.", "ssl.quorum."):
        assert got[prefix + "protocol"] == protocol
        assert got[prefix + "enabledProtocols"] == enabled


@pytest.mark.parametrize("auth", ["none", "want", "need"])
def test_client_certificates_as_configured(auth):
    got = settings(ON, **{"tls-client-auth": auth})
    assert got["ssl.clientAuth"] == auth
    assert got["ssl.clientHostnameVerification"] == "false"


def test_plaintext_clients_move_to_loopback_by_reconfig_and_back():
    committed = EnsembleConfig(
        (Server(1, "a"), Server(2, "b", client_host="127.0.0.1"), Server(3, "c"))
    )

    def closed(address):
        return K8S.client_host(address, True)

    moved = client_rebinds(committed, closed)
    assert [(s.id, s.client_host) for s in moved] == [(1, "127.0.0.1"), (3, "127.0.0.1")]
    assert moved[0].line == "server.1=a:2888:3888:participant;127.0.0.1:2181"
    back = client_rebinds(committed, lambda address: K8S.client_host(address, False))
    assert [(s.id, s.client_host) for s in back] == [(2, "0.0.0.0")]
    # One member on loopback is enough for the charm to reach members over TLS.
    assert committed.plaintext_on_loopback
    assert not EnsembleConfig((Server(1, "a"), Server(3, "c"))).plaintext_on_loopback


def test_a_ca_counts_as_trusted_everywhere_only_once_every_member_with_a_certificate_says_so():
    both, old_only = ["fp-new", "fp-old"], ["fp-old"]
    views = {
        0: ClusterUnitData(tls_ca="OLD", tls_trusts=both),
        1: ClusterUnitData(tls_ca="OLD", tls_trusts=old_only),
        2: ClusterUnitData(),  # no certificate yet: it will trust what the leader lists
    }
    assert tlsplan.trusted_everywhere(views) == ["fp-old"]
    views[1] = ClusterUnitData(tls_ca="OLD", tls_trusts=both)
    assert tlsplan.trusted_everywhere(views) == both
    assert tlsplan.trusted_everywhere({2: ClusterUnitData()}) == []
