"""Breach support (pure): detection rules over audit entries, and breach deadlines.

Three rules, each a pure function of audit entries and a :class:`DetectionPolicy`:

- ``bulk_read``: one actor read more than ``breach_bulk_students`` distinct
  students' data within ``breach_bulk_window_minutes`` (a bulk entry counts
  every student it lists, or its ``subject_count`` when it lists none). After
  a finding, the actor is not reported again by this rule for one window.
- ``off_hours``: a read outside the office hours and days, in the school's
  time zone (``system`` excepted: its jobs run at night). One finding per
  actor per local day.
- ``unusual_role``: a read that the actor's role does not normally make
  (:data:`NORMAL_READS`). One finding per actor, action and local day.

Findings carry counts and audit sequence numbers, never a student id.
Deadlines: the regulator must hear within 72 hours of the school becoming
aware (UK GDPR Art. 33(1)); families without undue delay (Art. 34(1)), which
has no fixed hour count, so it is shown as the time elapsed since awareness.
"""

from __future__ import annotations

import fnmatch
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Final
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "NORMAL_READS",
    "REGULATOR_DEADLINE",
    "AccessEntry",
    "BreachRecord",
    "BreachStatus",
    "DetectionPolicy",
    "Finding",
    "Rule",
    "detect",
    "is_read",
    "parse_days",
    "parse_hours",
    "regulator_deadline",
    "status_lines",
]

# UK GDPR Art. 33(1): notify the regulator within 72 hours of becoming aware.
REGULATOR_DEADLINE: Final = timedelta(hours=72)
_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SYSTEM_ROLE: Final = "system"

# What each role normally reads (audit actions, glob patterns). Anything else
# a role reads is "unusual". A role missing here normally reads nothing.
NORMAL_READS: Final[Mapping[str, tuple[str, ...]]] = {
    "admin": ("*",),
    "dpo": ("*",),
    "system": ("*",),
    "front_office": ("personal.read", "consent.read", "presence.*", "attendance.*", "export.subject"),
    "teacher": ("personal.read", "presence.*", "attendance.*"),
    "fire_warden": ("presence.*", "evacuation.*"),
    "parent": ("personal.read", "consent.read", "export.subject"),
    "student": ("personal.read", "consent.read", "export.subject"),
    "auditor": ("audit.*",),
}


class Rule(StrEnum):
    BULK_READ = "bulk_read"
    OFF_HOURS = "off_hours"
    UNUSUAL_ROLE = "unusual_role"


def is_read(action: str) -> bool:
    """Whether an audit action reads personal data (``*.read``, ``*.*_read``, ``export.*``)."""
    domain, _, verb = action.partition(".")
    return verb == "read" or verb.endswith("_read") or domain == "export"


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """What detection needs of one audit entry; ``subjects`` are the students a bulk entry lists."""

    seq: int
    at: datetime
    actor: str
    actor_role: str
    action: str
    student_id: UUID | None
    subject_count: int
    subjects: tuple[UUID, ...] = ()


def parse_hours(text: str) -> tuple[time, time]:
    """``"07:00-19:00"`` -> (07:00, 19:00); the end must be after the start."""
    try:
        start_text, end_text = text.split("-")
        start, end = time.fromisoformat(start_text), time.fromisoformat(end_text)
    except ValueError:
        raise ValueError(f"office hours {text!r} are not HH:MM-HH:MM") from None
    if end <= start:
        raise ValueError(f"office hours {text!r} end before they start")
    return start, end


def parse_days(text: str) -> frozenset[int]:
    """``"mon-fri"``, ``"mon,wed,fri"`` or ``"mon-fri,sat"`` -> weekday numbers (Monday 0)."""
    days: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        try:
            a, b = _DAYS.index(first), _DAYS.index(last or first)
        except ValueError:
            raise ValueError(f"office days {text!r}: use mon, tue, wed, thu, fri, sat, sun") from None
        span = range(a, b + 1) if a <= b else [*range(a, 7), *range(b + 1)]
        days.update(span)
    return frozenset(days)


@dataclass(frozen=True, slots=True)
class DetectionPolicy:
    bulk_students: int
    bulk_window: timedelta
    office_start: time
    office_end: time
    office_days: frozenset[int]
    timezone: ZoneInfo

    @classmethod
    def of(
        cls,
        *,
        bulk_students: int,
        bulk_window_minutes: int,
        office_hours: str,
        office_days: str,
        timezone: str,
    ) -> DetectionPolicy:
        start, end = parse_hours(office_hours)
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r}") from None
        return cls(
            bulk_students, timedelta(minutes=bulk_window_minutes), start, end, parse_days(office_days), zone
        )

    def in_office_hours(self, at: datetime) -> bool:
        local = at.astimezone(self.timezone)
        return local.weekday() in self.office_days and self.office_start <= local.time() < self.office_end


@dataclass(frozen=True, slots=True)
class Finding:
    rule: Rule
    dedupe_key: str
    actor: str
    actor_role: str
    first_seq: int
    last_seq: int
    first_at: datetime
    last_at: datetime
    students: int
    summary: str


@dataclass
class _Window:
    entries: deque[AccessEntry] = field(default_factory=deque)
    named: Counter[UUID] = field(default_factory=Counter)
    anonymous: int = 0

    def _ids(self, entry: AccessEntry) -> tuple[UUID, ...]:
        if entry.subjects:
            return entry.subjects
        return (entry.student_id,) if entry.student_id is not None else ()

    def add(self, entry: AccessEntry) -> None:
        self.entries.append(entry)
        ids = self._ids(entry)
        self.named.update(ids)
        if not ids:
            self.anonymous += entry.subject_count

    def expire(self, before: datetime) -> None:
        while self.entries and self.entries[0].at < before:
            old = self.entries.popleft()
            ids = self._ids(old)
            self.named.subtract(ids)
            for sid in ids:
                if self.named[sid] <= 0:
                    del self.named[sid]
            if not ids:
                self.anonymous -= old.subject_count

    @property
    def students(self) -> int:
        return len(self.named) + self.anonymous


def _bulk(
    entries: Sequence[AccessEntry],
    policy: DetectionPolicy,
    *,
    after_seq: int,
    quiet_until: Mapping[str, datetime],
) -> list[Finding]:
    findings = []
    windows: dict[str, _Window] = {}
    quiet = dict(quiet_until)
    for entry in entries:
        window = windows.setdefault(entry.actor, _Window())
        window.add(entry)
        window.expire(entry.at - policy.bulk_window)
        if entry.seq <= after_seq or window.students <= policy.bulk_students:
            continue
        if entry.actor in quiet and entry.at < quiet[entry.actor]:
            continue
        first = window.entries[0]
        minutes = int(policy.bulk_window.total_seconds() // 60)
        findings.append(
            Finding(
                Rule.BULK_READ,
                f"{entry.actor}|{entry.seq}",
                entry.actor,
                entry.actor_role,
                first.seq,
                entry.seq,
                first.at,
                entry.at,
                window.students,
                f"{entry.actor} ({entry.actor_role}) read {window.students} students' data within "
                f"{minutes} minutes (more than {policy.bulk_students})",
            )
        )
        quiet[entry.actor] = entry.at + policy.bulk_window
    return findings


def _grouped(rule: Rule, groups: Mapping[tuple[str, ...], list[AccessEntry]], describe: str) -> list[Finding]:
    findings = []
    for key, group in groups.items():
        first, last = group[0], group[-1]
        named = {sid for e in group for sid in (e.subjects or ((e.student_id,) if e.student_id else ()))}
        students = len(named) + sum(e.subject_count for e in group if not e.subjects and e.student_id is None)
        findings.append(
            Finding(
                rule,
                "|".join(key),
                first.actor,
                first.actor_role,
                first.seq,
                last.seq,
                first.at,
                last.at,
                students,
                f"{first.actor} ({first.actor_role}) {describe.format(action=first.action, n=len(group))}",
            )
        )
    return findings


def detect(
    entries: Iterable[AccessEntry],
    policy: DetectionPolicy,
    *,
    after_seq: int,
    quiet_until: Mapping[str, datetime] | None = None,
) -> list[Finding]:
    """Findings among entries with ``seq > after_seq``; earlier entries are context for the bulk window.

    ``quiet_until`` maps an actor to the time until which an earlier bulk
    finding already covers them.
    """
    reads = sorted((e for e in entries if is_read(e.action)), key=lambda e: (e.at, e.seq))
    new = [e for e in reads if e.seq > after_seq]
    off: dict[tuple[str, ...], list[AccessEntry]] = {}
    odd: dict[tuple[str, ...], list[AccessEntry]] = {}
    for e in new:
        day = e.at.astimezone(policy.timezone).date().isoformat()
        if e.actor_role != _SYSTEM_ROLE and not policy.in_office_hours(e.at):
            off.setdefault((e.actor, day), []).append(e)
        patterns = NORMAL_READS.get(e.actor_role, ())
        if not any(fnmatch.fnmatchcase(e.action, p) for p in patterns):
            odd.setdefault((e.actor, e.action, day), []).append(e)
    return [
        *_bulk(reads, policy, after_seq=after_seq, quiet_until=quiet_until or {}),
        *_grouped(Rule.OFF_HOURS, off, "read personal data {n} times outside office hours"),
        *_grouped(Rule.UNUSUAL_ROLE, odd, "made {n} reads ({action}) that the role does not normally make"),
    ]


class BreachStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class BreachRecord:
    breach_id: int
    summary: str
    aware_at: datetime
    opened_at: datetime
    opened_by: str
    finding_ids: tuple[int, ...]
    regulator_deadline: datetime
    regulator_notified_at: datetime | None
    families_notified_at: datetime | None
    status: BreachStatus
    closed_at: datetime | None
    closed_by: str | None
    closing_note: str | None


def regulator_deadline(aware_at: datetime) -> datetime:
    if aware_at.tzinfo is None:
        raise ValueError("aware_at must be timezone-aware")
    return aware_at + REGULATOR_DEADLINE


def _span(delta: timedelta) -> str:
    hours = int(abs(delta).total_seconds() // 3600)
    minutes = int(abs(delta).total_seconds() % 3600 // 60)
    return f"{hours} h {minutes:02d} min"


def status_lines(breach: BreachRecord, *, now: datetime) -> tuple[str, str]:
    """(regulator, families): where each notification stands at ``now``, in words."""
    if breach.regulator_notified_at is not None:
        late = breach.regulator_notified_at > breach.regulator_deadline
        regulator = f"notified {breach.regulator_notified_at:%Y-%m-%d %H:%M}{' (late)' if late else ''}"
    elif now > breach.regulator_deadline:
        regulator = f"OVERDUE by {_span(now - breach.regulator_deadline)} (due within 72 h of awareness)"
    else:
        regulator = f"due in {_span(breach.regulator_deadline - now)}"
    if breach.families_notified_at is not None:
        families = f"notified {breach.families_notified_at:%Y-%m-%d %H:%M}"
    else:
        families = f"not yet notified ({_span(now - breach.aware_at)} since awareness; without undue delay)"
    return regulator, families
