"""A gateway's configuration file (TOML), validated with a clear error per bad setting.

    gateway_id = "gw-101"
    site = "demo"
    private_key_file = "gw-101.key"      # 32-byte Ed25519 seed, hex; mode 0600
    badge_hash_key = "<64 hex>"          # hashes static ids (RFID, iBeacon) on the gateway

    [broker]
    host = "127.0.0.1"
    port = 1884

    [journal]
    path = "var/gateways/gw-101.journal"

Relative paths are resolved against the file's own directory.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from campus import signing
from campus.mqtt import BrokerAddress

__all__ = ["ConfigError", "GatewayConfig", "load_config", "write_config"]

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class ConfigError(ValueError):
    """The gateway configuration file is missing, unreadable or invalid."""


class BrokerSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    host: str = "127.0.0.1"
    port: int = Field(default=1884, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


class JournalSection(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    path: Path
    max_bytes: int = Field(default=1 << 30, ge=1 << 20)


class GatewayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    gateway_id: str = Field(pattern=_ID)
    site: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    private_key_file: Path
    badge_hash_key: SecretStr
    broker: BrokerSection = BrokerSection()
    journal: JournalSection
    firmware: str = "campus-gateway/0.1"
    # Aggregation window for BLE sightings (seconds).
    window_s: float = Field(default=1.5, gt=0.1, le=10)

    def broker_address(self) -> BrokerAddress:
        b = self.broker
        return BrokerAddress(
            host=b.host,
            port=b.port,
            username=b.username,
            password=b.password.get_secret_value() if b.password else None,
            ca_file=b.ca_file,
            cert_file=b.cert_file,
            key_file=b.key_file,
        )

    def private_key(self) -> Ed25519PrivateKey:
        try:
            raw = bytes.fromhex(self.private_key_file.read_text().strip())
            return signing.load_private_key(raw)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"private_key_file {self.private_key_file}: {exc}") from exc

    def badge_hash_key_bytes(self) -> bytes:
        return bytes.fromhex(self.badge_hash_key.get_secret_value())


def _resolve(base: Path, value: object) -> object:
    if isinstance(value, str) and value and not Path(value).is_absolute():
        return str(base / value)
    return value


def load_config(path: Path) -> GatewayConfig:
    """Read and validate ``path``; raise :class:`ConfigError` naming the bad setting."""
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    base = path.parent
    if "private_key_file" in raw:
        raw["private_key_file"] = _resolve(base, raw["private_key_file"])
    if isinstance(raw.get("journal"), dict) and "path" in raw["journal"]:
        raw["journal"]["path"] = _resolve(base, raw["journal"]["path"])
    try:
        return GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(file)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc


def write_config(
    path: Path,
    *,
    gateway_id: str,
    site: str,
    key_file: Path,
    badge_hash_key: bytes,
    broker_host: str,
    broker_port: int,
    journal_path: Path,
) -> None:
    """Write a gateway configuration file (mode 0600: it names the key and holds the hash key)."""
    text = (
        f'gateway_id = "{gateway_id}"\n'
        f'site = "{site}"\n'
        f'private_key_file = "{key_file}"\n'
        f'badge_hash_key = "{badge_hash_key.hex()}"\n\n'
        f'[broker]\nhost = "{broker_host}"\nport = {broker_port}\n\n'
        f'[journal]\npath = "{journal_path}"\n'
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(text)
