"""A client charm that uses only the requirer library, against the real ensemble: what the
library makes of our answers connects (SASL, digest, TLS), its ACLs hold, a scale shows as
new servers, removing the relation takes access away; and quotas hold per client.

The client charm runs under ops.testing (the library charm of tests/unit/test_requirer_lib)
on what the stand-in Juju holds for it: our charm's answer and the latest revisions of the
secrets granted to its relation. Its kazoo clients then talk to the real servers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError, QuotaExceededError
from ops import testing

from tests.ca import CA
from tests.live.cluster import Cluster, deadline_poll
from tests.live.test_clients import DENIED
from tests.live.test_tls import tls_on
from tests.live.writer import Writer, client_app
from tests.live.zk import closing
from tests.unit.test_requirer_lib import META, LibCharm, asks

RELATION = 70


@dataclasses.dataclass
class ClientCharm:
    """The library charm's last hook: the events it got and what `info()` gave."""

    events: list[str]
    info: object
    state: testing.State | None = None


def library_hook(cluster: Cluster, request, previous: ClientCharm | None = None, event="changed"):
    relation_data = cluster.clients[RELATION].answer if RELATION in cluster.clients else {}
    answer = dict(relation_data)
    secrets = [
        testing.Secret(cluster.secret(id=answer[field]), id=answer[field])
        for field in ("secret-user", "secret-tls")
        if field in answer
    ]
    relation = testing.Relation(
        "zookeeper",
        id=RELATION,
        remote_app_name="zookeeper-k8s",
        local_app_data=dict(request),
        remote_app_data=answer,
    )
    state = testing.State(
        leader=True,
        relations={relation},
        secrets=secrets,
        stored_states=previous.state.stored_states if previous else frozenset(),
    )
    ctx = testing.Context(LibCharm, meta=META)
    trigger = (
        ctx.on.relation_broken(relation)
        if event == "broken"
        else ctx.on.relation_changed(relation)
    )
    with ctx(trigger, state) as manager:
        out = manager.run()
        info = manager.charm.zookeeper.info() if event != "broken" else None
        return ClientCharm(list(manager.charm.events), info, out)


def started(**kwargs) -> KazooClient:
    client = KazooClient(timeout=10, connection_retry={"max_tries": 3}, **kwargs)
    client.start(timeout=15)
    return client


@contextlib.contextmanager
def connected(**kwargs) -> Iterator[KazooClient]:
    client = started(**kwargs)
    try:
        yield client
    finally:
        closing(client)


def test_a_library_charm_connects_is_isolated_follows_a_scale_and_loses_access(
    cluster: Cluster, tmp_path
):
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.settle()
    request = asks()  # the library's relation-created
    cluster.relate("kafka", request, RELATION)
    cluster.settle()
    charm = library_hook(cluster, request)
    assert charm.events == ["CredentialsReadyEvent"]
    info = charm.info

    sasl = started(**info.kazoo_kwargs())
    sasl.create("/jobs", b"1", acl=info.kazoo_acls())
    with connected(**info.kazoo_kwargs("digest")) as digest:
        assert digest.get("/jobs")[0] == b"1"
    # Another app sees nothing of it, whatever the ACL the library gave.
    _, other = client_app(cluster, "other", RELATION + 1)
    with (
        connected(hosts=info.servers, sasl_options=sasl_of(other)) as intruder,
        pytest.raises(NoAuthError),
    ):
        intruder.exists("/kafka/jobs")

    cluster.scale(4)
    cluster.wait_serving()
    cluster.settle()
    charm = library_hook(cluster, request, charm)
    assert "EndpointsChangedEvent" in charm.events
    assert len(charm.info.endpoints) == 4
    with connected(**charm.info.kazoo_kwargs()) as moved:
        assert moved.get("/jobs")[0] == b"1"

    ca = CA()
    tls_on(cluster, ca)
    charm = library_hook(cluster, request, charm)
    assert "TLSChangedEvent" in charm.events
    assert charm.info.tls and all(e.endswith(":2182") for e in charm.info.endpoints)
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(charm.info.tls_ca)
    with connected(**charm.info.kazoo_kwargs(ca_file=str(ca_file))) as secure:
        assert secure.get("/jobs")[0] == b"1"

    cluster.unrelate(RELATION)
    gone = library_hook(cluster, request, charm, event="broken")
    assert gone.events == ["RelationGoneEvent"]
    with pytest.raises(DENIED):
        started(**charm.info.kazoo_kwargs(ca_file=str(ca_file))).get("/jobs")
    closing(sasl)


def sasl_of(credentials: tuple[str, str]) -> dict:
    return {"mechanism": "DIGEST-MD5", "username": credentials[0], "password": credentials[1]}


def test_a_client_over_its_quota_is_refused_by_zookeeper_while_another_writes_on(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.settle()
    # The small app asks for less than the charm's limits: 5 znodes (its chroot counts as
    # one) and 1 KiB of data.
    cluster.relate(
        "small",
        {
            "database": "/small",
            "requested-secrets": json.dumps(["username", "password", "uris"]),
            "quota-znodes": "5",
            "quota-bytes": "1024",
        },
        RELATION,
    )
    small = cluster.credentials(RELATION)
    _, user = client_app(cluster, "busy", RELATION + 1)
    hosts = cluster.credentials(RELATION + 1)["uris"]
    login = sasl_of((small["username"], small["password"]))
    with Writer(hosts, None, path="/writes", sasl=user) as busy:
        with connected(hosts=small["uris"], sasl_options=login) as client:
            for n in range(4):
                client.create(f"/n{n}", b"")
            with pytest.raises(QuotaExceededError):
                client.create("/one-too-many", b"")
            client.delete("/n3")
            with pytest.raises(QuotaExceededError):
                client.create("/big", b"x" * 2048)
            assert sorted(client.get_children("/")) == ["n0", "n1", "n2"]
        written = len(busy.acknowledged)
        deadline_poll(
            lambda: len(busy.acknowledged) > written + 100, 20, "the busy app writing on"
        )
    assert busy.errors == 0
    assert busy.missing() == []
    busy.close()
