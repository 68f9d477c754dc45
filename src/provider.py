"""The `zookeeper` relation, provider side: the data_interfaces v0 protocol Kafka's charm speaks.

Client app databag: `database` (or, from older requirers, `chroot`) names the chroot,
`requested-secrets` lists the fields to be handed over in Juju secrets, `extra-user-roles`
(or `chroot-acl`) narrows the user's ACL permissions; `x509-subject` (ours, beyond v0) names
the subject of the client's own certificate, whose sessions then own the chroot too. Our
answer: `endpoints`, `database`, `chroot`, `version`, `tls`, `x509-subject` (the identity
granted, as the servers spell it), and `secret-user` (username, password, uris) and
`secret-tls` (tls, tls-ca): Juju secrets granted to that relation only. Credentials always
travel in secrets, even to a requirer that did not ask: a password never goes into plain
relation data.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable

import ops

import clients
import policy
from state import ClientRecord, new_password

logger = logging.getLogger(__name__)

RELATION = "zookeeper"
SECRET_FIELDS = ("username", "password", "uris")
# Ours, beyond v0: a requirer names its certificate's subject, we answer the identity granted.
X509_SUBJECT = "x509-subject"


def user_secret_label(relation_id: int) -> str:
    return f"zookeeper.{relation_id}.user.secret"


def tls_secret_label(relation_id: int) -> str:
    return f"zookeeper.{relation_id}.tls.secret"


def read_requests(model: ops.Model) -> list[clients.Request]:
    requests = []
    for relation in model.relations[RELATION]:
        if relation.app is None:
            continue
        data = relation.data[relation.app]
        requests.append(
            clients.Request(
                relation_id=relation.id,
                app=relation.app.name,
                chroot=data.get("database") or data.get("chroot"),
                extra_user_roles=data.get("extra-user-roles") or data.get("chroot-acl"),
                x509_subject=data.get(X509_SUBJECT),
                quota_znodes=data.get("quota-znodes"),
                quota_bytes=data.get("quota-bytes"),
            )
        )
    return requests


def _requested(relation: ops.Relation) -> set[str]:
    try:
        requested = json.loads(relation.data[relation.app].get("requested-secrets") or "[]")
    except ValueError:
        return set()
    return {str(field) for field in requested} if isinstance(requested, list) else set()


@dataclasses.dataclass
class Served:
    """What one leader pass over the client relations did."""

    records: dict[int, ClientRecord]
    problems: list[str]
    # Relations whose user some server does not accept yet: not told their credentials.
    waiting: list[int] = dataclasses.field(default_factory=list)
    policy_digest: str | None = None
    # The policy written still names chroots being taken back: the next hook drops them.
    closing: bool = False


class Provider:
    """Answers every client relation; the leader runs it once per hook."""

    def __init__(
        self,
        model: ops.Model,
        records: dict[int, ClientRecord],
        reserved: list[str],
        addresses: list[str],
        port: int,
        version: str,
        zookeeper: Callable,
        delete_data: bool,
        refusing: Callable[[str, str, str], list[str]],
        policy_digest: str | None = None,
        tls_ca: str | None = None,
        quotas: tuple[int, int] = (0, 0),
    ):
        self.model = model
        self.records = dict(records)
        self.reserved = reserved  # the open chroots: no client relation may take them
        self.addresses = addresses
        self.port = port
        self.version = version
        self.zookeeper = zookeeper  # opens (once per hook) the admin session
        self.delete_data = delete_data
        # (user, password, chroot) -> the servers that do not let that user in yet.
        self.refusing = refusing
        self.policy_digest = policy_digest  # of the policy last written
        # The CAs clients verify servers with, once every server serves TLS (tlsplan.py).
        self.tls_ca = tls_ca
        # The most znodes and bytes one client may hold (config; a client may ask for less).
        self.quotas = quotas

    def serve(self) -> Served:
        relations = {r.id: r for r in self.model.relations[RELATION] if r.app is not None}
        decision = clients.decide(
            read_requests(self.model),
            {rid: rec.chroot for rid, rec in self.records.items()},
            reserved=self.reserved,
            max_znodes=self.quotas[0],
            max_bytes=self.quotas[1],
        )
        gone = [rid for rid in self.records if rid not in relations or rid in decision.rejected]
        granted = dict(decision.granted)
        for rid, record in self.records.items():
            if rid not in granted and rid not in gone:
                # Served before, and its request no longer names a chroot: it keeps what it
                # has (a client clearing its databag is not a removal).
                granted[rid] = dataclasses.replace(
                    clients.Grant(rid, record.app, record.chroot, record.perms, record.x509),
                    max_znodes=clients.within(self.quotas[0], record.max_znodes),
                    max_bytes=clients.within(self.quotas[1], record.max_bytes),
                )
            elif rid in decision.refused_parts:
                # A subject or quota it may not have: it keeps the ones it had.
                granted[rid] = dataclasses.replace(
                    granted[rid],
                    x509=record.x509,
                    max_znodes=record.max_znodes,
                    max_bytes=record.max_bytes,
                )
        secrets = {rid: self._user_secret(relations[rid], grant) for rid, grant in granted.items()}
        # The policy first: from this write on, every server refuses the users of relations
        # that are gone and closes each new chroot from its first znode.
        closing = [self.records[rid].chroot for rid in gone] + [
            self.records[rid].chroot  # a client that moved: its old chroot is taken back
            for rid, grant in granted.items()
            if rid in self.records and self.records[rid].chroot != grant.chroot
        ]
        text = policy.render(
            ((grant, secrets[rid][1]["password"]) for rid, grant in granted.items()),
            closing=closing,
        )
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest != self.policy_digest and (granted or self.policy_digest):
            self.zookeeper().write_policy(text)
            self.policy_digest = digest
        # Revoke before granting: a chroot given up this hook may be the one a newcomer gets.
        for relation_id in gone:
            self._revoke(relation_id)
        waiting = []
        for relation_id, grant in granted.items():
            secret, content = secrets[relation_id]
            if not self._grant(relations[relation_id], grant, secret, content):
                waiting.append(relation_id)
        problems = [
            f"relation {rid} ({relations[rid].app.name}): {problem}"
            for rid, problem in sorted((decision.rejected | decision.refused_parts).items())
        ]
        return Served(self.records, problems, waiting, self.policy_digest, bool(closing))

    def _grant(
        self, relation: ops.Relation, grant: clients.Grant, secret: ops.Secret, content: dict
    ) -> bool:
        """Make the chroot, then tell the client once every server lets it in (False: not yet)."""
        record = self.records.get(grant.relation_id)
        password = content["password"]
        if record is None or (record.chroot, record.perms, record.x509) != (
            grant.chroot,
            grant.perms,
            grant.x509,
        ):
            # The root is closed too (by default anyone may create znodes there).
            zookeeper = self.zookeeper()
            zookeeper.set_acls("/", clients.super_only())
            # Sets the ACL on what already exists below (data kept from an earlier relation);
            # everything created from now on the extension closes as it is created.
            zookeeper.ensure_chroot(
                grant.chroot, clients.acls(grant, password), clients.super_only()
            )
            if record is not None and record.chroot != grant.chroot:
                # The client moved: its old chroot keeps its data, closed to super only.
                zookeeper.set_tree_acls(record.chroot, clients.super_only())
            logger.info(
                "relation %s: chroot %s for %s", grant.relation_id, grant.chroot, grant.app
            )
        quota = (grant.max_znodes, grant.max_bytes)
        if record is None or record.chroot != grant.chroot or quota != record.quota:
            self.zookeeper().set_quota(grant.chroot, clients.quota_limits(*quota))
        self.records[grant.relation_id] = ClientRecord(
            app=grant.app,
            chroot=grant.chroot,
            perms=grant.perms,
            secret_id=secret.id,
            x509=grant.x509,
            max_znodes=grant.max_znodes,
            max_bytes=grant.max_bytes,
        )
        databag = relation.data[self.model.app]
        if databag.get("secret-user") != secret.id or databag.get("chroot") != grant.chroot:
            refusing = self.refusing(grant.user, password, grant.chroot)
            if refusing:
                logger.info(
                    "relation %s: not told yet, %s do not accept %s",
                    grant.relation_id,
                    ", ".join(refusing),
                    grant.user,
                )
                return False
            secret.grant(relation)
        self._answer(relation, grant, secret)
        return True

    def _user_secret(
        self, relation: ops.Relation, grant: clients.Grant
    ) -> tuple[ops.Secret, dict[str, str]]:
        """The relation's user secret and what it should hold, made once and not yet shared
        (a hook that failed may have made it: it is found by label)."""
        label = user_secret_label(relation.id)
        record = self.records.get(grant.relation_id)
        try:
            secret = self.model.get_secret(id=record.secret_id if record else None, label=label)
            current = secret.get_content(refresh=True)  # one read a hook
        except ops.SecretNotFoundError:
            secret, current = None, {}
        content = {
            "username": grant.user,
            "password": current.get("password") or new_password(),
            "uris": clients.uris(self.addresses, self.port, grant.chroot),
        }
        if secret is None:
            secret = self.model.app.add_secret(content, label=label)
        elif current != content:
            secret.set_content(content)
        if secret.id is None:
            secret = self.model.get_secret(id=secret.get_info().id)
        return secret, content

    def _answer(self, relation: ops.Relation, grant: clients.Grant, user: ops.Secret) -> None:
        requested = _requested(relation)
        answer = {
            "endpoints": clients.endpoints(self.addresses, self.port),
            "database": grant.chroot,
            "chroot": grant.chroot,
            "version": self.version,
            "secret-user": user.id,
        }
        tls = {"tls": "enabled", "tls-ca": self.tls_ca} if self.tls_ca else {"tls": "disabled"}
        if requested & {"tls", "tls-ca"}:
            secret = self._tls_secret(relation, tls)
            # A secret looked up by label does not know its ID; its owner can ask.
            answer["secret-tls"] = secret.id or secret.get_info().id
        else:
            answer |= tls
        databag = relation.data[self.model.app]
        for key, value in answer.items():
            if databag.get(key) != value:
                databag[key] = value
        if grant.x509:
            if databag.get(X509_SUBJECT) != grant.x509:
                databag[X509_SUBJECT] = grant.x509
        elif X509_SUBJECT in databag:
            del databag[X509_SUBJECT]

    def _tls_secret(self, relation: ops.Relation, content: dict[str, str]) -> ops.Secret:
        label = tls_secret_label(relation.id)
        try:
            secret = self.model.get_secret(label=label)
            if secret.get_content(refresh=True) != content:
                secret.set_content(content)
        except ops.SecretNotFoundError:
            secret = self.model.app.add_secret(content, label=label)
            secret.grant(relation)
        return secret

    def _revoke(self, relation_id: int) -> None:
        """The client is gone (or asked for something it may not have): its credentials die."""
        record = self.records.pop(relation_id)
        admin = self.zookeeper()
        if self.delete_data:
            admin.delete_tree(record.chroot)
        else:
            admin.set_tree_acls(record.chroot, clients.super_only())
        for lookup in ({"id": record.secret_id}, {"label": tls_secret_label(relation_id)}):
            with contextlib.suppress(ops.SecretNotFoundError):
                self.model.get_secret(**lookup).remove_all_revisions()
        logger.info("relation %s: credentials for %s revoked", relation_id, record.chroot)
