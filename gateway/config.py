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

    [scanner]                            # optional; default: kind = "ble"
    kind = "ble"                         # ble | serial | wedge | sim
    adapter = "hci0"                     # ble: optional, the system's default adapter otherwise

    # kind = "serial": port = "/dev/ttyUSB0" (or a pyserial URL), baudrate = 9600,
    #   format = "em4100" | "hex-uid" | "decimal", em4100_number = "decimal" | "hex"
    # kind = "wedge": path = "-" (stdin) or a file/tty to read lines from,
    #   format = "decimal" | "hex" | "any"
    # kind = "sim": nothing is scanned (a simulator pushes adverts in-process)

Relative paths are resolved against the file's own directory (a wedge's
``path`` too, unless it is ``-``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from campus import signing
from campus.mqtt import BrokerAddress

__all__ = [
    "BleScanner",
    "ConfigError",
    "GatewayConfig",
    "ScannerSection",
    "SerialScanner",
    "SimScanner",
    "WedgeScanner",
    "load_config",
    "write_config",
]

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


class BleScanner(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["ble"] = "ble"
    adapter: str | None = Field(default=None, pattern=r"^hci[0-9]{1,2}$")


class SerialScanner(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["serial"]
    port: str = Field(min_length=1)
    baudrate: int = Field(default=9600, ge=300, le=4_000_000)
    format: Literal["em4100", "hex-uid", "decimal"] = "em4100"
    em4100_number: Literal["decimal", "hex"] = "decimal"


class WedgeScanner(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["wedge"]
    path: str = "-"
    format: Literal["decimal", "hex", "any"] = "any"


class SimScanner(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["sim"]


ScannerSection = Annotated[
    BleScanner | SerialScanner | WedgeScanner | SimScanner, Field(discriminator="kind")
]


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
    scanner: ScannerSection = BleScanner()

    @field_validator("badge_hash_key")
    @classmethod
    def _hash_key_is_32_bytes_hex(cls, value: SecretStr) -> SecretStr:
        try:
            key = bytes.fromhex(value.get_secret_value())
        except ValueError:
            raise ValueError("must be 64 hexadecimal characters (32 bytes)") from None
        if len(key) != 32:
            raise ValueError("must be 64 hexadecimal characters (32 bytes)")
        return value

    @property
    def window_ms(self) -> int:
        return round(self.window_s * 1000)

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
    scanner = raw.get("scanner")
    if isinstance(scanner, dict) and scanner.get("kind") == "wedge" and scanner.get("path", "-") != "-":
        scanner["path"] = _resolve(base, scanner["path"])
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
