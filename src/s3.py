"""The `s3-credentials` relation (interface `s3`, as the s3-integrator charm provides it)
and the S3 shell the backups go through.

The provider's application databag holds the bucket, endpoint, region, path, URI style, an
optional CA chain and the access and secret keys (newer providers put the keys in a Juju
secret named by `secret-extra`). The keys are read in the hook that needs them and handed
to boto3; nothing here logs them or writes them anywhere else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

import ops

from records import Record, frozen

logger = logging.getLogger(__name__)

RELATION = "s3-credentials"
# Seconds before an S3 endpoint that does not answer counts as unreachable.
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 120


class S3Error(Exception):
    """S3 refused or could not be reached; the message says which and what fixes it."""


@frozen
class Settings(Record):
    bucket: str
    access_key: str = dataclasses.field(repr=False)
    secret_key: str = dataclasses.field(repr=False)
    endpoint: str | None = None
    region: str | None = None
    path: str = ""
    uri_style: str | None = None
    ca_chain: str | None = dataclasses.field(default=None, repr=False)

    @property
    def prefix(self) -> str:
        """Where backups live in the bucket: under the configured path, if any."""
        path = self.path.strip("/")
        return f"{path}/" if path else ""


def settings(model: ops.Model) -> Settings | str | None:
    """The relation's settings; text saying what is missing; None: no relation."""
    relation = model.get_relation(RELATION)
    if relation is None:
        return None
    data = dict(relation.data[relation.app]) if relation.app else {}
    keys = {k: data.get(k) for k in ("access-key", "secret-key")}
    if data.get("secret-extra") and not all(keys.values()):
        try:
            content = model.get_secret(id=data["secret-extra"]).get_content(refresh=True)
        except (ops.SecretNotFoundError, ops.ModelError):
            return "s3-credentials: the provider's secret is not readable yet"
        keys = {k: content.get(k) or keys[k] for k in keys}
    missing = [k for k in ("bucket",) if not data.get(k)] + [k for k, v in keys.items() if not v]
    if missing:
        return f"s3-credentials: waiting for the provider's {', '.join(missing)}"
    chain = data.get("tls-ca-chain")
    if chain:
        with contextlib.suppress(ValueError):
            parsed = json.loads(chain)
            chain = "\n".join(parsed) if isinstance(parsed, list) else chain
    return Settings(
        bucket=data["bucket"],
        access_key=keys["access-key"],
        secret_key=keys["secret-key"],
        endpoint=data.get("endpoint") or None,
        region=data.get("region") or None,
        path=data.get("path") or "",
        uri_style=data.get("s3-uri-style") or None,
        ca_chain=chain or None,
    )


def request_bucket(model: ops.Model, name: str) -> None:
    """The requirer's side of the interface: the bucket it would like (the provider's own
    configured bucket wins); the leader writes it."""
    relation = model.get_relation(RELATION)
    if relation is None or not model.unit.is_leader():
        return
    bag = relation.data[model.app]
    if bag.get("bucket") != name:
        bag["bucket"] = name


# What S3 says, as the fix the operator needs.
_WRONG_KEYS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"}
_NO_BUCKET = {"NoSuchBucket", "404"}  # a HEAD of a missing bucket has no body: only 404


def _explained(exc: Exception, settings: Settings) -> S3Error:
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    where = settings.endpoint or "AWS S3"
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _WRONG_KEYS:
            return S3Error(
                f"S3 at {where} refused the access key ({code}): "
                "set the right keys on s3-integrator (its sync-s3-credentials action)"
            )
        if code in _NO_BUCKET:
            return S3Error(f"bucket {settings.bucket} does not exist at {where}: create it")
        return S3Error(f"S3 at {where} failed: {code or exc}")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return S3Error(f"S3 endpoint {where} is unreachable: check s3-integrator's endpoint")
    return S3Error(f"S3 at {where} failed: {type(exc).__name__}")


# ops sends every log record to Juju's debug-log; botocore's debug records carry each
# request's signed headers (the access key among them). Warnings and errors only.
QUIET = ("boto3", "botocore", "s3transfer", "urllib3")


class Store:
    """A bucket (under its path), through boto3 with bounded retries and timeouts."""

    def __init__(self, settings: Settings):
        import boto3  # slow to import: only hooks that talk to S3 pay for it
        from botocore.config import Config

        for name in QUIET:
            logging.getLogger(name).setLevel(logging.WARNING)

        self.settings = settings
        self._ca = None
        verify = None
        if settings.ca_chain:
            self._ca = tempfile.NamedTemporaryFile("w", suffix=".pem")  # noqa: SIM115
            self._ca.write(settings.ca_chain)
            self._ca.flush()
            verify = self._ca.name
        style = {"path": "path", "virtual": "virtual"}.get(settings.uri_style or "", "auto")
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=settings.endpoint,
            region_name=settings.region or "us-east-1",
            aws_access_key_id=settings.access_key,
            aws_secret_access_key=settings.secret_key,
            verify=verify,
            config=Config(
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=READ_TIMEOUT,
                retries={"max_attempts": 3, "mode": "standard"},
                s3={"addressing_style": style},
            ),
        )

    def key(self, *parts: str) -> str:
        return self.settings.prefix + "/".join(parts)

    @contextlib.contextmanager
    def _calls(self) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (BotoCoreError, ClientError) as exc:
            raise _explained(exc, self.settings) from None

    def check(self) -> None:
        """That the bucket is there and the keys may use it."""
        with self._calls():
            self.client.head_bucket(Bucket=self.settings.bucket)

    def upload(self, key: str, stream: BinaryIO) -> None:
        """Streamed: multipart for large files, never all in memory."""
        with self._calls():
            self.client.upload_fileobj(stream, self.settings.bucket, key)

    def download(self, key: str, stream: BinaryIO) -> None:
        with self._calls():
            self.client.download_fileobj(self.settings.bucket, key, stream)

    def put_json(self, key: str, value: dict) -> None:
        with self._calls():
            self.client.put_object(
                Bucket=self.settings.bucket,
                Key=key,
                Body=json.dumps(value, sort_keys=True).encode(),
                ContentType="application/json",
            )

    def get_json(self, key: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            with self._calls():
                try:
                    body = self.client.get_object(Bucket=self.settings.bucket, Key=key)["Body"]
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                        return None
                    raise
                return json.loads(body.read())
        except ValueError:
            return None

    def names(self, prefix: str) -> list[str]:
        """Every key under prefix (all pages)."""
        found = []
        with self._calls():
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.settings.bucket, Prefix=prefix
            )
            for page in pages:
                found += [item["Key"] for item in page.get("Contents", [])]
        return found

    def delete(self, keys: list[str]) -> None:
        with self._calls():
            for start in range(0, len(keys), 1000):  # S3 takes 1000 a call
                batch = [{"Key": k} for k in keys[start : start + 1000]]
                self.client.delete_objects(
                    Bucket=self.settings.bucket, Delete={"Objects": batch, "Quiet": True}
                )

    def close(self) -> None:
        if self._ca is not None:
            self._ca.close()
