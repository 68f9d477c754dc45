"""Ask zookeeper-k8s for a chroot and get what a ZooKeeper client needs to use it.

The requirer side of the `zookeeper` relation. It speaks the data_interfaces v0 protocol
existing requirers (Kafka's charm) speak, so it works against zookeeper-k8s and against older
providers of that protocol; it depends on ops only.

Usage (in the client charm's metadata: `requires: zookeeper: interface: zookeeper`):

    from charms.zookeeper_k8s.v0.zookeeper import ZooKeeperRequirer

    self.zookeeper = ZooKeeperRequirer(self, chroot="/myapp")
    self.framework.observe(self.zookeeper.on.credentials_ready, self._on_zookeeper)

and then, in any hook:

    info = self.zookeeper.info()          # None until the provider answered
    client = KazooClient(**info.kazoo_kwargs(ca_file="/etc/myapp/zk-ca.pem"))

Events (each a RelationEvent on the zookeeper relation):
- `credentials_ready`: a user, its password and the chroot are there (zookeeper-k8s hands
  them over only once every server accepts that user; an older provider may earlier);
  again if the user or the password changes.
- `endpoints_changed`: the servers to connect to changed (a scale), credentials unchanged.
- `tls_changed`: the provider switched TLS on or off, or its CA changed: reconnect with
  `info().tls` and `info().tls_ca`.
- `relation_gone`: the relation is being removed; its credentials stop working.

`info()` reads the relation and its secrets afresh each time (the secrets' latest
revisions), so what it returns after a scale is the current set of servers.

Optional: `roles` narrows the permissions asked for the chroot (ACL letters from `cdrw`);
`quota_znodes` / `quota_bytes` ask for lower quotas than the provider's; `x509_subject`
names the subject of the client's own certificate (RFC 4514, e.g.
`CN=myapp,O=myorg`): zookeeper-k8s then lets sessions presenting that certificate own the
chroot without a password, when its `tls-client-auth` is `want` or `need`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging

import ops

# The library's ID on Charmhub: a placeholder until the library is registered with
# `charmcraft create-lib`, which needs a Charmhub login this project's machines do not have.
LIBID = "00000000000000000000000000000000"
LIBAPI = 0
LIBPATCH = 1

logger = logging.getLogger(__name__)

DEFAULT_RELATION = "zookeeper"
# What the provider puts in Juju secrets (v0 groups `user` and `tls`), not in plain data.
REQUESTED_SECRETS = ["username", "password", "uris", "tls", "tls-ca"]
_GROUPS = {"secret-user": ("username", "password", "uris"), "secret-tls": ("tls", "tls-ca")}
_PERMS = {"r": "READ", "w": "WRITE", "c": "CREATE", "d": "DELETE", "a": "ADMIN"}


@dataclasses.dataclass(frozen=True)
class ZooKeeperInfo:
    """What the provider gave this app, and the forms clients want it in."""

    username: str
    password: str
    chroot: str
    endpoints: tuple[str, ...]  # host:port of every server, as the provider listed them
    tls: bool
    tls_ca: str | None = None
    version: str | None = None
    x509_subject: str | None = None  # the identity granted, as the servers spell it

    @property
    def servers(self) -> str:
        return ",".join(self.endpoints)

    @property
    def hosts(self) -> str:
        """The connection string with the chroot: host:port,...,host:port/chroot."""
        return self.servers + self.chroot

    def kazoo_kwargs(
        self,
        auth: str = "sasl",
        ca_file: str | None = None,
        certfile: str | None = None,
        keyfile: str | None = None,
    ) -> dict:
        """Keyword arguments for `kazoo.client.KazooClient`.

        auth: `sasl` (DIGEST-MD5, what zookeeper-k8s's clients use), `digest`, or `x509`
        (a client certificate only: certfile and keyfile). With TLS on, `ca_file` is where
        the caller wrote `tls_ca` (kazoo reads a file).
        """
        kwargs: dict = {"hosts": self.hosts}
        if auth == "sasl":
            kwargs["sasl_options"] = {
                "mechanism": "DIGEST-MD5",
                "username": self.username,
                "password": self.password,
            }
        elif auth == "digest":
            kwargs["auth_data"] = [("digest", f"{self.username}:{self.password}")]
        elif auth != "x509":
            raise ValueError(f"auth must be sasl, digest or x509, not {auth!r}")
        if auth == "x509" and not (certfile and keyfile):
            raise ValueError("x509 needs the client's certfile and keyfile")
        if self.tls:
            if not ca_file:
                raise ValueError("TLS is on: write tls_ca to a file and pass it as ca_file")
            kwargs |= {"use_ssl": True, "ca": ca_file, "verify_certs": True}
            if certfile:
                kwargs |= {"certfile": certfile, "keyfile": keyfile}
        return kwargs

    def jaas_client_section(self) -> str:
        """A JAAS `Client` section for Java clients (-Djava.security.auth.login.config)."""
        return (
            "Client {\n"
            "    org.apache.zookeeper.server.auth.DigestLoginModule required\n"
            f'    username="{_jaas_quoted(self.username)}"\n'
            f'    password="{_jaas_quoted(self.password)}";\n'
            "};\n"
        )

    def url(self) -> str:
        """`zookeeper://host:port,.../chroot`, as asab and others take it."""
        return f"zookeeper://{self.hosts}"

    def asab_config(self) -> dict[str, str]:
        """The `[zookeeper]` section of an asab application's configuration."""
        return {"servers": self.servers, "path": self.chroot}

    def patroni_config(
        self, cacert: str | None = None, cert: str | None = None, key: str | None = None
    ) -> dict:
        """Patroni's `namespace` and `zookeeper:` settings. Patroni logs in by client
        certificate only (no SASL): ask for `x509_subject` and pass cert and key."""
        zookeeper: dict = {"hosts": list(self.endpoints)}
        if self.tls:
            zookeeper |= {"use_ssl": True, "cacert": cacert, "verify": True}
            if cert:
                zookeeper |= {"cert": cert, "key": key}
        if self.x509_subject:
            zookeeper["set_acls"] = {self.x509_subject: ["ALL"]}
        return {"namespace": f"{self.chroot}/service", "zookeeper": zookeeper}

    def acl(self, perms: str = "cdrw") -> list[tuple[str, str, str]]:
        """(scheme, id, permissions) entries that give znodes to this app alone, whichever
        way it logs in: its user by SASL and by digest and, if granted, its certificate.
        zookeeper-k8s closes every znode in the chroot to the app anyway (an entry naming
        one of the app's identities is kept as given, so all of them are named here)."""
        digest = base64.b64encode(
            hashlib.sha1(f"{self.username}:{self.password}".encode()).digest()  # noqa: S324
        ).decode()
        entries = [
            ("sasl", self.username, perms),
            ("digest", f"{self.username}:{digest}", perms),
        ]
        if self.x509_subject:
            entries.append(("x509", self.x509_subject, perms))
        return entries

    def kazoo_acls(self, perms: str = "cdrw") -> list:
        """`acl()` as kazoo ACL objects, for `create(..., acl=...)` (kazoo imported here)."""
        from kazoo.security import make_acl

        return [
            make_acl(scheme, ident, **{_PERMS[p].lower(): True for p in letters})
            for scheme, ident, letters in self.acl(perms)
        ]


def _jaas_quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


class CredentialsReadyEvent(ops.RelationEvent):
    """The app's user, password and chroot are there (again, if they changed)."""


class EndpointsChangedEvent(ops.RelationEvent):
    """The servers to connect to changed."""


class TLSChangedEvent(ops.RelationEvent):
    """TLS was switched on or off, or the CA to verify servers with changed."""


class RelationGoneEvent(ops.RelationEvent):
    """The relation is being removed."""


class ZooKeeperRequirerEvents(ops.ObjectEvents):
    credentials_ready = ops.EventSource(CredentialsReadyEvent)
    endpoints_changed = ops.EventSource(EndpointsChangedEvent)
    tls_changed = ops.EventSource(TLSChangedEvent)
    relation_gone = ops.EventSource(RelationGoneEvent)


class ZooKeeperRequirer(ops.Object):
    """Asks for `chroot` on every relation of `relation_name` and reports what comes back."""

    on = ZooKeeperRequirerEvents()  # type: ignore[reportAssignmentType]
    _seen = ops.StoredState()

    def __init__(
        self,
        charm: ops.CharmBase,
        chroot: str,
        *,
        relation_name: str = DEFAULT_RELATION,
        roles: str | None = None,
        x509_subject: str | None = None,
        quota_znodes: int | None = None,
        quota_bytes: int | None = None,
    ):
        super().__init__(charm, relation_name)
        if not chroot.startswith("/") or chroot.rstrip("/") == "":
            raise ValueError(f"chroot must be an absolute path such as /myapp, not {chroot!r}")
        self.charm, self.relation_name = charm, relation_name
        self.chroot, self.roles, self.x509_subject = chroot.rstrip("/"), roles, x509_subject
        self.quotas = {"quota-znodes": quota_znodes, "quota-bytes": quota_bytes}
        # What each relation last reported, as hashes (never a password): relation id -> key
        # -> digest.
        self._seen.set_default(relations={})
        on = charm.on[relation_name]
        for event in (on.relation_created, charm.on.leader_elected, charm.on.upgrade_charm):
            self.framework.observe(event, self._ask)
        self.framework.observe(on.relation_changed, self._on_changed)
        self.framework.observe(charm.on.secret_changed, self._on_secret_changed)
        self.framework.observe(on.relation_broken, self._on_broken)

    # -- what the app asks for ------------------------------------------------------------

    def request(self) -> dict[str, str]:
        """The app's databag: the chroot under both v0 names, the fields to get in secrets,
        and the optional roles and certificate subject."""
        data = {
            "database": self.chroot,
            "chroot": self.chroot,
            "requested-secrets": json.dumps(REQUESTED_SECRETS),
        }
        if self.roles:
            data["extra-user-roles"] = self.roles
        if self.x509_subject:
            data["x509-subject"] = self.x509_subject
        data |= {key: str(value) for key, value in self.quotas.items() if value}
        return data

    def _ask(self, event: ops.EventBase) -> None:
        self.ask()

    def ask(self) -> None:
        """Write the request on every relation (the leader only; the library does it on
        relation-created, leader-elected and upgrade-charm): call it after changing what
        to ask for, e.g. a chroot taken from config."""
        if not self.charm.unit.is_leader():
            return
        for relation in self.charm.model.relations[self.relation_name]:
            bag = relation.data[self.charm.app]
            for key, value in self.request().items():
                if bag.get(key) != value:
                    bag[key] = value

    # -- what the provider gave -------------------------------------------------------------

    def info(self, relation: ops.Relation | None = None) -> ZooKeeperInfo | None:
        """What the provider gave on `relation` (the only one if not given), read afresh;
        None until it has answered with a user, a password, a chroot and servers."""
        relation = relation or self.charm.model.get_relation(self.relation_name)
        if relation is None or relation.app is None:
            return None
        bag = relation.data[relation.app]
        fields = dict(bag)
        for group, names in _GROUPS.items():
            content = self._secret(bag.get(group), relation)
            # A group's secret wins; its fields fall back to plain data (older providers).
            fields |= {name: content[name] for name in names if content.get(name)}
        chroot = fields.get("database") or fields.get("chroot")
        endpoints = _servers(fields)
        if not (fields.get("username") and fields.get("password") and chroot and endpoints):
            return None
        return ZooKeeperInfo(
            username=fields["username"],
            password=fields["password"],
            chroot="/" + chroot.strip("/"),
            endpoints=endpoints,
            tls=fields.get("tls") == "enabled",
            tls_ca=fields.get("tls-ca") or None,
            version=fields.get("version"),
            x509_subject=fields.get("x509-subject"),
        )

    def _secret(self, secret_id: str | None, relation: ops.Relation) -> dict[str, str]:
        if not secret_id:
            return {}
        try:
            # The latest revision: a scale or a rotation reaches the app in this hook.
            return self.charm.model.get_secret(id=secret_id).get_content(refresh=True)
        except (ops.SecretNotFoundError, ops.ModelError) as exc:
            logger.debug("relation %s: secret not readable yet: %s", relation.id, exc)
            return {}

    # -- events -------------------------------------------------------------------------------

    def _on_changed(self, event: ops.RelationChangedEvent) -> None:
        self._report(event.relation)

    def _on_secret_changed(self, event: ops.SecretChangedEvent) -> None:
        for relation in self.charm.model.relations[self.relation_name]:
            if relation.app is None:
                continue
            bag = relation.data[relation.app]
            ids = {bag.get(group) for group in _GROUPS} - {None}
            if event.secret.id in ids or _unique(event.secret.id) in {_unique(i) for i in ids}:
                self._report(relation)

    def _on_broken(self, event: ops.RelationBrokenEvent) -> None:
        self._seen.relations.pop(str(event.relation.id), None)
        self.on.relation_gone.emit(event.relation)

    def _report(self, relation: ops.Relation) -> None:
        info = self.info(relation)
        if info is None:
            return
        now = {
            "credentials": _digest(info.username, info.password, info.chroot),
            "endpoints": _digest(*info.endpoints),
            "tls": _digest(str(info.tls), info.tls_ca or ""),
        }
        before = dict(self._seen.relations.get(str(relation.id), {}))
        self._seen.relations[str(relation.id)] = now
        if now["credentials"] != before.get("credentials"):
            self.on.credentials_ready.emit(relation)
            return  # a first answer is one event: its endpoints and TLS are part of it
        if now["endpoints"] != before.get("endpoints"):
            self.on.endpoints_changed.emit(relation)
        if now["tls"] != before.get("tls"):
            self.on.tls_changed.emit(relation)


def _servers(fields: dict[str, str]) -> tuple[str, ...]:
    """host:port of every server: `endpoints`, or the servers of `uris` (older providers)."""
    text = fields.get("endpoints") or fields.get("uris", "").split("/", 1)[0]
    return tuple(sorted(e.strip() for e in text.split(",") if e.strip()))


def _digest(*values: str) -> str:
    return hashlib.sha256("\0".join(values).encode()).hexdigest()


def _unique(secret_id: str | None) -> str:
    """A secret's ID without the `secret:` or model-URI prefix Juju may put before it."""
    return (secret_id or "").rsplit("/", 1)[-1].removeprefix("secret:")
