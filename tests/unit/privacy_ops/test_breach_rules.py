"""Breach detection rules and deadlines (pure)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.breach import (
    AccessEntry,
    BreachRecord,
    BreachStatus,
    DetectionPolicy,
    Finding,
    Rule,
    detect,
    is_read,
    parse_days,
    parse_hours,
    regulator_deadline,
    status_lines,
)

POLICY = DetectionPolicy.of(
    bulk_students=5, bulk_window_minutes=10, office_hours="07:00-19:00", office_days="mon-fri", timezone="UTC"
)
# A Monday, 10:00 UTC: inside office hours.
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def reads(
    n: int,
    *,
    actor: str = "j.smith",
    role: str = "front_office",
    start: datetime = MONDAY,
    every: timedelta = timedelta(seconds=30),
    first_seq: int = 1,
    action: str = "personal.read",
    students: list[uuid.UUID] | None = None,
) -> list[AccessEntry]:
    ids = students or [uuid.uuid4() for _ in range(n)]
    return [
        AccessEntry(first_seq + i, start + i * every, actor, role, action, ids[i % len(ids)], 1)
        for i in range(n)
    ]


def rules_of(findings: list[Finding]) -> list[Rule]:
    return [f.rule for f in findings]


def test_reading_more_students_than_allowed_within_the_window_is_a_bulk_read() -> None:
    findings = detect(reads(6), POLICY, after_seq=0)
    assert rules_of(findings) == [Rule.BULK_READ]
    bulk = findings[0]
    assert (bulk.first_seq, bulk.last_seq, bulk.students) == (1, 6, 6)
    assert "6 students" in bulk.summary and "j.smith" in bulk.summary


def test_the_same_students_read_again_are_not_a_bulk_read() -> None:
    same = [uuid.uuid4() for _ in range(5)]
    assert detect(reads(40, students=same), POLICY, after_seq=0) == []


def test_reads_spread_wider_than_the_window_are_not_a_bulk_read() -> None:
    assert detect(reads(30, every=timedelta(minutes=3)), POLICY, after_seq=0) == []


def test_a_bulk_entry_counts_every_student_it_touched() -> None:
    roster = AccessEntry(1, MONDAY, "t.jones", "teacher", "presence.roster_read", None, 30)
    listed = AccessEntry(2, MONDAY, "t.kim", "teacher", "presence.roster_read", None, 3,
                         subjects=tuple(uuid.uuid4() for _ in range(3)))  # fmt: skip
    findings = detect([roster, listed], POLICY, after_seq=0)
    assert [(f.actor, f.students) for f in findings] == [("t.jones", 30)]


def test_one_finding_per_window_and_none_for_entries_already_scanned() -> None:
    entries = reads(30)  # 30 students in 15 minutes: crosses at 6, quiet for 10 minutes, crosses again
    findings = detect(entries, POLICY, after_seq=0)
    assert [f.last_seq for f in findings] == [6, 26]
    # A second scan that has already seen everything finds nothing new.
    assert detect(entries, POLICY, after_seq=30) == []
    # An actor already reported is quiet until the earlier finding's window has passed.
    quiet = {"j.smith": MONDAY + timedelta(hours=1)}
    assert detect(entries, POLICY, after_seq=0, quiet_until=quiet) == []


@settings(max_examples=50, deadline=None)
@given(
    student_count=st.integers(min_value=1, max_value=5),
    gaps=st.lists(st.integers(min_value=0, max_value=900), min_size=1, max_size=80),
)
def test_never_a_bulk_read_when_at_most_the_threshold_of_students_is_read(
    student_count: int, gaps: list[int]
) -> None:
    ids = [uuid.uuid4() for _ in range(student_count)]
    at, entries = MONDAY, []
    for i, gap in enumerate(gaps):
        at += timedelta(seconds=gap)
        entries.append(AccessEntry(i + 1, at, "a", "admin", "personal.read", ids[i % student_count], 1))
    assert all(f.rule is not Rule.BULK_READ for f in detect(entries, POLICY, after_seq=0))


@settings(max_examples=50, deadline=None)
@given(n=st.integers(min_value=6, max_value=60), spacing=st.integers(min_value=0, max_value=100))
def test_always_a_bulk_read_when_more_students_are_read_within_the_window(n: int, spacing: int) -> None:
    every = timedelta(seconds=min(spacing, 599 // n))  # all n reads inside ten minutes
    findings = detect(reads(n, role="admin", every=every), POLICY, after_seq=0)
    assert rules_of(findings)[:1] == [Rule.BULK_READ]


def test_reads_out_of_hours_are_grouped_per_actor_and_day() -> None:
    night = MONDAY.replace(hour=22)
    saturday = MONDAY + timedelta(days=5)
    entries = [*reads(2, start=night), *reads(1, start=saturday, first_seq=10)]
    findings = [f for f in detect(entries, POLICY, after_seq=0) if f.rule is Rule.OFF_HOURS]
    assert [(f.first_seq, f.last_seq, f.students) for f in findings] == [(1, 2, 2), (10, 10, 1)]
    # The platform's own jobs run at night: not findings.
    assert detect(reads(3, role="system", start=night), POLICY, after_seq=0) == []


def test_office_hours_are_in_the_schools_time_zone() -> None:
    london = DetectionPolicy.of(
        bulk_students=5, bulk_window_minutes=10, office_hours="07:00-19:00", office_days="mon-fri",
        timezone="Europe/London",
    )  # fmt: skip
    summer_evening = datetime(2026, 7, 6, 18, 30, tzinfo=UTC)  # 19:30 in London (BST)
    assert london.in_office_hours(summer_evening) is False
    assert POLICY.in_office_hours(summer_evening) is True


def test_a_role_reading_what_it_normally_does_not_is_unusual() -> None:
    entries = [
        *reads(2, role="teacher", action="export.subject"),
        *reads(1, role="auditor", action="personal.read", first_seq=10),
        *reads(1, role="fire_warden", action="presence.roster_read", first_seq=20),
        *reads(1, role="teacher", action="consent.change", first_seq=30),  # a change, not a read
    ]
    odd = [f for f in detect(entries, POLICY, after_seq=0) if f.rule is Rule.UNUSUAL_ROLE]
    assert [(f.actor_role, f.first_seq, f.last_seq) for f in odd] == [("teacher", 1, 2), ("auditor", 10, 10)]
    assert "export.subject" in odd[0].summary


@pytest.mark.parametrize(
    ("action", "read"),
    [
        ("personal.read", True),
        ("presence.roster_read", True),
        ("export.subject", True),
        ("consent.change", False),
        ("erasure.student", False),
    ],
)
def test_what_counts_as_a_read(action: str, read: bool) -> None:
    assert is_read(action) is read


def test_parsing_office_hours_and_days() -> None:
    assert parse_days("mon-fri") == frozenset(range(5))
    assert parse_days("sat,sun") == frozenset({5, 6})
    assert parse_days("fri-mon") == frozenset({4, 5, 6, 0})
    with pytest.raises(ValueError, match="office days"):
        parse_days("monday")
    with pytest.raises(ValueError, match="end before"):
        parse_hours("19:00-07:00")
    with pytest.raises(ValueError, match="time zone"):
        DetectionPolicy.of(
            bulk_students=1,
            bulk_window_minutes=1,
            office_hours="07:00-19:00",
            office_days="mon",
            timezone="Mars/Base",
        )


def breach(**changes: object) -> BreachRecord:
    aware = MONDAY
    values: dict[str, object] = {
        "breach_id": 1,
        "summary": "laptop lost",
        "aware_at": aware,
        "opened_at": aware,
        "opened_by": "dpo",
        "finding_ids": (),
        "regulator_deadline": regulator_deadline(aware),
        "regulator_notified_at": None,
        "families_notified_at": None,
        "status": BreachStatus.OPEN,
        "closed_at": None,
        "closed_by": None,
        "closing_note": None,
    }
    values.update(changes)
    return BreachRecord(**values)  # type: ignore[arg-type]


def test_the_regulator_must_hear_within_72_hours_of_awareness() -> None:
    assert regulator_deadline(MONDAY) == MONDAY + timedelta(hours=72)
    regulator, families = status_lines(breach(), now=MONDAY + timedelta(hours=70))
    assert regulator == "due in 2 h 00 min"
    assert families.startswith("not yet notified (70 h 00 min since awareness")
    regulator, _ = status_lines(breach(), now=MONDAY + timedelta(hours=75, minutes=30))
    assert regulator.startswith("OVERDUE by 3 h 30 min")
    late = breach(regulator_notified_at=MONDAY + timedelta(hours=80))
    assert status_lines(late, now=MONDAY + timedelta(days=5))[0].endswith("(late)")
