"""What leaves the gateway: rotating ids as heard, keyed hashes of static ids, nothing for non-badges."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Mapping
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from campus.wire import SightingKind
from gateway import frames
from gateway.identify import card_identity, identify
from gateway.models import Advert, BadgeIdentity, DropReason
from privacy import eid
from privacy.pseudonyms import static_badge_hash

HASH_KEY = bytes(range(32))
T0_MS = 1_795_339_200_000


def advert(
    *, manufacturer: Mapping[int, bytes] | None = None, services: Mapping[str, bytes] | None = None
) -> Advert:
    return Advert(
        received_ms=T0_MS,
        address="4C:11:22:33:44:55",
        rssi=-60,
        manufacturer_data=manufacturer or {},
        service_data=services or {},
    )


def test_badge_frame_is_forwarded_as_heard() -> None:
    heard = frames.badge_advert(
        eid=bytes.fromhex("61673e85424fa4a0"), received_ms=T0_MS, address="a", rssi=-50
    )
    assert identify(heard, hash_key=HASH_KEY) == BadgeIdentity(SightingKind.BLE_EID, "61673e85424fa4a0")


def test_ibeacon_and_eddystone_uid_leave_only_as_keyed_hashes() -> None:
    uuid = UUID("e2c56db5-dffb-48d2-b060-d0f5a71096e0")
    beacon = advert(
        manufacturer={0x004C: frames.encode_ibeacon(uuid=uuid, major=1, minor=2, measured_power=-59)}
    )
    expected = static_badge_hash(HASH_KEY, kind="ble-ibeacon", identifier=f"{uuid}:1:2").hex()
    assert identify(beacon, hash_key=HASH_KEY) == BadgeIdentity(SightingKind.BLE_IBEACON, expected)
    assert len(expected) == 32

    namespace, instance = bytes.fromhex("8b0ca750095477cb3e77"), bytes.fromhex("000000000001")
    uid = advert(
        services={
            frames.EDDYSTONE_SERVICE_UUID: frames.encode_eddystone_uid(
                namespace=namespace, instance=instance, tx_power=-20
            )
        }
    )
    expected = static_badge_hash(
        HASH_KEY, kind="ble-uid", identifier="8b0ca750095477cb3e77+000000000001"
    ).hex()
    assert identify(uid, hash_key=HASH_KEY) == BadgeIdentity(SightingKind.BLE_UID, expected)
    # Another site's key gives unrelated ids: a hash cannot be followed across sites.
    assert identify(uid, hash_key=bytes(32)) != identify(uid, hash_key=HASH_KEY)


def test_non_badges_are_dropped() -> None:
    phone = advert(manufacturer={0x004C: bytes.fromhex("1005031c7e0a11")})  # Apple "nearby"
    headphones = advert(manufacturer={0x0006: bytes.fromhex("0109200233445566")}, services={})
    url = advert(services={frames.EDDYSTONE_SERVICE_UUID: bytes([0x10, 0xEC, 0x03]) + b"example"})
    google_eid = advert(
        services={frames.EDDYSTONE_SERVICE_UUID: frames.encode_eddystone_eid(eid=bytes(8), tx_power=0)}
    )
    other_service = advert(services={frames.uuid16(0x180F): b"\x64"})  # battery level
    for dropped in (phone, headphones, url, google_eid, other_service, advert()):
        assert identify(dropped, hash_key=HASH_KEY) is DropReason.NOT_A_BADGE


def test_broken_badge_formats_are_malformed() -> None:
    assert identify(advert(services={frames.BADGE_SERVICE_UUID: b"\x01\x02"}), hash_key=HASH_KEY) is (
        DropReason.MALFORMED
    )
    assert identify(advert(manufacturer={0x004C: b"\x02\x15\x00"}), hash_key=HASH_KEY) is DropReason.MALFORMED
    assert identify(advert(services={frames.EDDYSTONE_SERVICE_UUID: b"\x00\x01"}), hash_key=HASH_KEY) is (
        DropReason.MALFORMED
    )


def test_card_numbers_leave_only_as_keyed_hashes() -> None:
    identity = card_identity("0009 1234 56", hash_key=HASH_KEY)
    # The protocol's test vector.
    assert identity == BadgeIdentity(SightingKind.RFID, "42b7c0c015651ecc199ac85a2e6c3347")
    assert card_identity("0009123456", hash_key=HASH_KEY) == identity
    assert card_identity(" -:- ", hash_key=HASH_KEY) is None


@given(
    manufacturer=st.dictionaries(
        st.sampled_from([0x004C, 0x0006, 0xFFFF]), st.binary(max_size=30), max_size=3
    ),
    services=st.dictionaries(
        st.sampled_from([frames.BADGE_SERVICE_UUID, frames.EDDYSTONE_SERVICE_UUID, frames.uuid16(0x180F)]),
        st.binary(max_size=30),
        max_size=3,
    ),
)
def test_identify_never_raises_on_random_payloads(
    manufacturer: dict[int, bytes], services: dict[str, bytes]
) -> None:
    result = identify(advert(manufacturer=manufacturer, services=services), hash_key=HASH_KEY)
    if isinstance(result, BadgeIdentity):
        assert len(result.id) in (16, 32) and result.id == result.id.lower()
    else:
        assert result in (DropReason.NOT_A_BADGE, DropReason.MALFORMED)


def _heard_in_window(badge_key: bytes, window: int) -> Advert:
    """What a reader hears from a badge during rotation window ``window``."""
    return frames.badge_advert(
        eid=eid.eid(badge_key, window), received_ms=window * 300_000, address="random", rssi=-60
    )


def _bits_differing(a: bytes, b: bytes) -> int:
    return sum((x ^ y).bit_count() for x, y in zip(a, b, strict=True))


def test_over_the_air_id_changes_every_rotation_window() -> None:
    key = bytes(range(16))
    first = eid.window_index(1795339200, eid.DEFAULT_ROTATION_S)
    ids = [identify(_heard_in_window(key, w), hash_key=HASH_KEY) for w in range(first, first + 288)]  # a day
    assert len({i.id for i in ids if isinstance(i, BadgeIdentity)}) == 288
    # Within one window it does not change (ingest resolves it with the badge's key).
    within = [
        eid.eid(key, eid.window_index(1795339200 + s, eid.DEFAULT_ROTATION_S)) for s in range(0, 300, 37)
    ]
    assert len(set(within)) == 1


def test_two_windows_cannot_be_linked_without_the_key() -> None:
    """Everything a stranger hears besides the rotating id is the same for every badge,
    and one badge's consecutive ids differ like two different badges' ids do."""
    keys = [secrets.token_bytes(16) for _ in range(200)]
    window = eid.window_index(1795339200, eid.DEFAULT_ROTATION_S)
    packets = [frames.badge_packet(eid=eid.eid(k, w)) for k in keys for w in (window, window + 1)]
    # 1. No static handle: all bytes except the 8 id bytes are identical across badges and windows.
    assert len({p[:-8] for p in packets}) == 1
    # 2. The key is not in the frame.
    assert not any(k[:8] in p for k in keys for p in packets)
    # 3. Same badge, next window vs. different badges, same window: both about 32 of 64 bits differ.
    same_badge = [_bits_differing(eid.eid(k, window), eid.eid(k, window + 1)) for k in keys]
    other_badge = [
        _bits_differing(eid.eid(a, window), eid.eid(b, window)) for a, b in itertools.pairwise(keys)
    ]
    mean_same, mean_other = sum(same_badge) / len(same_badge), sum(other_badge) / len(other_badge)
    assert 29 < mean_same < 35 and 29 < mean_other < 35
    assert abs(mean_same - mean_other) < 3
    # 4. With the keys, linking is exact: the platform's table of next-window ids names one badge.
    table = {eid.eid(k, window + 1): index for index, k in enumerate(keys)}
    assert len(table) == len(keys)
    heard = frames.parse_badge_frame(
        _heard_in_window(keys[7], window + 1).service_data[frames.BADGE_SERVICE_UUID]
    )
    assert table[heard.eid] == 7
