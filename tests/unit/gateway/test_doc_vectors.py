"""The test vectors of docs/PROTOCOL.md's "Badge radio frames and reader formats" hold."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from gateway import frames
from gateway.identify import card_identity, identify
from gateway.models import Advert, BadgeIdentity
from gateway.readers import StreamDecoder
from privacy import eid

DOC = (Path(__file__).parents[3] / "docs" / "PROTOCOL.md").read_text()
SECTION = DOC[DOC.index("## Badge radio frames and reader formats") :]
HASH_KEY = bytes(range(32))


def heard(
    *, manufacturer: dict[int, bytes] | None = None, services: dict[str, bytes] | None = None
) -> Advert:
    return Advert(
        received_ms=1_795_339_200_000,
        address="x",
        rssi=-60,
        manufacturer_data=manufacturer or {},
        service_data=services or {},
    )


def test_badge_frame_vector() -> None:
    packet = frames.badge_packet(eid=eid.eid(bytes(range(16)), 5984464), tx_power=-59)
    assert packet.hex() in SECTION
    assert frames.BADGE_SERVICE_UUID in SECTION


def test_ibeacon_and_eddystone_uid_vectors() -> None:
    beacon = frames.encode_ibeacon(
        uuid=UUID("e2c56db5-dffb-48d2-b060-d0f5a71096e0"), major=1, minor=2, measured_power=-59
    )
    packet = frames.encode_ad_structures(
        [(frames.AD_FLAGS, b"\x06"), (frames.AD_MANUFACTURER, b"\x4c\x00" + beacon)]
    )
    assert packet.hex() in SECTION.replace(" ", "")
    found = identify(heard(manufacturer={0x004C: beacon}), hash_key=HASH_KEY)
    assert isinstance(found, BadgeIdentity)
    assert f"ble-ibeacon {found.id}" in SECTION
    uid = frames.encode_eddystone_uid(
        namespace=bytes.fromhex("8b0ca750095477cb3e77"), instance=bytes.fromhex("000000000001"), tx_power=-20
    )
    found = identify(heard(services={frames.EDDYSTONE_SERVICE_UUID: uid}), hash_key=HASH_KEY)
    assert isinstance(found, BadgeIdentity)
    assert f"ble-uid {found.id}" in SECTION


def test_card_vector() -> None:
    (card,) = StreamDecoder("em4100").feed(b"\x0200008B3B40F0\r\n\x03")
    assert card == "0009124672"
    identity = card_identity(card, hash_key=HASH_KEY)
    assert identity is not None
    assert f"`rfid` `{identity.id}`" in SECTION
