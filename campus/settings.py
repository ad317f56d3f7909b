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
    # Master keys being rotated out (privacy.keyring): still read, never used
    # to wrap. Remove one once `campus keys status` says nothing uses it.
    previous_master_keys: tuple[SecretStr, ...] = ()

    # Consent and erasure (privacy.consent, privacy.erasure).
    # From this age (whole years, at the decision) a student decides for
    # themselves; 13 is the UK's age of digital consent (DPA 2018 s.9).
    self_consent_age: int = Field(default=13, ge=0, le=18)
    # A withdrawal erases at once; a second pass this long after catches rows
    # an ingest worker committed before it heard of the withdrawal. At most
    # 15 minutes: the erasure time stated to families.
    erasure_recheck_s: int = Field(default=60, ge=1, le=900)

    # Ingest verification limits.
    max_message_bytes: int = Field(default=256 * 1024, ge=1024)
    clock_skew_s: float = Field(default=300.0, gt=0)
    # Ingest batching: a transaction is committed when either limit is reached.
    flush_interval_ms: int = Field(default=200, ge=5, le=10_000)
    flush_max_batches: int = Field(default=2000, ge=1)
    dead_letter_max_rows: int = Field(default=10_000, ge=100)

    data_dir: Path = Path("var")

    # Retention (privacy.retention): how long each kind of data is kept, in
    # days (a year counts as 365). `campus retention schedule` prints them all.
    retention_presence_days: int = Field(default=7, ge=1)  # raw samples: a week of rosters and look-backs
    retention_transitions_days: int = Field(default=28, ge=1)  # zone changes: four weeks of incident review
    retention_attendance_taps_days: int = Field(default=56, ge=1)  # door taps: a half term of corrections
    retention_attendance_days: int = Field(default=3 * 365, ge=1)  # attendance register: statutory 3 years
    retention_alerts_days: int = Field(default=365, ge=1)  # alerts: one school year and its reviews
    retention_evacuation_days: int = Field(default=3 * 365, ge=1)  # evacuation reports: inspections
    retention_audit_days: int = Field(default=6 * 365, ge=1)  # audit log: six-year limitation period
    retention_consent_history_days: int = Field(default=6 * 365, ge=1)  # after the consent ends
    retention_dead_letters_days: int = Field(default=7, ge=1)  # rejected messages: a week to diagnose
    retention_operations_days: int = Field(default=30, ge=1)  # ledger, gateway status, heartbeats
    retention_records_days: int = Field(default=2 * 365, ge=1)  # sweep records and breach findings
    retention_breaches_days: int = Field(default=6 * 365, ge=1)  # breach records, after they are closed
    retention_sweep_interval_s: int = Field(default=900, ge=10)
    retention_batch_rows: int = Field(default=5000, ge=1)
    erasure_poll_interval_s: int = Field(default=30, ge=1)

    # Backups (privacy.backup): the archive key lives apart from the archives;
    # None means `<data_dir>/backup.key`, created with mode 0600 on first use.
    backup_key_file: Path | None = None
    # Student data keys are kept out of archives, in this one file (encrypted
    # with the backup key, rewritten when keys change), so erasing a student
    # makes their fields unreadable in every archive too. None: <data_dir>/backup-data-keys.
    backup_data_keys_file: Path | None = None
    # pg_dump/pg_restore of the server's major version.
    pg_bindir: Path = Path("/usr/lib/postgresql/15/bin")

    # Breach detection (privacy.breach) over the audit log.
    breach_bulk_students: int = Field(default=50, ge=1)  # distinct students one actor may read ...
    breach_bulk_window_minutes: int = Field(default=10, ge=1)  # ... within this many minutes
    breach_office_hours: str = Field(default="07:00-19:00", pattern=r"^\d\d:\d\d-\d\d:\d\d$")
    breach_office_days: str = Field(
        default="mon-fri", pattern=r"^[a-z]{3}(-[a-z]{3})?(,[a-z]{3}(-[a-z]{3})?)*$"
    )
    breach_timezone: str = "Europe/London"
    breach_scan_interval_s: int = Field(default=300, ge=10)

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

    @field_validator("previous_master_keys")
    @classmethod
    def _previous_keys_are_32_bytes_hex(cls, values: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for position, value in enumerate(values):
            try:
                cls._key_is_32_bytes_hex(value)
            except ValueError:
                raise ValueError(f"key {position}: must be 64 hexadecimal characters (32 bytes)") from None
        return values

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

    @property
    def previous_master_key_bytes(self) -> tuple[bytes, ...]:
        return tuple(bytes.fromhex(k.get_secret_value()) for k in self.previous_master_keys)

    def public_view(self) -> dict[str, Any]:
        """Settings safe to print: secrets omitted, passwords in URLs masked."""
        out: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                continue
            out[name] = str(value) if isinstance(value, Path) else value
        out["database_url"] = redact_url(self.dsn)
        return out
