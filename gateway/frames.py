"""BLE advert layouts: iBeacon, Eddystone-UID/EID and the project's badge frame. Pure.

Each format has an encoder (for badges, the simulator and tests) and a
parser that raises only :class:`~gateway.errors.FrameError`, whatever bytes
it is given. Payloads are the bytes *after* the identifier that routes them,
the way scanners (bleak, BlueZ, CoreBluetooth) hand them over:

- iBeacon: manufacturer data of company ``0x004C`` (Apple):
  ``02 15 | uuid (16) | major (2, BE) | minor (2, BE) | measured power at 1 m (int8)``.
- Eddystone: service data of UUID ``0xFEAA``; first byte the frame type.
  UID ``00 | tx at 0 m (int8) | namespace (10) | instance (6) [| RFU (2)]``;
  EID ``30 | tx at 0 m (int8) | eid (8)``.
- The project's badge frame: service data of the 128-bit UUID
  :data:`BADGE_SERVICE_UUID`: ``01 | tx at 1 m (int8) | eid (8)``, where
  ``eid`` is :func:`privacy.eid.eid` of the badge key and the rotation window.
  With the flags it fills a legacy advert's 31 bytes exactly.

:func:`parse_advertising_data` reads raw advertising bytes (a sequence of
``length | type | data`` structures) into the same maps, for readers that
hand over raw packets and for the byte-exact examples of the specifications.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final
from uuid import UUID

from gateway.errors import FrameError
from gateway.models import Advert, BadgeFrame, EddystoneEid, EddystoneUid, IBeacon

__all__ = [
    "AD_FLAGS",
    "AD_MANUFACTURER",
    "AD_SERVICE_DATA_16",
    "AD_SERVICE_DATA_32",
    "AD_SERVICE_DATA_128",
    "AD_SERVICE_UUIDS_16",
    "AD_TX_POWER",
    "APPLE_COMPANY_ID",
    "BADGE_FRAME_VERSION",
    "BADGE_SERVICE_UUID",
    "EDDYSTONE_EID_FRAME",
    "EDDYSTONE_SERVICE_UUID",
    "EDDYSTONE_UID_FRAME",
    "AdvertisingData",
    "advert_from_raw",
    "badge_advert",
    "badge_packet",
    "encode_ad_structures",
    "encode_badge_frame",
    "encode_eddystone_eid",
    "encode_eddystone_uid",
    "encode_ibeacon",
    "parse_advertising_data",
    "parse_badge_frame",
    "parse_eddystone",
    "parse_ibeacon",
    "uuid16",
]

APPLE_COMPANY_ID: Final = 0x004C
_IBEACON_PREFIX: Final = b"\x02\x15"  # type 0x02 (proximity beacon), 0x15 = 21 bytes follow
_IBEACON_LEN: Final = 23

EDDYSTONE_UID_FRAME: Final = 0x00
EDDYSTONE_EID_FRAME: Final = 0x30
_EDDYSTONE_UID_LEN: Final = 18  # without the two RFU bytes, as older beacons send it
_EDDYSTONE_UID_FULL_LEN: Final = 20
_EDDYSTONE_EID_LEN: Final = 10

# A random (version 4) UUID chosen for this project's badge frame: 128-bit
# service UUIDs need no registration, unlike company ids and 16-bit UUIDs.
BADGE_SERVICE_UUID: Final = "19c068f1-d177-40e2-8e21-67a26d92ab72"
BADGE_FRAME_VERSION: Final = 0x01
_BADGE_FRAME_LEN: Final = 10
EID_BYTES: Final = 8

# Advertising data types (Bluetooth Core Specification Supplement, part A).
AD_FLAGS: Final = 0x01
AD_SERVICE_UUIDS_16: Final = 0x03
AD_TX_POWER: Final = 0x0A
AD_SERVICE_DATA_16: Final = 0x16
AD_SERVICE_DATA_32: Final = 0x20
AD_SERVICE_DATA_128: Final = 0x21
AD_MANUFACTURER: Final = 0xFF
# "LE General Discoverable, BR/EDR not supported": what beacons send.
_FLAGS_BEACON: Final = 0x06
_BASE_UUID_SUFFIX: Final = "-0000-1000-8000-00805f9b34fb"


def uuid16(short: int) -> str:
    """The lower-case 128-bit form of a 16-bit Bluetooth UUID (as bleak reports it)."""
    return f"0000{short:04x}{_BASE_UUID_SUFFIX}"


EDDYSTONE_SERVICE_UUID: Final = uuid16(0xFEAA)


def _int8(value: int) -> int:
    return value - 256 if value > 127 else value


def _check_int8(name: str, value: int) -> None:
    if not -128 <= value <= 127:
        raise FrameError("out_of_range", f"{name} {value} is not a signed byte")


# -- iBeacon ---------------------------------------------------------------
def encode_ibeacon(*, uuid: UUID, major: int, minor: int, measured_power: int) -> bytes:
    """Manufacturer data payload (after Apple's company id) of an iBeacon advert."""
    if not (0 <= major <= 0xFFFF and 0 <= minor <= 0xFFFF):
        raise FrameError("out_of_range", "major and minor are 16-bit unsigned")
    _check_int8("measured_power", measured_power)
    return _IBEACON_PREFIX + uuid.bytes + struct.pack(">HHb", major, minor, measured_power)


def parse_ibeacon(payload: bytes) -> IBeacon:
    """Parse Apple manufacturer data as an iBeacon, or raise :class:`FrameError`.

    Reason ``not_ibeacon`` means another Apple advert (a phone's, AirPods');
    the other reasons mean a frame that claims to be an iBeacon but is broken.
    """
    if payload[:1] != _IBEACON_PREFIX[:1]:
        raise FrameError("not_ibeacon", "Apple manufacturer data of another type")
    if payload[:2] != _IBEACON_PREFIX:
        raise FrameError("bad_length", f"iBeacon length byte is {payload[1:2].hex() or 'missing'}, not 15")
    if len(payload) != _IBEACON_LEN:
        raise FrameError("bad_length", f"iBeacon payload is {len(payload)} bytes, not {_IBEACON_LEN}")
    major, minor, power = struct.unpack(">HHb", payload[18:23])
    return IBeacon(uuid=UUID(bytes=bytes(payload[2:18])), major=major, minor=minor, measured_power=power)


# -- Eddystone ---------------------------------------------------------------
def encode_eddystone_uid(*, namespace: bytes, instance: bytes, tx_power: int, rfu: bool = True) -> bytes:
    """Service data payload (UUID 0xFEAA) of an Eddystone-UID frame."""
    if len(namespace) != 10 or len(instance) != 6:
        raise FrameError("bad_length", "namespace is 10 bytes and instance 6")
    _check_int8("tx_power", tx_power)
    frame = bytes([EDDYSTONE_UID_FRAME]) + struct.pack(">b", tx_power) + namespace + instance
    return frame + b"\x00\x00" if rfu else frame


def encode_eddystone_eid(*, eid: bytes, tx_power: int) -> bytes:
    """Service data payload (UUID 0xFEAA) of an Eddystone-EID frame."""
    if len(eid) != EID_BYTES:
        raise FrameError("bad_length", f"an EID is {EID_BYTES} bytes")
    _check_int8("tx_power", tx_power)
    return bytes([EDDYSTONE_EID_FRAME]) + struct.pack(">b", tx_power) + eid


def parse_eddystone(payload: bytes) -> EddystoneUid | EddystoneEid:
    """Parse Eddystone service data (UID or EID), or raise :class:`FrameError`.

    Reason ``other_frame`` means a valid but unused frame type (URL, TLM, ...).
    The two RFU bytes of a UID frame may be present or not and are ignored.
    """
    if not payload:
        raise FrameError("bad_length", "empty Eddystone frame")
    frame_type = payload[0]
    if frame_type == EDDYSTONE_UID_FRAME:
        if len(payload) not in (_EDDYSTONE_UID_LEN, _EDDYSTONE_UID_FULL_LEN):
            raise FrameError("bad_length", f"Eddystone-UID frame is {len(payload)} bytes, not 18 or 20")
        return EddystoneUid(
            namespace=bytes(payload[2:12]), instance=bytes(payload[12:18]), tx_power=_int8(payload[1])
        )
    if frame_type == EDDYSTONE_EID_FRAME:
        if len(payload) != _EDDYSTONE_EID_LEN:
            raise FrameError("bad_length", f"Eddystone-EID frame is {len(payload)} bytes, not 10")
        return EddystoneEid(eid=bytes(payload[2:10]), tx_power=_int8(payload[1]))
    raise FrameError("other_frame", f"Eddystone frame type 0x{frame_type:02x} is not UID or EID")


# -- the project's badge frame -----------------------------------------------
def encode_badge_frame(*, eid: bytes, tx_power: int = -59) -> bytes:
    """Service data payload (UUID :data:`BADGE_SERVICE_UUID`) of the project's badge frame."""
    if len(eid) != EID_BYTES:
        raise FrameError("bad_length", f"a badge's rotating id is {EID_BYTES} bytes")
    _check_int8("tx_power", tx_power)
    return bytes([BADGE_FRAME_VERSION]) + struct.pack(">b", tx_power) + eid


def parse_badge_frame(payload: bytes) -> BadgeFrame:
    """Parse the project's badge frame, or raise :class:`FrameError`."""
    if not payload:
        raise FrameError("bad_length", "empty badge frame")
    if payload[0] != BADGE_FRAME_VERSION:
        raise FrameError("unsupported_version", f"badge frame version 0x{payload[0]:02x}")
    if len(payload) != _BADGE_FRAME_LEN:
        raise FrameError("bad_length", f"badge frame is {len(payload)} bytes, not {_BADGE_FRAME_LEN}")
    return BadgeFrame(eid=bytes(payload[2:10]), tx_power=_int8(payload[1]))


def badge_advert(*, eid: bytes, received_ms: int, address: str, rssi: int, tx_power: int = -59) -> Advert:
    """The advert a reader hears from a project badge broadcasting ``eid``.

    ``tx_power`` is the badge's calibrated power at 1 m, carried in the frame.
    """
    return Advert(
        received_ms=received_ms,
        address=address,
        rssi=rssi,
        manufacturer_data={},
        service_data={BADGE_SERVICE_UUID: encode_badge_frame(eid=eid, tx_power=tx_power)},
    )


# -- raw advertising data ----------------------------------------------------
@dataclass(frozen=True, slots=True)
class AdvertisingData:
    """The parts of raw advertising data the gateway reads."""

    manufacturer_data: Mapping[int, bytes]
    service_data: Mapping[str, bytes]
    tx_power: int | None = None


_SERVICE_DATA_UUID_BYTES: Final = {AD_SERVICE_DATA_16: 2, AD_SERVICE_DATA_32: 4, AD_SERVICE_DATA_128: 16}


def _service_uuid(raw: bytes) -> str:
    """The lower-case 128-bit form of a 16-, 32- or 128-bit UUID sent least significant byte first."""
    if len(raw) == 16:
        return str(UUID(bytes=raw[::-1]))
    return f"{int.from_bytes(raw, 'little'):08x}{_BASE_UUID_SUFFIX}"


def parse_advertising_data(raw: bytes) -> AdvertisingData:
    """Split raw advertising (or scan response) bytes into their structures.

    Raises :class:`FrameError` on a structure that runs past the end or is
    too short for its type. A zero length byte ends the data (padding).
    Unknown types are skipped. A repeated key keeps the last value, as bleak does.
    """
    manufacturer: dict[int, bytes] = {}
    services: dict[str, bytes] = {}
    tx_power: int | None = None
    offset = 0
    while offset < len(raw):
        length = raw[offset]
        if length == 0:
            break
        end = offset + 1 + length
        if end > len(raw):
            raise FrameError("truncated", f"structure at byte {offset} needs {length} bytes, has fewer")
        ad_type, data = raw[offset + 1], bytes(raw[offset + 2 : end])
        if ad_type == AD_MANUFACTURER:
            if len(data) < 2:
                raise FrameError("bad_length", f"manufacturer data at byte {offset} has no company id")
            manufacturer[int.from_bytes(data[:2], "little")] = data[2:]
        elif ad_type in _SERVICE_DATA_UUID_BYTES:
            width = _SERVICE_DATA_UUID_BYTES[ad_type]
            if len(data) < width:
                raise FrameError("bad_length", f"service data at byte {offset} has no {width * 8}-bit UUID")
            services[_service_uuid(data[:width])] = data[width:]
        elif ad_type == AD_TX_POWER:
            if len(data) != 1:
                raise FrameError("bad_length", f"tx power at byte {offset} is not one byte")
            tx_power = _int8(data[0])
        offset = end
    return AdvertisingData(manufacturer_data=manufacturer, service_data=services, tx_power=tx_power)


def encode_ad_structures(structures: Iterable[tuple[int, bytes]]) -> bytes:
    """Raw advertising bytes from ``(type, data)`` pairs."""
    out = bytearray()
    for ad_type, data in structures:
        if len(data) > 254:
            raise FrameError("bad_length", "an advertising structure holds at most 254 bytes of data")
        out += bytes([len(data) + 1, ad_type]) + data
    return bytes(out)


def badge_packet(*, eid: bytes, tx_power: int = -59) -> bytes:
    """The full 31-byte legacy advertising data of a project badge (flags + service data)."""
    return encode_ad_structures(
        [
            (AD_FLAGS, bytes([_FLAGS_BEACON])),
            (
                AD_SERVICE_DATA_128,
                UUID(BADGE_SERVICE_UUID).bytes[::-1] + encode_badge_frame(eid=eid, tx_power=tx_power),
            ),
        ]
    )


def advert_from_raw(raw: bytes, *, received_ms: int, address: str, rssi: int) -> Advert:
    """An :class:`Advert` from raw advertising bytes; raises :class:`FrameError` if they are broken."""
    data = parse_advertising_data(raw)
    return Advert(
        received_ms=received_ms,
        address=address,
        rssi=rssi,
        manufacturer_data=data.manufacturer_data,
        service_data=data.service_data,
        tx_power=data.tx_power,
    )
