"""The Kubernetes objects the leader keeps beside Juju's (a PodDisruptionBudget; the Service
`expose-external` asks for), what clients are told, and the names certificates carry.

The charm's own lightkube shell talks to a stand-in API server at lightkube's HTTP
transport (tests/kubeapi.py, installed for every unit test by conftest's `kube_api`): what
these tests assert is what the charm sent to Kubernetes and what it told Juju.
"""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest
from cryptography import x509
from ops import testing

import admin
import exposure
from config import ExposeExternal
from ensemble import EnsembleConfig
from layout import K8S
from state import ClusterAppData, TLSPhase
from tests.ca import CA
from tests.unit.test_charm import APP, MODEL, context, member_line, peers, pod
from tests.unit.test_provider import (
    PEER_ID,
    answer,
    client,
    run,
    user_secret,
    with_relations,
    zk_state,
)
from tests.unit.test_tls_charm import (
    certificates_relation,
    follower,
    requested,
    with_certificates,
)
from tests.unit.test_upgrade_charm import zk_leader  # noqa: F401 (a fixture)

OWNER = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": APP}
TRUST = (
    "Kubernetes refused the charm's PodDisruptionBudget and client Service: "
    f"run `juju trust {APP} --scope=cluster`"
)
PDB_PATH = f"/apis/policy/v1/namespaces/{MODEL}/poddisruptionbudgets/{APP}"
SERVICE_PATH = f"/api/v1/namespaces/{MODEL}/services/{APP}-external"


def owner(kube_api) -> list[dict]:
    return [{**OWNER, "uid": kube_api.get("statefulsets", APP)["metadata"]["uid"]}]


def the_pdb(kube_api) -> dict:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": APP, "namespace": MODEL, "ownerReferences": owner(kube_api)},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {exposure.APP_LABEL: APP}}},
    }


def the_service(kube_api, kind: str, ports=((2181, "client"),)) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"{APP}-external",
            "namespace": MODEL,
            "ownerReferences": owner(kube_api),
        },
        "spec": {
            "type": kind,
            "selector": {exposure.APP_LABEL: APP},
            "externalTrafficPolicy": "Local",
            "ports": [
                {"name": name, "port": port, "targetPort": port, "protocol": "TCP"}
                for port, name in ports
            ],
        },
    }


def configured(state, **config) -> testing.State:
    options = {k.replace("_", "-"): v for k, v in config.items()}
    return dataclasses.replace(state, config={**state.config, **options})


def app_data(state) -> dict:
    return {k: json.loads(v) for k, v in state.get_relation(PEER_ID).local_app_data.items()}


def hook(state, event="config_changed"):
    return run(state, event)


def applied(kube_api) -> list[tuple[str, dict]]:
    return [(r.path, r.body) for r in kube_api.sent("apply")]


# -- the disruption budget ---------------------------------------------------------------


def test_the_leader_applies_one_disruption_budget_owned_by_the_statefulset(disk, kube_api):
    out = hook(zk_state(disk))

    assert applied(kube_api) == [(PDB_PATH, the_pdb(kube_api))]
    (apply,) = kube_api.sent("apply")
    assert apply.query == {"fieldManager": APP, "force": "true"}
    # Not exposed: a Service left from an earlier setting would go (there is none).
    assert [(r.verb, r.path) for r in kube_api.sent("delete")] == [("delete", SERVICE_PATH)]
    assert out.unit_status.name == "active"
    assert kube_api.get("poddisruptionbudgets", APP)["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("event", ["update_status", "config_changed", "leader_elected"])
def test_once_applied_no_hook_asks_kubernetes_again(disk, kube_api, event):
    first = hook(zk_state(disk))
    kube_api.requests.clear()
    clients_before = kube_api.clients

    out = hook(first, event)
    assert kube_api.requests == []
    assert kube_api.clients == clients_before
    assert out.unit_status.name == "active"


@pytest.fixture
def no_lightkube(monkeypatch):
    """A tripwire: importing lightkube or its HTTP client fails the hook."""
    for name in list(sys.modules):
        if name.split(".")[0] in ("lightkube", "httpx2"):
            monkeypatch.delitem(sys.modules, name)

    class Tripwire:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("lightkube", "httpx2"):
                raise AssertionError(f"the hook imported {name}")

    monkeypatch.setattr(sys, "meta_path", [Tripwire(), *sys.meta_path])


def test_update_status_with_nothing_changed_does_not_import_lightkube(disk, kube_api, request):
    first = hook(configured(zk_state(disk), expose_external="nodeport"))
    request.getfixturevalue("no_lightkube")

    out = hook(first, "update_status")
    assert out.unit_status.name == "active"


def test_a_non_leader_leaves_kubernetes_alone(disk, kube_api):
    state = configured(zk_state(disk, leader=False, unit_id=1), expose_external="nodeport")
    out = run(state, "config_changed", unit_id=1)
    assert kube_api.requests == []
    assert out.unit_status.name == "active"


def test_a_bad_value_blocks_naming_the_fix_and_asks_kubernetes_nothing(disk, kube_api):
    first = hook(zk_state(disk))
    kube_api.requests.clear()

    out = hook(configured(first, expose_external="public"))
    assert out.unit_status == testing.BlockedStatus(
        "invalid config: expose-external must be one of false, nodeport or loadbalancer"
    )
    assert kube_api.requests == []
    assert app_data(out) == app_data(first)


# -- nodeport --------------------------------------------------------------------------


@pytest.mark.usefixtures("zookeeper")
def test_nodeport_makes_the_service_and_tells_clients_each_units_node(disk, kube_api):
    state = configured(zk_state(disk, client(5)), expose_external="nodeport")
    out = hook(state)

    assert applied(kube_api) == [
        (PDB_PATH, the_pdb(kube_api)),
        (SERVICE_PATH, the_service(kube_api, "NodePort")),
    ]
    assert kube_api.sent("delete") == []
    node_port = kube_api.get("services", f"{APP}-external")["spec"]["ports"][0]["nodePort"]
    told = f"10.0.0.1:{node_port},10.0.0.2:{node_port},10.0.0.3:{node_port}"
    assert answer(out, 5)["endpoints"] == told
    assert user_secret(out, 5).latest_content["uris"] == told + "/kafka"
    assert app_data(out)["external-hosts"] == {"0": "10.0.0.1", "1": "10.0.0.2", "2": "10.0.0.3"}
    assert out.unit_status.name == "active"


@pytest.mark.usefixtures("zookeeper")
def test_units_sharing_a_node_are_told_once_and_an_external_ip_wins(disk, kube_api):
    kube_api.add_node("big", "10.0.0.9", external="198.51.100.4")
    for ordinal in range(3):
        kube_api.schedule(APP, ordinal, "big")
    out = hook(configured(zk_state(disk, client(5)), expose_external="nodeport"))

    node_port = kube_api.get("services", f"{APP}-external")["spec"]["ports"][0]["nodePort"]
    assert answer(out, 5)["endpoints"] == f"198.51.100.4:{node_port}"


@pytest.mark.usefixtures("zookeeper")
def test_a_pod_moved_to_another_node_is_told_after_its_next_report(disk, kube_api):
    first = hook(configured(zk_state(disk, client(5)), expose_external="nodeport"))
    kube_api.add_node("node-9", "10.0.0.9")
    kube_api.schedule(APP, 2, "node-9")  # the pod was recreated elsewhere
    kube_api.requests.clear()

    # Its server started again: its report wakes the leader (a peer relation-changed).
    ctx = context(0)
    out = ctx.run(ctx.on.relation_changed(peers(first), remote_unit=2), first)
    assert kube_api.writes() == []  # nothing to apply: only looked
    assert app_data(out)["external-hosts"]["2"] == "10.0.0.9"
    assert "10.0.0.9:" in answer(out, 5)["endpoints"]


@pytest.mark.usefixtures("zookeeper")
def test_update_status_keeps_a_known_nodeport_without_asking(disk, kube_api):
    first = hook(configured(zk_state(disk, client(5)), expose_external="nodeport"))
    kube_api.requests.clear()

    out = hook(first, "update_status")
    assert kube_api.requests == []
    assert answer(out, 5)["endpoints"] == answer(first, 5)["endpoints"]


@pytest.mark.usefixtures("zookeeper")
def test_a_new_unit_gets_its_node_told(disk, kube_api):
    first = hook(configured(zk_state(disk, client(5)), expose_external="nodeport"))
    kube_api.add_node("node-3", "10.0.0.4")
    kube_api.schedule(APP, 3, "node-3")
    members = json.dumps([member_line(o).strip() for o in range(4)])
    cluster = first.get_relation(PEER_ID)
    cluster = dataclasses.replace(
        cluster,
        local_app_data={**cluster.local_app_data, "members": members},
        peers_data={o: {"state": json.dumps("serving")} for o in (1, 2, 3)},
    )
    state = with_relations(dataclasses.replace(first, planned_units=4), cluster)

    out = hook(state, "update_status")  # even update-status: a unit is not told yet
    assert app_data(out)["external-hosts"]["3"] == "10.0.0.4"
    assert "10.0.0.4:" in answer(out, 5)["endpoints"]


@pytest.mark.usefixtures("zookeeper")
def test_back_to_false_deletes_the_service_and_tells_the_pods_again(disk, kube_api):
    exposed = hook(configured(zk_state(disk, client(5)), expose_external="nodeport"))
    kube_api.requests.clear()

    out = hook(configured(exposed, expose_external="false"))
    assert [(r.verb, r.path) for r in kube_api.writes()] == [
        ("apply", PDB_PATH),
        ("delete", SERVICE_PATH),
    ]
    assert kube_api.get("services", f"{APP}-external") is None
    assert answer(out, 5)["endpoints"] == ",".join(f"{pod(o)}:2181" for o in range(3))
    assert app_data(out)["external-hosts"] == {}
    assert app_data(out)["external-ports"] == {}


@pytest.mark.usefixtures("zookeeper")
def test_nodeport_to_loadbalancer_updates_the_same_service(disk, kube_api):
    kube_api.balancer = {"ip": "203.0.113.7"}
    exposed = hook(configured(zk_state(disk, client(5)), expose_external="nodeport"))
    kube_api.requests.clear()

    out = hook(configured(exposed, expose_external="loadbalancer"))
    assert applied(kube_api)[1] == (SERVICE_PATH, the_service(kube_api, "LoadBalancer"))
    assert kube_api.sent("delete") == []
    assert answer(out, 5)["endpoints"] == "203.0.113.7:2181"
    assert user_secret(out, 5).latest_content["uris"] == "203.0.113.7:2181/kafka"


# -- loadbalancer ------------------------------------------------------------------------


@pytest.mark.usefixtures("zookeeper")
def test_a_load_balancer_without_an_address_yet_keeps_the_pods_and_says_so(disk, kube_api):
    out = hook(configured(zk_state(disk, client(5)), expose_external="loadbalancer"))
    assert answer(out, 5)["endpoints"] == ",".join(f"{pod(o)}:2181" for o in range(3))
    assert out.unit_status.name == "waiting"
    assert out.unit_status.message.startswith("expose-external=loadbalancer: waiting for")

    kube_api.balancer = {"hostname": "zk.example.com"}
    kube_api.get("services", f"{APP}-external")["status"] = {
        "loadBalancer": {"ingress": [kube_api.balancer]}
    }
    kube_api.requests.clear()
    later = hook(out, "update_status")  # update-status looks again while it is not known
    assert [(r.verb, r.path) for r in kube_api.requests] == [("get", SERVICE_PATH)]
    assert answer(later, 5)["endpoints"] == "zk.example.com:2181"
    assert later.unit_status.name == "active"


# -- TLS ---------------------------------------------------------------------------------


def tls_on(state, ca_pem: str) -> testing.State:
    """Every server serves TLS, plaintext clients are on loopback (tlsplan's last step)."""
    cluster = state.get_relation(PEER_ID)
    loopback = [member_line(o).strip().replace("0.0.0.0:2181", "127.0.0.1:2181") for o in range(3)]
    report = {"state": json.dumps("serving"), "running-tls": '"on"', "tls-ca": json.dumps(ca_pem)}
    cluster = dataclasses.replace(
        cluster,
        local_app_data={
            **cluster.local_app_data,
            "members": json.dumps(loopback),
            "tls": '"on"',
            "tls-related": "true",
            "tls-cas": json.dumps([ca_pem]),
        },
        local_unit_data=report,
        peers_data={o: report for o in (1, 2)},
    )
    return with_relations(state, cluster)


def stores_on_disk(disk, ca: CA) -> None:
    """The unit's key and trust stores, as duties/tls.py writes them (the charm's own
    session reaches the other members over TLS with them)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{APP}-0")]))
        .sign(key, hashes.SHA256())
    )
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    certificate = ca.sign(csr.public_bytes(serialization.Encoding.PEM).decode())
    (disk / K8S.keystore).parent.mkdir(parents=True, exist_ok=True)
    (disk / K8S.keystore).write_text(pkcs8 + certificate)
    (disk / K8S.truststore).write_text(ca.pem)


def test_with_tls_on_the_service_carries_only_the_tls_port_and_clients_are_told_it(
    disk, kube_api, monkeypatch, request
):
    zk = request.getfixturevalue("zookeeper")
    # With TLS on, the charm reaches the other members on their TLS port: they all serve.
    monkeypatch.setattr(admin, "server_stats", lambda host, **kw: {"mode": "follower"})
    ca = CA()
    stores_on_disk(disk, ca)
    state = tls_on(configured(zk_state(disk, client(5)), expose_external="nodeport"), ca.pem)
    zk.config = EnsembleConfig.parse(
        "\n".join(json.loads(state.get_relation(PEER_ID).local_app_data["members"]))
    )
    out = hook(state)

    assert applied(kube_api)[1] == (
        SERVICE_PATH,
        the_service(kube_api, "NodePort", ports=((2182, "client-tls"),)),
    )
    node_port = kube_api.get("services", f"{APP}-external")["spec"]["ports"][0]["nodePort"]
    assert answer(out, 5)["endpoints"] == ",".join(f"10.0.0.{n}:{node_port}" for n in (1, 2, 3))


@pytest.mark.parametrize(
    ("phase", "loopback", "ports"),
    [
        (TLSPhase.OFF, False, [2181]),
        (TLSPhase.UNIFIED, False, [2181, 2182]),
        (TLSPhase.QUORUM, False, [2181, 2182]),
        (TLSPhase.ON, False, [2181, 2182]),  # before the reconfig moves plaintext
        (TLSPhase.ON, True, [2182]),
    ],
)
def test_the_service_carries_the_ports_servers_answer_off_the_pod(phase, loopback, ports):
    assert exposure.client_ports(phase, loopback) == ports


def test_clients_are_told_the_pods_for_a_port_the_service_does_not_carry():
    cluster = ClusterAppData(external_hosts={0: "10.0.0.1"}, external_ports={2181: 30001})
    assert exposure.endpoints(cluster, ["pod-0"], 2182) == (["pod-0"], 2182)
    assert exposure.endpoints(cluster, ["pod-0"], 2181) == (["10.0.0.1"], 30001)


# -- without trust -----------------------------------------------------------------------


def test_without_trust_the_leader_is_blocked_with_the_command_and_update_status_waits(
    disk, kube_api
):
    kube_api.forbidden = True
    refused = hook(zk_state(disk))
    assert refused.unit_status == testing.BlockedStatus(TRUST)
    assert len(kube_api.requests) == 1  # refused once: nothing else asked in that hook

    kube_api.requests.clear()
    still = hook(refused, "update_status")
    assert kube_api.requests == []  # no retry on the timer
    assert still.unit_status == testing.BlockedStatus(TRUST)

    kube_api.forbidden = False  # `juju trust zookeeper-k8s --scope=cluster`...
    out = hook(still, "config_changed")  # ...runs config-changed
    assert out.unit_status.name == "active"
    assert applied(kube_api) == [(PDB_PATH, the_pdb(kube_api))]
    assert app_data(out)["k8s-forbidden"] is None


def test_without_trust_a_hook_other_than_update_status_asks_once_more(disk, kube_api):
    kube_api.forbidden = True
    refused = hook(zk_state(disk))
    kube_api.requests.clear()

    ctx = context(0)
    out = ctx.run(ctx.on.relation_changed(peers(refused), remote_unit=1), refused)
    assert len(kube_api.requests) == 1
    assert out.unit_status == testing.BlockedStatus(TRUST)


def test_an_api_server_that_does_not_answer_holds_the_leader_until_it_does(disk, kube_api):
    kube_api.down = True
    held = hook(zk_state(disk))
    assert held.unit_status.name == "waiting"
    assert held.unit_status.message.startswith("waiting for Kubernetes: cannot read StatefulSet")
    assert app_data(held).get("k8s-applied") is None

    kube_api.down = False
    out = hook(held, "update_status")  # not a refusal: the timer tries again
    assert applied(kube_api) == [(PDB_PATH, the_pdb(kube_api))]
    assert out.unit_status.name == "active"


# -- one client a hook -------------------------------------------------------------------


def upgrading(state) -> testing.State:
    cluster = state.get_relation(PEER_ID)
    data = {
        **cluster.local_app_data,
        "upgrade-partition": "2",
        "upgrade-from-revision": '"rev1"',
    }
    return with_relations(state, dataclasses.replace(cluster, local_app_data=data))


@pytest.mark.usefixtures("zk_leader")
def test_the_upgrade_and_the_exposure_share_one_client(disk, kube_api):
    kube_api.get("statefulsets", APP)["status"] = {"replicas": 3, "updateRevision": "rev1"}
    out = hook(upgrading(configured(zk_state(disk), expose_external="nodeport")), "update_status")

    assert kube_api.clients == 1
    paths = {r.path for r in kube_api.requests}
    assert f"/apis/apps/v1/namespaces/{MODEL}/statefulsets/{APP}" in paths  # the upgrade's
    assert SERVICE_PATH in paths  # the exposure's
    assert out.unit_status.message.startswith("upgrade: ")


@pytest.mark.usefixtures("zk_leader")
def test_refused_in_the_upgrade_the_hook_asks_nothing_more(disk, kube_api):
    kube_api.forbidden = True
    out = hook(upgrading(zk_state(disk)), "config_changed")
    assert len(kube_api.requests) == 1
    assert kube_api.clients == 1
    assert out.unit_status.name == "blocked"
    assert "juju trust zookeeper-k8s --scope=cluster" in out.unit_status.message


# -- the certificate's names -------------------------------------------------------------


def names_requested(state) -> tuple[set[str], set[str]]:
    (csr_pem,) = requested(state)
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        set(names.get_values_for_type(x509.DNSName)),
        {str(ip) for ip in names.get_values_for_type(x509.IPAddress)},
    )


def recorded(state, hosts: dict) -> testing.State:
    """unit/1's view once the leader recorded where the Service reaches each unit."""
    relation = peers(state)
    data = {**relation.local_app_data, "external-hosts": json.dumps(hosts)}
    kept = {r for r in state.relations if r.id != relation.id}
    return dataclasses.replace(
        state, relations={*kept, dataclasses.replace(relation, local_app_data=data)}
    )


@pytest.fixture
def asked(disk):
    """unit/1 once it has sent its certificate request (nothing exposed)."""
    ctx = context(1)
    state = with_certificates(follower(disk))
    return ctx.run(ctx.on.relation_created(certificates_relation(state)), state)


@pytest.mark.parametrize(
    ("host", "dns", "ips"),
    [("10.0.0.2", set(), {"10.0.0.2"}), ("zk.example.com", {"zk.example.com"}, set())],
    ids=["nodeport-or-balancer-ip", "balancer-hostname"],
)
def test_a_units_certificate_asks_for_its_external_address_in_the_next_hook(asked, host, dns, ips):
    ctx = context(1)
    state = recorded(asked, {"0": "10.0.0.1", "1": host})
    # A peer hook (the leader's write), not one of the certificates relation's.
    with ctx(ctx.on.relation_changed(peers(state), remote_unit=0), state) as manager:
        out = manager.run()
        assert manager.charm.reconciler.io.certificates is not None

    asked_dns, asked_ips = names_requested(out)
    assert asked_dns == {pod(1), pod(1).split(".", 1)[1], *dns}
    assert asked_ips == ips
    assert json.loads(peers(out).local_unit_data["external-sans"]) == [host]

    # Asked once: the next hook leaves the library alone.
    with ctx(ctx.on.relation_changed(peers(out), remote_unit=0), out) as manager:
        manager.run()
        assert manager.charm.reconciler.io.certificates is None


def test_back_to_false_the_certificate_drops_the_external_address(asked):
    ctx = context(1)
    state = recorded(asked, {"1": "10.0.0.2"})
    exposed = ctx.run(ctx.on.relation_changed(peers(state), remote_unit=0), state)
    state = recorded(exposed, {})
    out = ctx.run(ctx.on.relation_changed(peers(state), remote_unit=0), state)

    _, asked_ips = names_requested(out)
    assert asked_ips == set()
    assert json.loads(peers(out).local_unit_data["external-sans"]) == []


# -- the pure parts ----------------------------------------------------------------------


def test_the_fingerprint_follows_what_kubernetes_must_hold_not_the_owner():
    a = exposure.wanted(APP, MODEL, ExposeExternal.NODEPORT, TLSPhase.OFF, False)
    assert (
        a.fingerprint == exposure.wanted(APP, MODEL, "nodeport", TLSPhase.OFF, False).fingerprint
    )
    assert (
        a.fingerprint
        != exposure.wanted(APP, MODEL, "loadbalancer", TLSPhase.OFF, False).fingerprint
    )
    assert (
        a.fingerprint
        != exposure.wanted(APP, MODEL, "nodeport", TLSPhase.UNIFIED, False).fingerprint
    )
    assert a.manifests("uid-1") != a.manifests("uid-2")


def test_a_node_is_told_by_its_external_address_first():
    assert (
        exposure.node_address([("InternalIP", "10.0.0.1"), ("ExternalIP", "1.2.3.4")]) == "1.2.3.4"
    )
    assert exposure.node_address([("Hostname", "n1"), ("InternalIP", "10.0.0.1")]) == "10.0.0.1"
    assert exposure.node_address([]) is None


def test_clients_are_told_ipv6_nodes_in_brackets_after_the_ipv4_ones():
    cluster = ClusterAppData(
        external_hosts={0: "fd00::2", 1: "10.0.0.10", 2: "10.0.0.9", 3: "node.example"},
        external_ports={2181: 30001},
    )
    hosts, port = exposure.endpoints(cluster, [], 2181)
    assert (hosts, port) == (["10.0.0.9", "10.0.0.10", "[fd00::2]", "node.example"], 30001)
    assert exposure.sans(cluster, 0) == ([], ["fd00::2"])
