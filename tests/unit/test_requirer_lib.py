"""The requirer library (lib/charms/zookeeper_k8s/v0/zookeeper.py) against our provider's
real answers, and against what an older v0 provider sends.

Both charms run under ops.testing: the library charm's relation-created output becomes our
charm's remote databag; our charm answers (test_provider's stand-in ZooKeeper behind it);
our databag and the secrets it granted become the library charm's view (test_protocol's
`granted_to_requirer`: same IDs, the revision the requirer tracks, the latest one).
"""

from __future__ import annotations

import dataclasses
import json

import ops
import pytest
from kazoo.security import ACL, Id, Permissions
from ops import testing

import clients
from charms.zookeeper_k8s.v0 import zookeeper as lib
from tests.unit.test_protocol import (
    APP,
    RELATION_ID,
    granted_to_requirer,
    provider_answers,
)
from tests.unit.test_provider import answer, client, endpoints, records, run, zk_state

META = {"name": "myapp", "requires": {"zookeeper": {"interface": "zookeeper"}}}


class LibCharm(ops.CharmBase):
    """A client charm that uses only the library, in the few lines its docstring shows."""

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.zookeeper = lib.ZooKeeperRequirer(self, chroot="/kafka", **type(self).OPTIONS)
        self.events: list[str] = []
        for name in ("credentials_ready", "endpoints_changed", "tls_changed", "relation_gone"):
            self.framework.observe(getattr(self.zookeeper.on, name), self._record)

    OPTIONS: dict = {}

    def _record(self, event: ops.RelationEvent) -> None:
        self.events.append(type(event).__name__)


class ReadOnlyCharm(LibCharm):
    OPTIONS = {"roles": "r", "x509_subject": "CN=kafka,O=acme", "quota_znodes": 50}


def asks(charm_type=LibCharm, leader=True) -> dict[str, str]:
    ctx = testing.Context(charm_type, meta=META)
    relation = testing.Relation("zookeeper", id=RELATION_ID, remote_app_name=APP)
    out = ctx.run(
        ctx.on.relation_created(relation), testing.State(leader=leader, relations={relation})
    )
    return dict(out.get_relation(RELATION_ID).local_app_data)


@dataclasses.dataclass
class Seen:
    events: list[str]
    info: lib.ZooKeeperInfo | None
    state: testing.State


def reads(provider_out, *, request, after: Seen | None = None, tracked=None, event="changed"):
    """The library charm's hook with our answer; `after`: its own previous hook's output
    (its stored state), `tracked`: the provider output whose revisions it still tracks."""
    ctx = testing.Context(LibCharm, meta=META)
    relation = testing.Relation(
        "zookeeper",
        id=RELATION_ID,
        remote_app_name=APP,
        local_app_data=request,
        remote_app_data=answer(provider_out, RELATION_ID) if provider_out else {},
    )
    secrets = granted_to_requirer(provider_out, tracked) if provider_out else []
    state = testing.State(
        leader=True,
        relations={relation},
        secrets=secrets,
        stored_states=after.state.stored_states if after else frozenset(),
    )
    if event == "changed":
        trigger = ctx.on.relation_changed(relation)
    elif event == "secret":
        trigger = ctx.on.secret_changed(secrets[0])
    else:
        trigger = ctx.on.relation_broken(relation)
    with ctx(trigger, state) as manager:
        out = manager.run()
        charm = manager.charm
        info = charm.zookeeper.info() if event != "broken" else None
        return Seen(list(charm.events), info, out)


def password_in(provider_out) -> str:
    (user,) = [
        s for s in provider_out.secrets if s.label == f"zookeeper.{RELATION_ID}.user.secret"
    ]
    return user.latest_content["password"]


# -- asking ------------------------------------------------------------------------------------


def test_the_leader_asks_for_its_chroot_in_both_v0_names_and_its_secrets():
    assert asks() == {
        "database": "/kafka",
        "chroot": "/kafka",
        "requested-secrets": json.dumps(lib.REQUESTED_SECRETS),
    }


def test_roles_and_a_certificate_subject_are_asked_for_when_given():
    request = asks(ReadOnlyCharm)
    assert request["extra-user-roles"] == "r"
    assert request["x509-subject"] == "CN=kafka,O=acme"
    assert request["quota-znodes"] == "50"
    assert "quota-bytes" not in request


def test_a_non_leader_writes_nothing():
    assert asks(leader=False) == {}


@pytest.mark.parametrize("chroot", ["kafka", "/", ""])
def test_a_chroot_that_is_not_an_absolute_path_is_refused_at_once(chroot):
    class Bad(LibCharm):
        def __init__(self, framework):
            ops.CharmBase.__init__(self, framework)
            lib.ZooKeeperRequirer(self, chroot=chroot)

    ctx = testing.Context(Bad, meta=META)
    with pytest.raises(testing.errors.UncaughtCharmError, match="absolute path"):
        ctx.run(ctx.on.install(), testing.State())


# -- reading our provider's answers -----------------------------------------------


def test_our_providers_answer_is_credentials_ready_once_with_everything_in_it(disk, zookeeper):
    request = asks()
    provided = provider_answers(disk, request)

    seen = reads(provided, request=request)

    assert seen.events == ["CredentialsReadyEvent"]
    info = seen.info
    assert info.username == f"relation-{RELATION_ID}"
    assert info.password == password_in(provided)
    assert info.chroot == "/kafka"
    assert info.servers == endpoints(0, 1, 2)
    assert info.hosts == endpoints(0, 1, 2) + "/kafka"
    assert info.tls is False and info.tls_ca is None
    assert info.version == "3.9.4"
    # The same answer again is no news.
    assert reads(provided, request=request, after=seen).events == []


def test_after_a_scale_the_new_servers_are_reported_from_the_latest_revision(disk, zookeeper):
    request = asks()
    provided = provider_answers(disk, request)
    first = reads(provided, request=request)
    user = [s for s in provided.secrets if s.label.endswith(".user.secret")]
    scaled = run(
        zk_state(
            disk,
            client(RELATION_ID, request, local_app_data=answer(provided, RELATION_ID)),
            planned=4,
            members=(0, 1, 2, 3),
            records=records(provided),
            secrets=user,
        ),
        relation_id=RELATION_ID,
    )

    # The requirer still tracks the old revision of its user secret; it reads the latest.
    seen = reads(scaled, request=request, after=first, tracked=provided, event="secret")

    assert seen.events == ["EndpointsChangedEvent"]
    assert seen.info.servers == endpoints(0, 1, 2, 3)
    assert seen.info.password == first.info.password


def test_tls_on_is_tls_changed_with_the_ca_to_verify_servers_by(disk, zookeeper):
    request = asks()
    provided = provider_answers(disk, request)
    first = reads(provided, request=request)
    tls_answer = dict(answer(provided, RELATION_ID))
    # What our provider sends once every server serves TLS (test_tls_charm covers when).
    (tls_secret,) = [s for s in provided.secrets if s.label.endswith(".tls.secret")]
    on = dataclasses.replace(
        provided,
        secrets={
            *(s for s in provided.secrets if s.id != tls_secret.id),
            dataclasses.replace(tls_secret, latest_content={"tls": "enabled", "tls-ca": "PEM"}),
        },
    )
    tls_answer["endpoints"] = tls_answer["endpoints"].replace(":2181", ":2182")
    on = dataclasses.replace(
        on,
        relations={
            *(r for r in on.relations if r.id != RELATION_ID),
            dataclasses.replace(on.get_relation(RELATION_ID), local_app_data=tls_answer),
        },
    )

    seen = reads(on, request=request, after=first)

    assert seen.events == ["EndpointsChangedEvent", "TLSChangedEvent"]
    assert seen.info.tls is True and seen.info.tls_ca == "PEM"
    assert seen.info.kazoo_kwargs(ca_file="/ca.pem")["use_ssl"] is True


def test_a_rotated_password_is_credentials_ready_again(disk, zookeeper):
    request = asks()
    provided = provider_answers(disk, request)
    first = reads(provided, request=request)
    (user,) = [s for s in provided.secrets if s.label.endswith(".user.secret")]
    rotated = dataclasses.replace(
        provided,
        secrets={
            *(s for s in provided.secrets if s.id != user.id),
            dataclasses.replace(user, latest_content={**user.latest_content, "password": "new"}),
        },
    )

    seen = reads(rotated, request=request, after=first, tracked=provided, event="secret")

    assert seen.events == ["CredentialsReadyEvent"]
    assert seen.info.password == "new"


def test_the_relation_going_is_relation_gone(disk, zookeeper):
    request = asks()
    provided = provider_answers(disk, request)
    first = reads(provided, request=request)
    assert reads(provided, request=request, after=first, event="broken").events == [
        "RelationGoneEvent"
    ]


def test_before_the_provider_answers_there_is_no_info_and_no_event():
    seen = reads(None, request=asks())
    assert seen.events == [] and seen.info is None


def test_an_older_provider_with_plain_fields_and_no_endpoints_is_read_too():
    """A v0 provider that kept everything in plain data (no requested-secrets support) and
    gave only `uris`."""
    older = {
        "username": "relation-7",
        "password": "pw",
        "chroot": "/kafka",
        "uris": "b:2181,a:2181/kafka",
        "tls": "disabled",
    }
    ctx = testing.Context(LibCharm, meta=META)
    relation = testing.Relation(
        "zookeeper", id=RELATION_ID, remote_app_name=APP, remote_app_data=older
    )
    with ctx(
        ctx.on.relation_changed(relation), testing.State(leader=True, relations={relation})
    ) as m:
        m.run()
        info = m.charm.zookeeper.info()
        assert m.charm.events == ["CredentialsReadyEvent"]
    assert info.endpoints == ("a:2181", "b:2181")
    assert info.hosts == "a:2181,b:2181/kafka"


# -- what clients need --------------------------------------------------------------------------

INFO = lib.ZooKeeperInfo(
    username="relation-7",
    password='p"w\\1',
    chroot="/kafka",
    endpoints=("a:2182", "b:2182"),
    tls=True,
    tls_ca="PEM",
    x509_subject="CN=kafka,O=acme",
)


def test_kazoo_keyword_arguments_for_each_login():
    assert INFO.kazoo_kwargs(ca_file="/ca") == {
        "hosts": "a:2182,b:2182/kafka",
        "sasl_options": {
            "mechanism": "DIGEST-MD5",
            "username": "relation-7",
            "password": 'p"w\\1',
        },
        "use_ssl": True,
        "ca": "/ca",
        "verify_certs": True,
    }
    assert INFO.kazoo_kwargs("digest", ca_file="/ca")["auth_data"] == [
        ("digest", 'relation-7:p"w\\1')
    ]
    x509 = INFO.kazoo_kwargs("x509", ca_file="/ca", certfile="/c", keyfile="/k")
    assert "sasl_options" not in x509 and "auth_data" not in x509
    assert (x509["certfile"], x509["keyfile"]) == ("/c", "/k")


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({}, "write tls_ca to a file"),
        ({"auth": "kerberos", "ca_file": "/ca"}, "auth must be"),
        ({"auth": "x509", "ca_file": "/ca"}, "certfile and keyfile"),
    ],
)
def test_kazoo_keyword_arguments_refuse_what_cannot_connect(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        INFO.kazoo_kwargs(**kwargs)


def test_a_jaas_client_section_with_the_password_quoted():
    assert INFO.jaas_client_section() == (
        "Client {\n"
        "    org.apache.zookeeper.server.auth.DigestLoginModule required\n"
        '    username="relation-7"\n'
        '    password="p\\"w\\\\1";\n'
        "};\n"
    )


def test_url_asab_and_patroni_forms():
    assert INFO.url() == "zookeeper://a:2182,b:2182/kafka"
    assert INFO.asab_config() == {"servers": "a:2182,b:2182", "path": "/kafka"}
    assert INFO.patroni_config(cacert="/ca", cert="/c", key="/k") == {
        "namespace": "/kafka/service",
        "zookeeper": {
            "hosts": ["a:2182", "b:2182"],
            "use_ssl": True,
            "cacert": "/ca",
            "verify": True,
            "cert": "/c",
            "key": "/k",
            "set_acls": {"CN=kafka,O=acme": ["ALL"]},
        },
    }


def test_acls_close_znodes_to_the_app_however_it_logs_in():
    digest = clients.digest_id("relation-7", 'p"w\\1')  # ZooKeeper's digest of user:password
    assert INFO.acl() == [
        ("sasl", "relation-7", "cdrw"),
        ("digest", digest, "cdrw"),
        ("x509", "CN=kafka,O=acme", "cdrw"),
    ]
    rw = Permissions.READ | Permissions.WRITE
    assert INFO.kazoo_acls("rw") == [
        ACL(rw, Id("sasl", "relation-7")),
        ACL(rw, Id("digest", digest)),
        ACL(rw, Id("x509", "CN=kafka,O=acme")),
    ]
