"""The charm's config options as a typed model; bad values become one clear message."""

from __future__ import annotations

import enum

import pydantic


class LogLevel(enum.StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


class CharmConfig(pydantic.BaseModel):
    """Mirrors config.yaml; field names are the option names with '-' as '_'."""

    model_config = pydantic.ConfigDict(
        frozen=True, extra="ignore", alias_generator=lambda name: name.replace("_", "-")
    )

    tick_time: int = pydantic.Field(2000, ge=100, le=60000, strict=True)
    init_limit: int = pydantic.Field(10, ge=1, le=1000, strict=True)
    sync_limit: int = pydantic.Field(5, ge=1, le=1000, strict=True)
    max_client_connections: int = pydantic.Field(60, ge=0, le=100000, strict=True)
    log_level: LogLevel = LogLevel.INFO
    jvm_heap_mb: int = pydantic.Field(1024, ge=128, le=65536, strict=True)
    autopurge_interval_hours: int = pydantic.Field(24, ge=1, le=720, strict=True)
    autopurge_snap_retain_count: int = pydantic.Field(3, ge=3, le=100, strict=True)
    delete_client_data: bool = pydantic.Field(False, strict=True)
    open_chroots: str = pydantic.Field("", max_length=4096)
    # Juju gives a secret's URI as secret:<id> or, qualified by model, secret://<uuid>/<id>.
    system_users: str | None = pydantic.Field(None, pattern=r"^secret:(//[0-9a-f-]+/)?[a-z0-9]+$")

    @property
    def open_chroot_list(self) -> list[str]:
        """The listed paths, without trailing slashes: ZooKeeper has no znode "/a/" (ACLs set
        or reset under a path written so would reach nothing), and "/a/" is the same as "/a"."""
        paths = (p.strip() for p in self.open_chroots.split(","))
        return [p.rstrip("/") or "/" for p in paths if p]

    @pydantic.field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class InvalidConfigError(ValueError):
    """Carries a message that names the option and what it accepts."""


def _describe(error: dict) -> str:
    option = "-".join(str(part) for part in error["loc"]).replace("_", "-")
    ctx = error.get("ctx", {})
    kind = error["type"]
    if kind in ("greater_than_equal", "less_than_equal"):
        field = CharmConfig.model_fields[option.replace("-", "_")]
        low = next(m.ge for m in field.metadata if hasattr(m, "ge"))
        high = next(m.le for m in field.metadata if hasattr(m, "le"))
        return f"{option} must be between {low} and {high}"
    if kind == "enum":
        return f"{option} must be one of {ctx.get('expected', '')}".replace("'", "")
    if kind.startswith("int"):
        return f"{option} must be a whole number"
    if kind == "string_too_long":
        return f"{option} must be at most {ctx.get('max_length')} characters long"
    if kind.startswith("string_pattern"):
        return f"{option} must be a secret ID (secret:...) from juju add-secret"
    if kind.startswith("string"):
        return f"{option} must be text"
    return f"{option}: {error['msg']}"


def parse(raw: dict[str, object]) -> CharmConfig:
    """Build the model from Juju's config, or raise InvalidConfigError naming every bad option."""
    try:
        return CharmConfig.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems = sorted(_describe(e) for e in exc.errors())
        raise InvalidConfigError("; ".join(problems)) from None
