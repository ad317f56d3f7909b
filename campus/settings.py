"""One validated settings object per process.

Sources, highest priority first: keyword arguments, environment variables
(``CAMPUS_<FIELD>``), a TOML file (``CAMPUS_CONFIG``, else ``./campus.toml`` when
it exists), then the defaults below, which work on one machine after
``scripts/setup``. Build it once in ``main`` (or the FastAPI lifespan) and pass
it down; nothing reads settings at import time.

Secrets are ``SecretStr``: they never appear in ``repr``, logs or ``campus
status``. Outside ``development``/``test`` the placeholder secrets are refused.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["Environment", "Settings", "redact_url"]

_PLACEHOLDER_KEY = "00" * 32
DEFAULT_CONFIG_FILE = "campus.toml"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _config_file() -> Path | None:
    explicit = os.environ.get("CAMPUS_CONFIG")
    if explicit:
        return Path(explicit)
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


class Settings(BaseSettings):
    """Every setting the platform reads, with defaults for a single machine."""

    model_config = SettingsConfigDict(env_prefix="CAMPUS_", extra="forbid", frozen=True)

    environment: Environment = Environment.DEVELOPMENT
    site_id: str = Field(default="demo", pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")

    database_url: SecretStr = SecretStr("postgresql://campus@127.0.0.1:5432/campus")

    mqtt_host: str = "127.0.0.1"
    # 1884, not 1883: the platform runs its own broker with its own ACL and
    # tuning, and must not collide with a system broker already on 1883.
    mqtt_port: int = Field(default=1884, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    mqtt_ca_file: Path | None = None
    mqtt_cert_file: Path | None = None
    mqtt_key_file: Path | None = None

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=1, le=65535)

    # Keys: 32 bytes, hex. The pseudonym key derives the keyed student
    # pseudonyms stored in presence; the master key wraps per-student data keys.
    pseudonym_key: SecretStr = SecretStr(_PLACEHOLDER_KEY)
    master_key: SecretStr = SecretStr(_PLACEHOLDER_KEY)

    # Ingest verification limits.
    max_message_bytes: int = Field(default=256 * 1024, ge=1024)
    clock_skew_s: float = Field(default=300.0, gt=0)
    # Ingest batching: a transaction is committed when either limit is reached.
    flush_interval_ms: int = Field(default=200, ge=5, le=10_000)
    flush_max_batches: int = Field(default=2000, ge=1)
    dead_letter_max_rows: int = Field(default=10_000, ge=100)

    data_dir: Path = Path("var")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            if not path.is_file():
                raise ValueError(f"settings file {path} (from CAMPUS_CONFIG) does not exist")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @field_validator("pseudonym_key", "master_key")
    @classmethod
    def _key_is_32_bytes_hex(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        try:
            key = bytes.fromhex(raw)
        except ValueError:
            raise ValueError("must be 64 hexadecimal characters (32 bytes)") from None
        if len(key) != 32:
            raise ValueError("must be 64 hexadecimal characters (32 bytes)")
        return value

    @model_validator(mode="after")
    def _no_placeholders_in_production(self) -> Settings:
        if self.environment is Environment.PRODUCTION:
            for name in ("pseudonym_key", "master_key"):
                if getattr(self, name).get_secret_value() == _PLACEHOLDER_KEY:
                    raise ValueError(f"{name} is the development placeholder; set a real key for production")
            if urlsplit(self.database_url.get_secret_value()).password is None:
                raise ValueError(
                    "database_url has no password; production needs an authenticated database role"
                )
        return self

    # Convenience accessors (never logged in clear).
    @property
    def dsn(self) -> str:
        return self.database_url.get_secret_value()

    @property
    def pseudonym_key_bytes(self) -> bytes:
        return bytes.fromhex(self.pseudonym_key.get_secret_value())

    @property
    def master_key_bytes(self) -> bytes:
        return bytes.fromhex(self.master_key.get_secret_value())

    def public_view(self) -> dict[str, Any]:
        """Settings safe to print: secrets omitted, passwords in URLs masked."""
        out: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                continue
            out[name] = str(value) if isinstance(value, Path) else value
        out["database_url"] = redact_url(self.dsn)
        return out
