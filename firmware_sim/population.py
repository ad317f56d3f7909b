"""Students, forms, year groups and the timetable of one school day. Pure.

Times are seconds since local midnight of the school day. The day (an
English secondary school): gates open 08:20, registration 08:40-09:00 in the
form room, five one-hour lessons with a 20-minute break after the second
and a 50-minute lunch after the third, end of day 15:10.

Each form (about ``FORM_SIZE`` students of one year group) has a form room
and, for every lesson, a room: a classroom, or PE in the hall or on the
playground. Each student draws, from the seed, whether they are absent, late,
leave early, wander off once, their walking speed and their gate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

import numpy as np

from firmware_sim.campus import FORM_SIZE, forms_for
from firmware_sim.models import Campus

__all__ = [
    "DAY",
    "END_OF_DAY_S",
    "GATES_OPEN_S",
    "Form",
    "Period",
    "PeriodKind",
    "Population",
    "Rates",
    "Student",
    "build_population",
    "hhmm",
    "parse_hhmm",
]


def parse_hhmm(text: str) -> int:
    """'08:20' -> seconds since midnight; raises ``ValueError`` naming the text."""
    try:
        hours, minutes = text.split(":")
        h, m = int(hours), int(minutes)
    except ValueError:
        raise ValueError(f"{text!r} is not a time of day like 08:20") from None
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"{text!r} is not a time of day like 08:20")
    return h * 3600 + m * 60


def hhmm(seconds: float) -> str:
    s = int(seconds) % 86_400
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}"


class PeriodKind(StrEnum):
    REGISTRATION = "registration"
    LESSON = "lesson"
    BREAK = "break"
    LUNCH = "lunch"


@dataclass(frozen=True, slots=True)
class Period:
    name: str
    kind: PeriodKind
    start_s: int
    end_s: int


DAY: Final = (
    Period("registration", PeriodKind.REGISTRATION, parse_hhmm("08:40"), parse_hhmm("09:00")),
    Period("P1", PeriodKind.LESSON, parse_hhmm("09:00"), parse_hhmm("10:00")),
    Period("P2", PeriodKind.LESSON, parse_hhmm("10:00"), parse_hhmm("11:00")),
    Period("break", PeriodKind.BREAK, parse_hhmm("11:00"), parse_hhmm("11:20")),
    Period("P3", PeriodKind.LESSON, parse_hhmm("11:20"), parse_hhmm("12:20")),
    Period("lunch", PeriodKind.LUNCH, parse_hhmm("12:20"), parse_hhmm("13:10")),
    Period("P4", PeriodKind.LESSON, parse_hhmm("13:10"), parse_hhmm("14:10")),
    Period("P5", PeriodKind.LESSON, parse_hhmm("14:10"), parse_hhmm("15:10")),
)
GATES_OPEN_S: Final = parse_hhmm("08:20")
END_OF_DAY_S: Final = parse_hhmm("15:10")
YEAR_GROUPS: Final = (7, 8, 9, 10, 11)
# About one form in ten has PE in any lesson; the first takes the hall, the rest the playground.
PE_SHARE: Final = 0.1
# Walking speed of teenagers in a school, m/s (mean, spread, bounds).
WALK_SPEED: Final = (1.3, 0.15, 0.9, 1.8)


@dataclass(frozen=True, slots=True)
class Rates:
    """How often each behaviour happens (shares of students), documented in docs/SIMULATOR.md."""

    absent: float = 0.04  # England's secondary absence rate is about 7-9 %; a good day
    late: float = 0.06  # arrive after registration, 08:45-09:40
    early_leaver: float = 0.03  # signed out between 10:30 and 14:30 (appointments)
    wanderer: float = 0.03  # leave one lesson for 5-12 min, to a restricted area or off site
    toilet_per_lesson: float = 0.05  # leave a lesson for 3-5 min to the toilets on their floor

    def __post_init__(self) -> None:
        for name in ("absent", "late", "early_leaver", "wanderer", "toilet_per_lesson"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a share between 0 and 1, not {value}")


@dataclass(frozen=True, slots=True)
class Form:
    form_id: str  # e.g. "7A"
    year_group: int
    form_room: str
    assembly_point: str
    # Per period of DAY (same order): the zone the form is timetabled in, or None (break/lunch).
    rooms: tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class Student:
    index: int
    form: int
    year_group: int
    absent: bool
    arrival_s: float
    late: bool
    leave_s: float  # end of day, or the early leaver's time
    early_leaver: bool
    # A wanderer's excursion: (start, duration, zone id); None for everyone else.
    wander: tuple[float, float, str] | None
    walk_speed: float
    gate: str


@dataclass(frozen=True, slots=True)
class Population:
    forms: tuple[Form, ...]
    students: tuple[Student, ...]
    rates: Rates

    def __len__(self) -> int:
        return len(self.students)

    def year_groups(self) -> list[int]:
        return [s.year_group for s in self.students]


def _form_names(count: int) -> list[tuple[str, int]]:
    per_year = math.ceil(count / len(YEAR_GROUPS))
    out = []
    for i in range(count):
        year = YEAR_GROUPS[min(i // per_year, len(YEAR_GROUPS) - 1)]
        letter = chr(ord("A") + i % per_year) if per_year <= 26 else f"{i % per_year + 1}"
        out.append((f"{year}{letter}", year))
    return out


def _timetable(campus: Campus, forms: int, rng: np.random.Generator) -> list[list[str | None]]:
    rooms: list[list[str | None]] = [[] for _ in range(forms)]
    classrooms = list(campus.classrooms)
    for period in DAY:
        if period.kind is PeriodKind.REGISTRATION:
            for f in range(forms):
                rooms[f].append(classrooms[f % len(classrooms)])
            continue
        if period.kind is not PeriodKind.LESSON:
            for f in range(forms):
                rooms[f].append(None)
            continue
        order = rng.permutation(forms)
        pe = max(1, round(forms * PE_SHARE)) if forms >= 3 else 0
        shuffled = rng.permutation(len(classrooms))
        for rank, f in enumerate(order.tolist()):
            if rank < pe:
                rooms[f].append(campus.hall if rank == 0 else campus.playground)
            else:
                rooms[f].append(classrooms[int(shuffled[(rank - pe) % len(classrooms)])])
    return rooms


def build_population(
    campus: Campus, *, students: int, seed: int, day: int = 0, rates: Rates | None = None
) -> Population:
    """``students`` students in forms of ``FORM_SIZE``; same inputs, same population.

    Student ``i`` is always in form ``i // FORM_SIZE``; who is absent, late
    and so on, and the lesson timetable, change with ``day``.
    """
    rates = rates or Rates()
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(2, day))))
    n_forms = forms_for(students)
    if n_forms > len(campus.classrooms):
        raise ValueError(f"{n_forms} forms do not fit in {len(campus.classrooms)} classrooms")
    timetable = _timetable(campus, n_forms, rng)
    forms = tuple(
        Form(
            form_id=name,
            year_group=year,
            form_room=str(timetable[f][0]),
            assembly_point=campus.assembly_points[f % len(campus.assembly_points)],
            rooms=tuple(timetable[f]),
        )
        for f, (name, year) in enumerate(_form_names(n_forms))
    )
    lessons = [p for p in DAY if p.kind is PeriodKind.LESSON]
    out = []
    for i in range(students):
        form = min(i // FORM_SIZE, n_forms - 1)
        u = rng.random(5)
        absent = bool(u[0] < rates.absent)
        late = bool(not absent and u[1] < rates.late)
        early = bool(not absent and u[2] < rates.early_leaver)
        if late:
            arrival = float(rng.uniform(parse_hhmm("08:45"), parse_hhmm("09:40")))
        else:
            arrival = float(
                np.clip(rng.normal(parse_hhmm("08:30"), 300.0), GATES_OPEN_S, parse_hhmm("08:39"))
            )
        leave = (
            float(rng.uniform(parse_hhmm("10:30"), parse_hhmm("14:30")))
            if early
            else float(END_OF_DAY_S + rng.uniform(0, 480))
        )
        wander = None
        if not absent and u[3] < rates.wanderer:
            lesson = lessons[int(rng.integers(len(lessons)))]
            start = lesson.start_s + float(rng.uniform(600, 2400))
            duration = float(rng.uniform(300, 720))
            if rng.random() < 0.6:
                target = campus.restricted[int(rng.integers(len(campus.restricted)))]
            else:
                target = campus.off_site
            if arrival < start and start + duration < leave:
                wander = (start, duration, target)
        mean, spread, low, high = WALK_SPEED
        speed = float(np.clip(rng.normal(mean, spread), low, high))
        gate = campus.gates[0] if u[4] < 0.7 else campus.gates[1]
        out.append(
            Student(
                index=i,
                form=form,
                year_group=forms[form].year_group,
                absent=absent,
                arrival_s=arrival,
                late=late,
                leave_s=leave,
                early_leaver=early,
                wander=wander,
                walk_speed=speed,
                gate=gate,
            )
        )
    return Population(forms=forms, students=tuple(out), rates=rates)
