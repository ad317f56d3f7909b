"""Where students really are: lessons, breaks, leaving, wandering, the fire drill, and no teleporting."""

from __future__ import annotations

import numpy as np

from firmware_sim.geometry import NO_ZONE
from firmware_sim.movement import Sampler, plan_day
from firmware_sim.population import DAY, PeriodKind, parse_hhmm
from firmware_sim.world import World


def zones_at(world: World, hhmm_text: str) -> list[str | None]:
    _, _, _, zone = Sampler(world.plan.trajectories).at(parse_hhmm(hhmm_text) * 1000)
    return [world.campus.zones[z].zone_id if z != NO_ZONE else None for z in zone.tolist()]


def test_the_plan_is_deterministic(world: World) -> None:
    again = plan_day(world.campus, world.population, seed=world.seed)
    for name in ("start", "t_ms", "floor", "zone"):
        assert np.array_equal(getattr(world.plan.trajectories, name), getattr(again.trajectories, name))
    assert np.array_equal(world.plan.trajectories.x, again.trajectories.x, equal_nan=True)
    assert np.array_equal(world.plan.taps.t_ms, again.taps.t_ms)


def test_students_are_in_their_timetabled_room_in_the_middle_of_each_lesson(world: World) -> None:
    for p, period in enumerate(DAY):
        if period.kind is not PeriodKind.LESSON:
            continue
        mid = (period.start_s + period.end_s) // 2
        zones = zones_at(world, f"{mid // 3600:02d}:{mid % 3600 // 60:02d}")
        expected = [world.population.forms[s.form].rooms[p] for s in world.population.students]
        present = [
            i
            for i, s in enumerate(world.population.students)
            if not s.absent and s.arrival_s < mid < s.leave_s and s.wander is None
        ]
        in_room = sum(zones[i] == expected[i] for i in present) / len(present)
        assert in_room > 0.95, (period.name, in_room)


def test_absent_students_never_appear_and_everyone_is_gone_after_school(world: World) -> None:
    tr = world.plan.trajectories
    for student in world.population.students:
        if student.absent:
            assert (tr.zone[tr.start[student.index] : tr.start[student.index + 1]] == NO_ZONE).all()
    assert set(zones_at(world, "15:40")) == {None}
    at_break = zones_at(world, "11:10")
    on_site = [z for z in at_break if z is not None]
    assert on_site.count(world.campus.playground) / len(on_site) > 0.95


def test_wanderers_reach_their_target(world: World) -> None:
    wanderers = [s for s in world.population.students if s.wander is not None]
    assert wanderers
    for student in wanderers:
        start, duration, target = student.wander  # type: ignore[misc]
        sampler = Sampler(world.plan.trajectories)
        _, _, _, zone = sampler.at(int((start + duration - 60) * 1000))
        assert world.campus.zones[zone[student.index]].zone_id == target


def test_nobody_walks_faster_than_a_person_can(world: World) -> None:
    sampler = Sampler(world.plan.trajectories)
    start = parse_hhmm("08:20") * 1000
    x0, y0, f0, _ = sampler.at(start)
    for k in range(1, 600):
        x1, y1, f1, _ = sampler.at(start + k * 1000)
        moved = np.hypot(x1 - x0, y1 - y0)
        comparable = ~np.isnan(moved) & (f0 == f1)
        assert (moved[comparable] <= 1.85).all()
        x0, y0, f0 = x1, y1, f1


def test_door_taps_happen_as_the_student_enters_the_readers_room(world: World) -> None:
    taps = world.plan.taps
    readers = world.campus.readers
    sampler = Sampler(world.plan.trajectories)
    order = np.argsort(taps.t_ms, kind="stable")
    checked = 0
    for i in order.tolist():
        reader = readers[int(taps.reader[i])]
        _, _, _, zone = sampler.at(int(taps.t_ms[i]) + 2_000)
        if reader.zone_id in world.campus.gates:
            continue
        assert world.campus.zones[zone[taps.student[i]]].zone_id == reader.zone_id
        checked += 1
    assert checked > 500


def test_the_fire_drill_sends_everyone_on_site_to_their_assembly_point(drill_world: World) -> None:
    before = zones_at(drill_world, "10:19")
    during = zones_at(drill_world, "10:30")
    after = zones_at(drill_world, "10:50")
    forms = drill_world.population.forms
    for s in drill_world.population.students:
        if before[s.index] is not None and s.leave_s > parse_hhmm("10:35"):
            assert during[s.index] == forms[s.form].assembly_point
    assert during.count(None) < len(during) * 0.2
    assert not any(z in drill_world.campus.assembly_points for z in after)
