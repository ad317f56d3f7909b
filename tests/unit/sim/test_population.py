"""Students, forms and the timetable."""

from __future__ import annotations

import pytest

from firmware_sim.campus import FORM_SIZE, build_campus
from firmware_sim.population import DAY, PeriodKind, Rates, build_population, hhmm, parse_hhmm


def test_same_seed_same_population_and_another_day_another_timetable() -> None:
    campus = build_campus(students=300, seed=1)
    a = build_population(campus, students=300, seed=1)
    assert a == build_population(campus, students=300, seed=1)
    other_day = build_population(campus, students=300, seed=1, day=1)
    assert [s.form for s in a.students] == [s.form for s in other_day.students]
    assert a.forms != other_day.forms


def test_forms_are_full_and_no_two_forms_share_a_room_in_a_lesson() -> None:
    campus = build_campus(students=1000, seed=2)
    population = build_population(campus, students=1000, seed=2)
    sizes = [sum(1 for s in population.students if s.form == f) for f in range(len(population.forms))]
    assert max(sizes) <= FORM_SIZE and sum(sizes) == 1000
    for p, period in enumerate(DAY):
        if period.kind is not PeriodKind.LESSON:
            continue
        rooms = [form.rooms[p] for form in population.forms if form.rooms[p] != campus.playground]
        assert len(rooms) == len(set(rooms)), period.name


def test_behaviour_shares_follow_the_rates() -> None:
    campus = build_campus(students=3000, seed=3)
    rates = Rates(absent=0.1, late=0.2, early_leaver=0.05, wanderer=0.1)
    students = build_population(campus, students=3000, seed=3, rates=rates).students
    assert 0.08 < sum(s.absent for s in students) / 3000 < 0.12
    assert 0.15 < sum(s.late for s in students) / 3000 < 0.21
    assert all(s.arrival_s >= parse_hhmm("08:45") for s in students if s.late)
    assert all(parse_hhmm("08:20") <= s.arrival_s < parse_hhmm("08:40") for s in students if not s.late)
    wanderers = [s for s in students if s.wander is not None]
    assert 0.05 < len(wanderers) / 3000 < 0.11
    assert {w.wander[2] for w in wanderers if w.wander} <= {*campus.restricted, campus.off_site}


def test_times_of_day() -> None:
    assert parse_hhmm("08:20") == 30_000 and hhmm(30_000) == "08:20"
    for bad in ("8", "25:00", "08:61", "noon"):
        with pytest.raises(ValueError, match="time of day"):
            parse_hhmm(bad)
    with pytest.raises(ValueError, match="absent"):
        Rates(absent=1.5)
