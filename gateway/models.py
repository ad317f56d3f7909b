"""The gateway's own value types: what a scanner heard, and what a badge frame says.

Backends convert the foreign objects they receive (bleak's
``AdvertisementData``, serial bytes, typed lines) into :class:`Advert` and
:class:`CardRead` at the boundary; nothing else in the gateway sees them.
An advert's ``address`` and a card's number never leave the gateway: what
goes out is a :class:`BadgeIdentity` (a rotating id as heard, or a keyed
hash of a static id).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from campus.wire import SightingKind

__all__ = [
    "Advert",
    "BadgeFrame",
    "BadgeIdentity",
    "CardRead",
    "DropReason",
    "EddystoneEid",
    "EddystoneUid",
    "IBeacon",
]


@dataclass(frozen=True, slots=True)
class Advert:
    """One BLE advertisement as heard; ``address`` never leaves the gateway."""

    received_ms: int  # gateway clock, read once where the advert arrives
    address: str
    rssi: int
    manufacturer_data: Mapping[int, bytes]  # company id -> payload after the company id
    service_data: Mapping[str, bytes]  # lowercase 128-bit UUID string -> payload
    tx_power: int | None = None


@dataclass(frozen=True, slots=True)
class CardRead:
    """One card presented to an RFID/NFC reader."""

    received_ms: int
    card: str  # the card number as the reader gave it; hashed before it leaves


@dataclass(frozen=True, slots=True)
class IBeacon:
    """Apple iBeacon: proximity UUID, major, minor, measured power at 1 m (dBm)."""

    uuid: UUID
    major: int
    minor: int
    measured_power: int

    @property
    def identifier(self) -> str:
        """The static identifier that is hashed before it leaves: ``uuid:major:minor``."""
        return f"{self.uuid}:{self.major}:{self.minor}"


@dataclass(frozen=True, slots=True)
class EddystoneUid:
    """Eddystone-UID: 10-byte namespace, 6-byte instance, calibrated power at 0 m (dBm)."""

    namespace: bytes
    instance: bytes
    tx_power: int

    @property
    def identifier(self) -> str:
        """The static identifier that is hashed before it leaves: ``namespace+instance`` in hex."""
        return f"{self.namespace.hex()}+{self.instance.hex()}"


@dataclass(frozen=True, slots=True)
class EddystoneEid:
    """Eddystone-EID (Google's AES-based rotation): 8-byte ephemeral id, power at 0 m."""

    eid: bytes
    tx_power: int


@dataclass(frozen=True, slots=True)
class BadgeFrame:
    """The project's badge frame: an 8-byte rotating id and the badge's power at 1 m (dBm)."""

    eid: bytes
    tx_power: int


@dataclass(frozen=True, slots=True)
class BadgeIdentity:
    """What leaves the gateway for one badge: its wire kind and lower-case hex id."""

    kind: SightingKind
    id: str


class DropReason(StrEnum):
    """Why an advert was not forwarded."""

    NOT_A_BADGE = "not_a_badge"  # a phone, headphones, a beacon of a format we do not resolve
    MALFORMED = "malformed"  # claims a badge format but breaks its layout
