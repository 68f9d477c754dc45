"""The relation protocol end to end: a v0 requirer, fed our provider's output, is ready.

What the issue asks: "a requirer charm built on the library's requirer side (in ops.testing),
fed our provider's output, receives username, password, endpoints, uris, chroot, tls and
tls-ca, as Kafka's charm expects."

The stand-in. Kafka's charm speaks data_interfaces v0 through `DatabaseRequires`
(charms.data_platform_libs.v0.data_interfaces), a Charmhub library we may not vendor here;
the pip library dpcharmlibs-interfaces has a requirer, but it speaks only v1 and crashes on a
v0 answer (docs/zookeeper-relation-protocol.md, section 2). So `V0RequirerCharm` below is our
own minimal requirer, written from the v0 semantics the doc records:

- relation-created (leader): write `database` and `chroot` (the app's chroot) and
  `requested-secrets` = ["username", "password", "tls", "tls-ca", "uris"], as Kafka does.
- relation-changed: read the provider's app databag; read each requested field from the
  secret group that holds it (`secret-user`: username, password, uris; `secret-tls`: tls,
  tls-ca), opened by URI with the v0 consumer label and `get_content(refresh=True)`, falling
  back to the databag only when that group's secret is absent; then apply Kafka's readiness
  check (`zookeeper_connected`: username, password, endpoints, database or chroot and uris
  all non-empty) and its TLS check (`tls == "enabled"` must match its own TLS setting).
  It also keeps v0's diff cache (`data` in its unit databag) to tell `database_created`
  from `endpoints_changed`, as DatabaseRequires does.

The round trip runs both charms under ops.testing: the requirer's relation-created output
becomes our charm's remote app databag; our charm (ZooKeeperCharm, with the fake ZooKeeper
of test_provider) answers; our local app databag becomes the requirer's remote app databag,
and the secrets our charm granted to that relation become the requirer's view of them: the
same IDs, no owner (the requirer only reads), the revision it tracks as content.
"""

from __future__ import annotations

import dataclasses
import json

import ops
from ops import testing

import clients
from tests.unit.test_charm import APP, context
from tests.unit.test_provider import (
    KAFKA_SECRETS,
    PEER_ID,
    SERVING,
    VERSION,
    answer,
    client,
    endpoints,
    parse_policy,
    run,
    with_relations,
    zk_state,
)

RELATION_ID = 7
REQUIRER_META = {"name": "kafka", "requires": {"zookeeper": {"interface": "zookeeper"}}}
# data_interfaces v0: which secret group holds each secret field.
GROUPS = {"username": "user", "password": "user", "uris": "user", "tls": "tls", "tls-ca": "tls"}
FIELDS = ("endpoints", "database", "chroot", "version", *GROUPS)


class V0RequirerCharm(ops.CharmBase):
    """Kafka's side of the `zookeeper` relation, as data_interfaces v0 DatabaseRequires does it.

    After relation-changed, `seen` holds every field as the requirer read it, `ready` is
    Kafka's `zookeeper_connected`, and `events` what DatabaseRequires would have emitted.
    """

    CHROOT = "/kafka"
    REQUESTED: tuple[str, ...] = tuple(KAFKA_SECRETS)
    WRITES = ("database", "chroot")  # the keys naming the chroot it asks for
    READS = ("database", "chroot")  # where it looks for the granted chroot, in order
    TLS = False  # its own TLS to ZooKeeper (Kafka: from its certificates relation)

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.seen: dict[str, str | None] = {}
        self.events: list[str] = []
        framework.observe(self.on["zookeeper"].relation_created, self._on_created)
        framework.observe(self.on["zookeeper"].relation_changed, self._on_changed)

    def _on_created(self, event: ops.RelationCreatedEvent) -> None:
        if not self.unit.is_leader():
            return
        request = dict.fromkeys(self.WRITES, self.CHROOT)
        if self.REQUESTED:
            request["requested-secrets"] = json.dumps(list(self.REQUESTED))
        event.relation.data[self.app].update(request)

    def _secret(self, relation: ops.Relation, group: str) -> dict[str, str]:
        uri = relation.data[relation.app].get(f"secret-{group}")
        if not uri:
            return {}
        label = f"{relation.name}.{relation.id}.{group}.secret"  # v0's consumer label
        return self.model.get_secret(id=uri, label=label).get_content(refresh=True)

    def _field(self, relation: ops.Relation, field: str) -> str | None:
        bag = relation.data[relation.app]
        if field in self.REQUESTED:
            content = self._secret(relation, GROUPS[field])
            if content:
                return content.get(field)
        return bag.get(field)

    def _on_changed(self, event: ops.RelationChangedEvent) -> None:
        relation = event.relation
        self.seen = {field: self._field(relation, field) for field in FIELDS}
        chroot = next((self.seen[key] for key in self.READS if self.seen[key]), None)
        self.seen["granted-chroot"] = chroot
        self._diff(relation)
        if not self.ready:
            self.unit.status = ops.WaitingStatus("waiting for zookeeper")
        elif (self.seen["tls"] == "enabled") != self.TLS:
            self.unit.status = ops.BlockedStatus("zookeeper tls does not match")
        else:
            self.unit.status = ops.ActiveStatus()

    @property
    def ready(self) -> bool:
        """Kafka's ZooKeeper.zookeeper_connected."""
        keys = ("username", "password", "endpoints", "granted-chroot", "uris")
        return all(self.seen.get(key) for key in keys)

    def _diff(self, relation: ops.Relation) -> None:
        """DatabaseRequires' relation-changed: diff the provider's bag against its cache."""
        bag = {k: v for k, v in relation.data[relation.app].items() if k != "data"}
        old = json.loads(relation.data[self.unit].get("data", "{}"))
        added = set(bag) - set(old)
        changed = {k for k in set(bag) & set(old) if bag[k] != old[k]}
        relation.data[self.unit]["data"] = json.dumps(bag)
        if "secret-user" in added or {"username", "password"} <= added:
            self.events.append("database_created")
        elif "endpoints" in added | changed:
            self.events.append("endpoints_changed")


class LegacyRequirerCharm(V0RequirerCharm):
    """An older requirer: names its chroot in `chroot` only, and reads only `chroot` back."""

    CHROOT = "/legacy"
    WRITES = ("chroot",)
    READS = ("chroot",)


class TlsRequirerCharm(V0RequirerCharm):
    """A Kafka whose own ZooKeeper TLS is on."""

    TLS = True


# -- the round trip --------------------------------------------------------------------------


def requirer_asks(charm_type) -> dict[str, str]:
    """The requirer's relation-created: its application databag."""
    ctx = testing.Context(charm_type, meta=REQUIRER_META)
    relation = testing.Relation("zookeeper", id=RELATION_ID, remote_app_name=APP)
    out = ctx.run(
        ctx.on.relation_created(relation), testing.State(leader=True, relations={relation})
    )
    return dict(out.get_relation(RELATION_ID).local_app_data)


def granted_to_requirer(provider_out, tracked=None) -> list[testing.Secret]:
    """The requirer's view of what our charm granted to the relation: same ID, no owner.

    tracked: the provider's earlier output, if the requirer still tracks that revision.
    """
    earlier = {s.id: s for s in tracked.secrets} if tracked is not None else {}
    return [
        testing.Secret(
            (earlier.get(s.id) or s).latest_content,
            latest_content=s.latest_content,
            id=s.id,
        )
        for s in provider_out.secrets
        if "kafka" in s.remote_grants.get(RELATION_ID, ())
    ]


@dataclasses.dataclass
class Reading:
    seen: dict
    ready: bool
    events: list
    state: testing.State


def requirer_reads(charm_type, request, provider_out, *, after=None, tracked=None) -> Reading:
    """The requirer's relation-changed with our answer (after: its own previous output)."""
    ctx = testing.Context(charm_type, meta=REQUIRER_META)
    previous = after.state.get_relation(RELATION_ID).local_unit_data if after else {}
    relation = testing.Relation(
        "zookeeper",
        id=RELATION_ID,
        remote_app_name=APP,
        local_app_data=request,
        local_unit_data=dict(previous),
        remote_app_data=answer(provider_out, RELATION_ID),
    )
    state = testing.State(
        leader=True,
        relations={relation},
        secrets=granted_to_requirer(provider_out, tracked),
    )
    with ctx(ctx.on.relation_changed(relation), state) as manager:
        out = manager.run()
        charm = manager.charm
        return Reading(dict(charm.seen), charm.ready, list(charm.events), out)


def provider_answers(disk, request, app="kafka"):
    """Our charm (the leader) gets the requirer's databag: relation-changed."""
    return run(zk_state(disk, client(RELATION_ID, request, app=app)), relation_id=RELATION_ID)


def test_a_kafka_requirer_receives_everything_it_needs_and_is_ready(disk, zookeeper):
    request = requirer_asks(V0RequirerCharm)
    assert request == {
        "database": "/kafka",
        "chroot": "/kafka",
        "requested-secrets": json.dumps(KAFKA_SECRETS),
    }
    provided = provider_answers(disk, request)
    reading = requirer_reads(V0RequirerCharm, request, provided)

    seen = reading.seen
    assert seen["username"] == f"relation-{RELATION_ID}"
    assert len(seen["password"]) >= 32
    assert seen["endpoints"] == endpoints(0, 1, 2)
    assert seen["uris"] == endpoints(0, 1, 2) + "/kafka"
    assert seen["database"] == seen["chroot"] == seen["granted-chroot"] == "/kafka"
    assert seen["version"] == VERSION
    assert seen["tls"] == "disabled"
    assert seen["tls-ca"] is None  # TLS is off: there is no CA to hand over
    assert reading.ready
    assert reading.events == ["database_created"]
    assert reading.state.unit_status == testing.ActiveStatus()
    # What it read as secrets came from secrets: none of it is in our databag.
    in_databag = set(answer(provided, RELATION_ID))
    assert not {"username", "password", "uris", "tls", "tls-ca"} & in_databag


def test_the_requirers_credentials_open_the_chroot_it_was_given(disk, zookeeper):
    request = requirer_asks(V0RequirerCharm)
    reading = requirer_reads(V0RequirerCharm, request, provider_answers(disk, request))

    user, password = reading.seen["username"], reading.seen["password"]
    chroot = reading.seen["granted-chroot"]
    chroot_acls = zookeeper.znodes[chroot]
    assert ("sasl", user) in {(acl.scheme, acl.id) for acl in chroot_acls}
    assert ("digest", clients.digest_id(user, password)) in {(a.scheme, a.id) for a in chroot_acls}
    # The servers learn the user from the policy znode the leader wrote: the same password,
    # and the chroot open to that user by either scheme.
    written = parse_policy(zookeeper.policy)
    assert written.users == {user: password}
    perms, ids = written.chroots[chroot]
    assert perms == "cdrw"
    assert ids == [f"sasl:{user}", f"digest:{clients.digest_id(user, password)}"]
    # And every server was asked to let that login in before the requirer heard of it.
    assert ("refusing", user, chroot) in zookeeper.calls


def test_a_requirer_is_told_nothing_until_every_server_lets_its_user_in(disk, zookeeper):
    request = requirer_asks(V0RequirerCharm)
    zookeeper.refusing_users = {f"relation-{RELATION_ID}": ["zookeeper-k8s-2"]}
    held = provider_answers(disk, request)
    early = requirer_reads(V0RequirerCharm, request, held)

    assert not early.ready
    assert early.events == []
    assert granted_to_requirer(held) == []
    zookeeper.refusing_users = {}
    told = run(held, "update_status")
    reading = requirer_reads(V0RequirerCharm, request, told, after=early)

    assert reading.ready
    assert reading.events == ["database_created"]
    assert (
        reading.seen["password"] == parse_policy(zookeeper.policy).users[reading.seen["username"]]
    )


def test_a_legacy_chroot_only_requirer_is_ready(disk, zookeeper):
    request = requirer_asks(LegacyRequirerCharm)
    assert request == {"chroot": "/legacy", "requested-secrets": json.dumps(KAFKA_SECRETS)}
    provided = provider_answers(disk, request)
    reading = requirer_reads(LegacyRequirerCharm, request, provided)

    assert reading.ready
    assert reading.seen["granted-chroot"] == "/legacy"
    assert reading.seen["uris"] == endpoints(0, 1, 2) + "/legacy"
    assert reading.seen["username"] == f"relation-{RELATION_ID}"
    assert reading.seen["password"]
    assert reading.seen["tls"] == "disabled"
    assert reading.state.unit_status == testing.ActiveStatus()


def test_a_requirer_whose_own_tls_is_on_sees_the_mismatch(disk, zookeeper):
    request = requirer_asks(TlsRequirerCharm)
    reading = requirer_reads(TlsRequirerCharm, request, provider_answers(disk, request))

    assert reading.ready
    assert reading.state.unit_status == testing.BlockedStatus("zookeeper tls does not match")


def test_a_refused_requirer_is_never_ready(disk, zookeeper):
    request = {**requirer_asks(V0RequirerCharm), "database": "/zookeeper", "chroot": "/zookeeper"}
    provided = provider_answers(disk, request)
    reading = requirer_reads(V0RequirerCharm, request, provided)

    assert not reading.ready
    assert reading.events == []
    assert reading.state.unit_status == testing.WaitingStatus("waiting for zookeeper")


def test_after_a_scale_to_five_the_requirer_reads_the_new_endpoints_and_uris(disk, zookeeper):
    request = requirer_asks(V0RequirerCharm)
    provided = provider_answers(disk, request)
    first = requirer_reads(V0RequirerCharm, request, provided)

    cluster = dataclasses.replace(
        provided.get_relation(PEER_ID), peers_data={o: {"state": SERVING} for o in range(1, 5)}
    )
    # The last of the new units joins the peer relation: Juju runs relation-joined on the
    # leader once it sees the unit (relation-list shows a unit only from then on).
    ctx = context(0)
    scaled = ctx.run(
        ctx.on.relation_joined(cluster, remote_unit=4),
        with_relations(dataclasses.replace(provided, planned_units=5), cluster),
    )
    # The requirer still tracks the first revision: only refresh=True shows the new uris.
    reading = requirer_reads(V0RequirerCharm, request, scaled, after=first, tracked=provided)

    assert reading.ready
    assert reading.seen["endpoints"] == endpoints(0, 1, 2, 3, 4)
    assert reading.seen["uris"] == endpoints(0, 1, 2, 3, 4) + "/kafka"
    assert reading.seen["password"] == first.seen["password"]
    assert reading.events == ["endpoints_changed"]
