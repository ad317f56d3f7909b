"""Consent rules (who may decide, age at the decision), the registries, dead-letter redaction."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privacy.consent_rules import age_on, check_decider
from privacy.errors import ConsentRefusedError
from privacy.models import DeciderRole, Purpose
from privacy.redact import is_redacted, redact_payload
from privacy.registry import (
    LOCATION_TABLES,
    STUDENT_TABLES,
    LeaverAction,
    is_location_column,
    tables_for,
    unregistered_location_tables,
    unregistered_student_tables,
)


def brute_force_age(born: date, day: date) -> int:
    age = 0
    while True:
        try:
            birthday = born.replace(year=born.year + age + 1)
        except ValueError:  # 29 February in a common year: the birthday is 1 March
            birthday = date(born.year + age + 1, 3, 1)
        if birthday > day:
            return age
        age += 1


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2020, 12, 31)), st.integers(0, 25 * 366))
def test_age_matches_counting_birthdays(born: date, days: int) -> None:
    day = born + timedelta(days=days)
    assert age_on(born, day) == brute_force_age(born, day)


def test_a_student_decides_from_the_configured_age() -> None:
    born = date(2012, 6, 15)
    assert (
        check_decider(
            DeciderRole.STUDENT, date_of_birth=born, decided_on=date(2025, 6, 15), self_consent_age=13
        )
        == 13
    )
    with pytest.raises(ConsentRefusedError, match="from age 13; this student is 12"):
        check_decider(
            DeciderRole.STUDENT, date_of_birth=born, decided_on=date(2025, 6, 14), self_consent_age=13
        )
    with pytest.raises(ConsentRefusedError, match="no date of birth"):
        check_decider(
            DeciderRole.STUDENT, date_of_birth=None, decided_on=date(2025, 6, 14), self_consent_age=13
        )


def test_guardians_and_admins_decide_at_any_age() -> None:
    for role in (DeciderRole.GUARDIAN, DeciderRole.ADMIN):
        assert (
            check_decider(role, date_of_birth=None, decided_on=date(2025, 1, 1), self_consent_age=13) is None
        )
        assert (
            check_decider(
                role, date_of_birth=date(2020, 1, 1), decided_on=date(2025, 1, 1), self_consent_age=13
            )
            == 5
        )


def test_location_columns_are_recognised() -> None:
    for column in ("zone_id", "from_zone", "last_zone_id", "x", "floor", "origin_lat", "location"):
        assert is_location_column(column), column
    for column in ("timezone", "student_key", "xp", "time", "gateway_id", "confidence"):
        assert not is_location_column(column), column


def test_unregistered_tables_are_reported() -> None:
    columns = [
        ("presence", "zone_id"),
        ("zones", "zone_id"),
        ("alerts", "zone_id"),
        ("alerts", "student_key"),
    ]
    assert unregistered_location_tables(columns) == {"alerts": ["zone_id"]}
    assert unregistered_student_tables(columns) == {"alerts": ["student_key"]}


def test_every_location_table_is_erased_for_leavers() -> None:
    for table in LOCATION_TABLES:
        assert STUDENT_TABLES[table.table].action is LeaverAction.ERASE
    assert {t.table for t in tables_for(Purpose.LOCATION_TRACKING)} == {
        "presence",
        "zone_transitions",
        "presence_current",
    }
    assert STUDENT_TABLES["student_data_keys"].action is LeaverAction.SHRED


ids = st.text("0123456789abcdef", min_size=16, max_size=32)


@given(st.lists(ids, min_size=1, max_size=20), st.sampled_from(["ble-eid", "rfid", "bogus"]))
def test_redaction_keeps_no_badge_identifier(badge_ids: list[str], kind: str) -> None:
    payload = json.dumps(
        {
            "v": 1,
            "site": "demo",
            "gateway": "gw-1",
            "seq": 3,
            "sightings": [{"kind": kind, "id": b, "rssi_max": -60} for b in badge_ids],
            "extra": badge_ids[0],
        }
    ).encode()
    kept = redact_payload(payload)
    assert is_redacted(kept)
    assert not any(b.encode() in kept for b in badge_ids)
    doc = json.loads(kept)
    assert doc["fields"] == {"v": 1, "site": "demo", "gateway": "gw-1", "seq": 3}
    assert sum(doc["sightings"].values()) == len(badge_ids)


@given(st.binary(max_size=300))
def test_redaction_of_arbitrary_bytes_never_keeps_them(raw: bytes) -> None:
    kept = redact_payload(raw)
    assert is_redacted(kept)
    doc = json.loads(kept)
    assert doc["bytes"] == len(raw)
    assert set(doc) <= {"redacted", "bytes", "sha256", "fields", "sightings"}


def test_unredacted_payloads_are_recognised() -> None:
    assert not is_redacted(b'{"sightings": [{"id": "00112233"}]}')
    assert not is_redacted(b"\xff\x00")
    assert is_redacted(None)
