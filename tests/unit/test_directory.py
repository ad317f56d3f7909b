"""Badge resolution and the consent book."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from campus.wire import SightingKind
from ingest.directory import BadgeDirectory, BadgeRecord, ConsentBook, Purpose
from privacy import eid
from privacy.pseudonyms import static_badge_hash

ROT = 300


def eid_badge(student: int, key: bytes) -> BadgeRecord:
    return BadgeRecord(student_key=student, kind=SightingKind.BLE_EID, eid_key=key, rotation_s=ROT)


@settings(max_examples=50)
@given(st.integers(min_value=1_700_000_000, max_value=2_000_000_000), st.integers(min_value=-1, max_value=1))
def test_rotating_id_resolves_in_its_window_and_neighbours(unix_s: int, offset: int) -> None:
    key = bytes(range(16))
    directory = BadgeDirectory([eid_badge(42, key), eid_badge(43, os.urandom(16))])
    window = eid.window_index(unix_s, ROT)
    broadcast = eid.eid(key, window + offset).hex()
    assert directory.resolve(SightingKind.BLE_EID, broadcast, at_ms=unix_s * 1000) == 42


def test_rotating_id_from_a_distant_window_does_not_resolve() -> None:
    key = os.urandom(16)
    directory = BadgeDirectory([eid_badge(42, key)])
    now_s = 1_800_000_000
    stale = eid.eid(key, eid.window_index(now_s, ROT) - 5).hex()
    assert directory.resolve(SightingKind.BLE_EID, stale, at_ms=now_s * 1000) is None
    # ...but does when the sighting itself is from that window (a journal replay).
    assert directory.resolve(SightingKind.BLE_EID, stale, at_ms=(now_s - 5 * ROT) * 1000) == 42


def test_static_badges_resolve_by_kind_and_hash() -> None:
    card = static_badge_hash(b"k" * 32, kind="rfid", identifier="1234")
    directory = BadgeDirectory([BadgeRecord(student_key=7, kind=SightingKind.RFID, static_hash=card)])
    assert directory.resolve(SightingKind.RFID, card.hex(), at_ms=0) == 7
    assert directory.resolve(SightingKind.BLE_IBEACON, card.hex(), at_ms=0) is None
    assert directory.resolve(SightingKind.RFID, "00" * 16, at_ms=0) is None


def test_consent_is_off_unless_granted() -> None:
    book = ConsentBook({1: ["location_tracking"], 2: ["automatic_attendance"]})
    assert book.allows(1, Purpose.LOCATION_TRACKING)
    assert not book.allows(2, Purpose.LOCATION_TRACKING)
    assert not book.allows(3, Purpose.LOCATION_TRACKING)
    book.set(1, [])
    assert not book.allows(1, Purpose.LOCATION_TRACKING)
    assert len(book) == 1
