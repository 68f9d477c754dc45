"""The charm's config options as a typed, frozen value; bad values become one clear message.

Standard library only (every hook is a fresh process that parses the config): one check
per option in a table, each naming the option and what it accepts.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable, Mapping
from typing import Any

from records import Record, frozen


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


class ClientAuth(enum.StrEnum):
    """ssl.clientAuth: whether clients on the TLS port must show a certificate."""

    NONE = "none"
    WANT = "want"
    NEED = "need"


class ExposeExternal(enum.StrEnum):
    """How clients outside Kubernetes reach the ensemble (exposure.py)."""

    FALSE = "false"  # inside the cluster only, through the pods' own names
    NODEPORT = "nodeport"
    LOADBALANCER = "loadbalancer"


# The protocols a JDK 17+ server can speak; ZooKeeper 3.9.2+ enables only TLSv1.3 by default.
TLS_PROTOCOLS = ("TLSv1.3", "TLSv1.2")


class InvalidConfigError(ValueError):
    """Carries a message that names the option and what it accepts."""


class FrozenConfigError(dataclasses.FrozenInstanceError, ValueError):
    """A parsed config cannot change: a ValueError, as pydantic's frozen models raised."""


@frozen
class CharmConfig(Record):
    """Mirrors config.yaml; field names are the option names with '-' as '_'."""

    _refused = FrozenConfigError  # not a field: no annotation

    tick_time: int = 2000
    init_limit: int = 10
    sync_limit: int = 5
    max_client_connections: int = 60
    log_level: LogLevel = LogLevel.INFO
    jvm_heap_mb: int = 1024
    autopurge_interval_hours: int = 24
    autopurge_snap_retain_count: int = 3
    delete_client_data: bool = False
    open_chroots: str = ""
    system_users: str | None = None
    tls_protocols: str = "TLSv1.3,TLSv1.2"
    tls_client_auth: ClientAuth = ClientAuth.NONE
    tls_sans_ip: bool = False
    client_max_znodes: int = 100000
    client_max_bytes: int = 67108864
    expose_external: ExposeExternal = ExposeExternal.FALSE
    backup_schedule_hours: int = 0
    backup_retention: int = 7

    @property
    def tls_protocol_list(self) -> list[str]:
        return [p.strip() for p in self.tls_protocols.split(",") if p.strip()]

    @property
    def open_chroot_list(self) -> list[str]:
        """The listed paths, without trailing slashes: ZooKeeper has no znode "/a/" (ACLs set
        or reset under a path written so would reach nothing), and "/a/" is the same as "/a"."""
        paths = (p.strip() for p in self.open_chroots.split(","))
        return [p.rstrip("/") or "/" for p in paths if p]

    def model_copy(self, *, update: Mapping[str, Any] | None = None) -> CharmConfig:
        return dataclasses.replace(self, **(update or {}))


# The option fields by name, under the name pydantic gave them (tests compare with config.yaml).
CharmConfig.model_fields = {f.name: f for f in dataclasses.fields(CharmConfig)}  # type: ignore[attr-defined]


class _Bad(Exception):
    """What is wrong with one option's value, after the option's name."""


def _whole(value: object, low: int, high: int) -> object:
    # Strict: a bool is an int to Python, and "2000" or 2000.0 is no whole number here.
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Bad(" must be a whole number")
    if not low <= value <= high:
        raise _Bad(f" must be between {low} and {high}")
    return value


def _log_level(value: object) -> object:
    try:
        return LogLevel(value.upper())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        *first, last = LogLevel
        raise _Bad(f" must be one of {', '.join(first)} or {last}") from None


def _boolean(value: object) -> object:
    if not isinstance(value, bool):
        raise _Bad(": Input should be a valid boolean")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise _Bad(" must be text")
    return value


def _open_chroots(value: object) -> object:
    if len(_text(value)) > 4096:
        raise _Bad(" must be at most 4096 characters long")
    return value


def _tls_protocols(value: object) -> object:
    listed = [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else []
    if not listed or any(p not in TLS_PROTOCOLS for p in listed):
        raise _Bad(f" must list one or both of {' and '.join(TLS_PROTOCOLS)}, comma-separated")
    return ",".join(dict.fromkeys(listed))


def _client_auth(value: object) -> object:
    try:
        return ClientAuth(value)
    except ValueError:
        raise _Bad(f" must be one of {', '.join(ClientAuth)}") from None


def _expose_external(value: object) -> object:
    try:
        return ExposeExternal(value)
    except ValueError:
        *first, last = ExposeExternal
        raise _Bad(f" must be one of {', '.join(first)} or {last}") from None


# Juju gives a secret's URI as secret:<id> or, qualified by model, secret://<uuid>/<id>.
_SECRET_URI = re.compile(r"secret:(//[0-9a-f-]+/)?[a-z0-9]+")


def _secret_uri(value: object) -> object:
    if value is None:
        return None
    if not _SECRET_URI.fullmatch(_text(value)):
        raise _Bad(" must be a secret ID (secret:...) from juju add-secret")
    return value


# Option (field name): its check and what the check takes besides the value. Data, not
# closures made at import, so that a mutation test's mutant of a check is the one called.
_CHECKS: dict[str, tuple[Callable[..., object], ...]] = {
    "tick_time": (_whole, 100, 60000),
    "init_limit": (_whole, 1, 1000),
    "sync_limit": (_whole, 1, 1000),
    "max_client_connections": (_whole, 0, 100000),
    "log_level": (_log_level,),
    "jvm_heap_mb": (_whole, 128, 65536),
    "autopurge_interval_hours": (_whole, 1, 720),
    "autopurge_snap_retain_count": (_whole, 3, 100),
    "delete_client_data": (_boolean,),
    "open_chroots": (_open_chroots,),
    "system_users": (_secret_uri,),
    "tls_protocols": (_tls_protocols,),
    "tls_client_auth": (_client_auth,),
    "tls_sans_ip": (_boolean,),
    "client_max_znodes": (_whole, 0, 100_000_000),
    "client_max_bytes": (_whole, 0, 1 << 40),
    "expose_external": (_expose_external,),
    "backup_schedule_hours": (_whole, 0, 8760),
    "backup_retention": (_whole, 0, 10000),
}


def parse(raw: Mapping[str, object]) -> CharmConfig:
    """Build the config from Juju's, or raise InvalidConfigError naming every bad option.
    Options Juju gives that the charm does not know are ignored."""
    values: dict[str, object] = {}
    problems = []
    for name, (check, *limits) in _CHECKS.items():
        option = name.replace("_", "-")
        if option in raw:
            try:
                values[name] = check(raw[option], *limits)
            except _Bad as bad:
                problems.append(f"{option}{bad}")
    if problems:
        raise InvalidConfigError("; ".join(sorted(problems)))
    return CharmConfig(**values)  # type: ignore[arg-type]
