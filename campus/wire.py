"""Wire messages between gateways and ingest, schema version 1.

One strict decoder per message type (msgspec): unknown fields, wrong types,
out-of-range values and oversized payloads are refused with a
:class:`WireError` whose ``reason`` is a short stable code and whose message
says what was wrong. Decoded values are frozen Structs and never leave
their package as raw dicts. ``docs/PROTOCOL.md`` and
``campus/schemas/*.json`` describe the same shapes for third parties;
``tests/unit/test_wire.py`` checks that they agree.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final, Literal, TypeVar

import msgspec

__all__ = [
    "MAX_SIGHTINGS_PER_BATCH",
    "SCHEMA_VERSION",
    "Ack",
    "GatewayState",
    "GatewayStatus",
    "Sighting",
    "SightingBatch",
    "SightingKind",
    "WireError",
    "decode_ack",
    "decode_batch",
    "decode_status",
    "encode",
]

SCHEMA_VERSION: Final = 1
# A gateway aggregates per badge per 1-2 s window; 5,000 entries covers a
# gate reader at a school's morning rush with room to spare.
MAX_SIGHTINGS_PER_BATCH: Final = 5000

_Ident = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
# Epoch milliseconds, between 2020-01-01 and 2100-01-01.
_EpochMs = Annotated[int, msgspec.Meta(ge=1_577_836_800_000, lt=4_102_444_800_000)]
_Rssi = Annotated[int, msgspec.Meta(ge=-127, le=20)]
# Badge identifiers are lowercase hex: 16 characters for a rotating
# ephemeral id (8 bytes), 32 for a keyed hash of a static id (16 bytes).
_BadgeId = Annotated[str, msgspec.Meta(pattern=r"^([0-9a-f]{16}|[0-9a-f]{32})$")]


class WireError(ValueError):
    """A message that is not a valid v1 message. ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class SightingKind(StrEnum):
    BLE_EID = "ble-eid"  # the project's badge frame: rotating ephemeral id
    BLE_IBEACON = "ble-ibeacon"  # keyed hash of uuid/major/minor
    BLE_UID = "ble-uid"  # keyed hash of Eddystone namespace/instance
    RFID = "rfid"  # keyed hash of the card number; a door tap


class Sighting(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One badge heard by one gateway during one aggregation window."""

    kind: SightingKind
    id: _BadgeId
    first_ms: _EpochMs
    last_ms: _EpochMs
    count: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1
    rssi_max: _Rssi | None = None
    rssi_median: _Rssi | None = None


class SightingBatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a gateway publishes on ``.../sightings``."""

    v: Literal[1]
    site: _Ident
    gateway: _Ident
    boot: Annotated[int, msgspec.Meta(ge=1, lt=2**31)]
    seq: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
    sent_at_ms: _EpochMs
    sightings: Annotated[list[Sighting], msgspec.Meta(max_length=MAX_SIGHTINGS_PER_BATCH)]


class GatewayState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class GatewayStatus(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a gateway publishes, retained, on ``.../status`` (and as its last will)."""

    v: Literal[1]
    site: _Ident
    gateway: _Ident
    state: GatewayState
    boot: Annotated[int, msgspec.Meta(ge=1, lt=2**31)]
    sent_at_ms: _EpochMs
    firmware: Annotated[str, msgspec.Meta(max_length=64)] = ""
    uptime_s: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    journal_depth: Annotated[int, msgspec.Meta(ge=0)] = 0
    scan_rate: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    clock_offset_ms: int = 0


class Ack(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What ingest publishes on ``.../ack``: every seq <= ``hwm`` of ``boot`` is committed."""

    v: Literal[1]
    gateway: _Ident
    boot: Annotated[int, msgspec.Meta(ge=1, lt=2**31)]
    hwm: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
    committed_at_ms: _EpochMs
    # Seqs above ``hwm`` already committed (they arrived before a gap filled).
    committed_above: Annotated[tuple[int, ...], msgspec.Meta(max_length=1000)] = ()


_T = TypeVar("_T")

_batch_decoder = msgspec.json.Decoder(SightingBatch)
_status_decoder = msgspec.json.Decoder(GatewayStatus)
_ack_decoder = msgspec.json.Decoder(Ack)
_encoder = msgspec.json.Encoder()


def _decode(decoder: msgspec.json.Decoder[_T], payload: bytes, *, max_bytes: int) -> _T:
    if len(payload) > max_bytes:
        raise WireError("oversized", f"{len(payload)} bytes is over the {max_bytes}-byte limit")
    try:
        return decoder.decode(payload)
    except msgspec.ValidationError as exc:
        raise WireError("invalid", str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise WireError("malformed", str(exc)) from exc


def decode_batch(payload: bytes, *, max_bytes: int) -> SightingBatch:
    """Decode and validate a sightings payload, or raise :class:`WireError`."""
    batch = _decode(_batch_decoder, payload, max_bytes=max_bytes)
    for index, sighting in enumerate(batch.sightings):
        if sighting.last_ms < sighting.first_ms:
            raise WireError("invalid", f"sightings[{index}]: last_ms is before first_ms")
    return batch


def decode_status(payload: bytes, *, max_bytes: int = 4096) -> GatewayStatus:
    return _decode(_status_decoder, payload, max_bytes=max_bytes)


def decode_ack(payload: bytes, *, max_bytes: int = 1024) -> Ack:
    return _decode(_ack_decoder, payload, max_bytes=max_bytes)


def encode(message: SightingBatch | GatewayStatus | Ack) -> bytes:
    return _encoder.encode(message)
