"""Advert layouts: byte-exact examples, round trips, and nothing but FrameError on random bytes.

The iBeacon and Eddystone examples are whole advertising packets built byte
by byte from the published layouts (Apple's Proximity Beacon layout as
reproduced by beacon vendors; google/eddystone's protocol specification and
its UID/EID frame tables), with the specifications' own example values where
they give one (the Eddystone "elided UUID" namespace). Neither specification
publishes a complete packet dump, so the hex below is written from the tables.
"""

from __future__ import annotations

from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import frames
from gateway.errors import FrameError
from gateway.models import BadgeFrame, EddystoneEid, EddystoneUid, IBeacon
from privacy import eid

# Flags | manufacturer data: length 0x1A, type 0xFF, Apple 0x004C (little-endian), 0x02 0x15,
# UUID (the one of Apple's AirLocate sample), major 1, minor 2, measured power -59 dBm (0xC5).
IBEACON_PACKET = bytes.fromhex("0201061aff4c000215e2c56db5dffb48d2b060d0f5a71096e000010002c5")
# Flags | 16-bit service UUID list [0xFEAA] | service data: length 0x17, type 0x16, UUID 0xFEAA,
# UID frame 0x00, tx -20 dBm at 0 m (0xEC), namespace 8b0ca750095477cb3e77 (the spec's example of
# an elided UUID: 8b0ca750-e7a7-4e14-bd99-095477cb3e77 without e7a7-4e14-bd99), instance 1, RFU 00 00.
EDDYSTONE_UID_PACKET = bytes.fromhex("0201060303aafe1716aafe00ec8b0ca750095477cb3e770000000000010000")
# Service data: length 0x0D, EID frame 0x30, tx -20 dBm, 8-byte EID.
EDDYSTONE_EID_PACKET = bytes.fromhex("0201060303aafe0d16aafe30ec0102030405060708")
# The project's badge: flags | service data 128-bit (type 0x21), UUID least significant byte first,
# version 0x01, -59 dBm at 1 m, and the EID of the protocol's test vector (key 00..0f, window 5984464).
BADGE_PACKET = bytes.fromhex("0201061b2172ab926da267218ee24077d1f168c01901c561673e85424fa4a0")


def test_ibeacon_packet_parses_to_its_fields() -> None:
    data = frames.parse_advertising_data(IBEACON_PACKET)
    assert len(IBEACON_PACKET) == 30
    beacon = frames.parse_ibeacon(data.manufacturer_data[frames.APPLE_COMPANY_ID])
    assert beacon == IBeacon(
        uuid=UUID("e2c56db5-dffb-48d2-b060-d0f5a71096e0"), major=1, minor=2, measured_power=-59
    )
    assert beacon.identifier == "e2c56db5-dffb-48d2-b060-d0f5a71096e0:1:2"
    encoded = frames.encode_ibeacon(uuid=beacon.uuid, major=1, minor=2, measured_power=-59)
    assert frames.encode_ad_structures([(0x01, b"\x06"), (0xFF, b"\x4c\x00" + encoded)]) == IBEACON_PACKET


def test_eddystone_uid_packet_fills_the_advert_and_parses() -> None:
    assert len(EDDYSTONE_UID_PACKET) == 31  # "takes up the full 31 bytes"
    assert EDDYSTONE_UID_PACKET[7] == 0x17  # "the Service Data Length byte must be 0x17"
    data = frames.parse_advertising_data(EDDYSTONE_UID_PACKET)
    assert set(data.service_data) == {"0000feaa-0000-1000-8000-00805f9b34fb"}
    frame = frames.parse_eddystone(data.service_data[frames.EDDYSTONE_SERVICE_UUID])
    namespace = bytes.fromhex("8b0ca750095477cb3e77")
    assert frame == EddystoneUid(namespace=namespace, instance=bytes.fromhex("000000000001"), tx_power=-20)
    uuid = UUID("8b0ca750-e7a7-4e14-bd99-095477cb3e77").bytes
    assert uuid[:4] + uuid[10:] == namespace  # the spec's elision rule, checked
    encoded = frames.encode_eddystone_uid(namespace=namespace, instance=frame.instance, tx_power=-20)
    assert EDDYSTONE_UID_PACKET.endswith(encoded)


def test_eddystone_uid_without_rfu_bytes_is_accepted() -> None:
    short = frames.encode_eddystone_uid(namespace=b"\x01" * 10, instance=b"\x02" * 6, tx_power=0, rfu=False)
    assert len(short) == 18
    assert frames.parse_eddystone(short) == EddystoneUid(b"\x01" * 10, b"\x02" * 6, 0)


def test_eddystone_eid_packet_parses() -> None:
    data = frames.parse_advertising_data(EDDYSTONE_EID_PACKET)
    frame = frames.parse_eddystone(data.service_data[frames.EDDYSTONE_SERVICE_UUID])
    assert frame == EddystoneEid(eid=bytes(range(1, 9)), tx_power=-20)
    assert EDDYSTONE_EID_PACKET.endswith(frames.encode_eddystone_eid(eid=bytes(range(1, 9)), tx_power=-20))


def test_badge_packet_is_the_protocol_vector() -> None:
    badge_eid = eid.eid(bytes(range(16)), eid.window_index(1795339200, 300))
    assert frames.badge_packet(eid=badge_eid) == BADGE_PACKET
    assert len(BADGE_PACKET) == 31  # fills a legacy advert exactly
    data = frames.parse_advertising_data(BADGE_PACKET)
    assert frames.parse_badge_frame(data.service_data[frames.BADGE_SERVICE_UUID]) == BadgeFrame(
        eid=bytes.fromhex("61673e85424fa4a0"), tx_power=-59
    )


def test_badge_advert_carries_the_frame_and_nothing_else() -> None:
    advert = frames.badge_advert(
        eid=bytes(8), received_ms=1_795_339_200_000, address="AA:BB:CC:DD:EE:FF", rssi=-70, tx_power=-61
    )
    assert advert.manufacturer_data == {}
    assert frames.parse_badge_frame(advert.service_data[frames.BADGE_SERVICE_UUID]) == BadgeFrame(
        bytes(8), -61
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "not_ibeacon"),
        (bytes.fromhex("1005031c"), "not_ibeacon"),  # an iPhone's "nearby" advert
        (bytes.fromhex("0214") + bytes(21), "bad_length"),
        (bytes.fromhex("0215") + bytes(20), "bad_length"),
        (bytes.fromhex("0215") + bytes(22), "bad_length"),
    ],
)
def test_ibeacon_refusals(payload: bytes, reason: str) -> None:
    with pytest.raises(FrameError) as caught:
        frames.parse_ibeacon(payload)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "bad_length"),
        (bytes([0x10, 0xEC, 0x03]) + b"goo.gl", "other_frame"),  # Eddystone-URL
        (bytes([0x20]) + bytes(13), "other_frame"),  # Eddystone-TLM
        (bytes([0x00, 0xEC]) + bytes(15), "bad_length"),
        (bytes([0x30, 0xEC]) + bytes(7), "bad_length"),
    ],
)
def test_eddystone_refusals(payload: bytes, reason: str) -> None:
    with pytest.raises(FrameError) as caught:
        frames.parse_eddystone(payload)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "bad_length"),
        (b"\x02\xc5" + bytes(8), "unsupported_version"),
        (b"\x01\xc5" + bytes(9), "bad_length"),
    ],
)
def test_badge_frame_refusals(payload: bytes, reason: str) -> None:
    with pytest.raises(FrameError) as caught:
        frames.parse_badge_frame(payload)
    assert caught.value.reason == reason


def test_advertising_data_refusals_and_padding() -> None:
    with pytest.raises(FrameError, match="truncated"):
        frames.parse_advertising_data(bytes.fromhex("0201061aff4c00"))
    with pytest.raises(FrameError, match="bad_length"):
        frames.parse_advertising_data(bytes.fromhex("02ff4c"))
    # A zero length ends the data: the zero padding of a short advert is not an error.
    padded = frames.parse_advertising_data(bytes.fromhex("020106020a04") + bytes(10))
    assert padded.tx_power == 4
    assert padded.manufacturer_data == {}


def test_encoders_refuse_out_of_range_fields() -> None:
    with pytest.raises(FrameError):
        frames.encode_ibeacon(uuid=UUID(int=0), major=70_000, minor=0, measured_power=-59)
    with pytest.raises(FrameError):
        frames.encode_badge_frame(eid=bytes(7))
    with pytest.raises(FrameError):
        frames.encode_eddystone_eid(eid=bytes(8), tx_power=200)


_int8 = st.integers(-128, 127)


@given(uuid=st.uuids(), major=st.integers(0, 0xFFFF), minor=st.integers(0, 0xFFFF), power=_int8)
def test_ibeacon_round_trip(uuid: UUID, major: int, minor: int, power: int) -> None:
    payload = frames.encode_ibeacon(uuid=uuid, major=major, minor=minor, measured_power=power)
    assert frames.parse_ibeacon(payload) == IBeacon(uuid, major, minor, power)


@given(namespace=st.binary(min_size=10, max_size=10), instance=st.binary(min_size=6, max_size=6), tx=_int8)
def test_eddystone_uid_round_trip_through_raw_packet(namespace: bytes, instance: bytes, tx: int) -> None:
    service = bytes.fromhex("aafe") + frames.encode_eddystone_uid(
        namespace=namespace, instance=instance, tx_power=tx
    )
    raw = frames.encode_ad_structures([(frames.AD_SERVICE_DATA_16, service)])
    parsed = frames.parse_advertising_data(raw).service_data[frames.EDDYSTONE_SERVICE_UUID]
    assert frames.parse_eddystone(parsed) == EddystoneUid(namespace, instance, tx)


@given(badge_eid=st.binary(min_size=8, max_size=8), tx=_int8)
def test_badge_frame_round_trip_through_raw_packet(badge_eid: bytes, tx: int) -> None:
    raw = frames.badge_packet(eid=badge_eid, tx_power=tx)
    advert = frames.advert_from_raw(raw, received_ms=1_795_339_200_000, address="x", rssi=-60)
    assert frames.parse_badge_frame(advert.service_data[frames.BADGE_SERVICE_UUID]) == BadgeFrame(
        badge_eid, tx
    )


@given(st.binary(max_size=64))
def test_parsers_raise_only_frame_error_on_random_bytes(raw: bytes) -> None:
    for parse in (
        frames.parse_ibeacon,
        frames.parse_eddystone,
        frames.parse_badge_frame,
        frames.parse_advertising_data,
    ):
        try:
            parse(raw)
        except FrameError as exc:
            assert exc.reason  # a stable code, never empty


@given(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=40)), max_size=6))
def test_any_well_formed_structure_list_parses(structures: list[tuple[int, bytes]]) -> None:
    raw = frames.encode_ad_structures(structures)
    try:
        data = frames.parse_advertising_data(raw)
    except FrameError as exc:
        assert exc.reason == "bad_length"  # too short for its type, never a crash
    else:
        assert all(len(key) == 36 and key == key.lower() for key in data.service_data)
