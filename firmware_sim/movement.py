"""Where every student really is over the school day. Pure and deterministic for a seed.

Each student's day is a list of *intents* (at time t, go to place P): arrive
through their gate, the playground before registration, the form room, each
lesson's room, the playground at break, the hall then the playground at
lunch, home at the end of the day (or earlier for an early leaver), plus the
occasional toilet trip and one excursion for a wanderer. A fire drill
replaces everything on site during the drill with the form's assembly point,
then sends everyone back to where the timetable says.

Intents become *keyframes* by walking the shortest path over the campus
graph at the student's own speed (a student still walking when the next
intent is due finishes the walk first). Between two keyframes on one floor a
student moves in a straight line; across a floor change (the stairs) they
stay put until the next keyframe. Keyframes are then split wherever a walk
crosses a zone edge, so every piece lies in exactly one zone: that zone is
the ground truth. RFID taps happen where a walk passes a classroom door into
the room that is its destination, and at the gate on arrival and departure.

Times are milliseconds since local midnight of the school day ("day ms").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from firmware_sim.campus import STAIRS_EQUIV_M
from firmware_sim.geometry import NO_ZONE, split_params
from firmware_sim.models import Campus, Place
from firmware_sim.population import DAY, GATES_OPEN_S, PeriodKind, Population, Student, parse_hhmm
from firmware_sim.routes import RouteGraph

__all__ = [
    "DRILL_DURATION_S",
    "DayPlan",
    "FireDrill",
    "Sampler",
    "Taps",
    "Trajectories",
    "plan_day",
]

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

# A fire drill: the alarm, the walk out, the roll call, the all-clear.
DRILL_DURATION_S: Final = 15 * 60
# Students tap their card at the door or gate this often (the rest forget or follow a friend in).
TAP_PROBABILITY: Final = 0.9
# Students leave a room within this long after the bell.
DEPART_JITTER_S: Final = 60.0
# Seats and standing spots keep this clear of walls.
SEAT_MARGIN_M: Final = 1.0
# Lunch: the hall for the first 25 minutes (give or take 3), then the playground.
LUNCH_IN_HALL_S: Final = 25 * 60
# A toilet trip during a lesson: when, and how long.
TOILET_WINDOW_S: Final = (600.0, 2700.0)
TOILET_DURATION_S: Final = (180.0, 300.0)
# No toilet trip within this long of a wanderer's excursion.
WANDER_MARGIN_S: Final = 600.0
HOME: Final = None

# At time t (school seconds), head for a place (HOME: off the map).
Intent = tuple[float, Place | None]


def _scheduled(intents: list[Intent], t: float) -> Place | None:
    """Where the intents say the student should be at ``t`` (HOME before the first)."""
    current: Place | None = HOME
    for at, place in intents:
        if at <= t:
            current = place
    return current


@dataclass(frozen=True, slots=True)
class FireDrill:
    """An evacuation at ``at_s`` (school time, seconds since midnight) lasting ``duration_s``."""

    at_s: float
    duration_s: float = DRILL_DURATION_S


@dataclass(frozen=True, slots=True)
class Trajectories:
    """All students' pieces, flat. Student s owns pieces ``start[s]:start[s + 1]``.

    Piece k starts at ``t_ms[k]`` at (``x``, ``y``, ``floor``) and lasts until
    the next piece of the same student; within it the student is in
    ``zone[k]`` (a campus zone index, or ``NO_ZONE`` when not on the map:
    position NaN, floor -1). The last piece of a student lasts forever.
    """

    start: Ints
    t_ms: Ints
    x: Floats
    y: Floats
    floor: Ints
    zone: Ints

    @property
    def students(self) -> int:
        return len(self.start) - 1


@dataclass(frozen=True, slots=True)
class Taps:
    """RFID taps, sorted by time: when (day ms), who (student index), which reader (campus.readers index)."""

    t_ms: Ints
    student: Ints
    reader: Ints


@dataclass(frozen=True, slots=True)
class DayPlan:
    trajectories: Trajectories
    taps: Taps


class _Planner:
    def __init__(self, campus: Campus, population: Population, rng: np.random.Generator) -> None:
        self.campus = campus
        self.population = population
        self.rng = rng
        self.graph = RouteGraph(campus.nodes, campus.edges)
        self.reader_index = {r.reader_id: i for i, r in enumerate(campus.readers)}

    def place(self, zone_id: str, *, near: int | None = None) -> Place:
        """A random spot in ``zone_id`` (off site: near the street node ``near``)."""
        campus = self.campus
        if zone_id == campus.off_site:
            node = campus.nodes[near if near is not None else next(iter(campus.street_node.values()))]
            dx, dy = self.rng.uniform(-4.0, 4.0, size=2)
            return Place(node.x + float(dx), node.y + float(dy), 0, node.node_id, zone_id)
        zone = campus.zone(zone_id)
        r = zone.rect.inset(SEAT_MARGIN_M)
        x = float(self.rng.uniform(r.x0, r.x1))
        y = float(self.rng.uniform(r.y0, r.y1))
        return Place(x, y, zone.floor or 0, campus.zone_node[zone_id], zone_id)

    def blocks(self, student: Student) -> list[tuple[float, float, Place]]:
        """The timetable of this student as (from, to, place), from the gates opening to the end of day."""
        form = self.population.forms[student.form]
        out: list[tuple[float, float, Place]] = [
            (GATES_OPEN_S, DAY[0].start_s, self.place(self.campus.playground))
        ]
        for period, room in zip(DAY, form.rooms, strict=True):
            if period.kind is PeriodKind.BREAK:
                out.append((period.start_s, period.end_s, self.place(self.campus.playground)))
            elif period.kind is PeriodKind.LUNCH:
                split = period.start_s + LUNCH_IN_HALL_S + float(self.rng.uniform(-180, 180))
                out.append((period.start_s, split, self.place(self.campus.hall)))
                out.append((split, period.end_s, self.place(self.campus.playground)))
            else:
                assert room is not None
                out.append((period.start_s, period.end_s, self.place(room)))
        return out

    def intents(self, student: Student, drill: FireDrill | None) -> list[Intent]:
        if student.absent:
            return []
        blocks = self.blocks(student)
        street = self.campus.street_node[student.gate]
        out: list[Intent] = []
        for start, end, place in blocks:
            if end <= student.arrival_s or start >= student.leave_s:
                continue
            at = (
                student.arrival_s
                if start <= student.arrival_s
                else start + float(self.rng.uniform(0, DEPART_JITTER_S))
            )
            out.append((at, place))

        extras: list[Intent] = []
        if student.wander is not None:
            start, duration, target = student.wander
            back = _scheduled(out, start + duration)
            extras += [(start, self.place(target, near=street)), (start + duration, back)]
        for period in DAY:
            if (
                period.kind is not PeriodKind.LESSON
                or self.rng.random() >= self.population.rates.toilet_per_lesson
            ):
                continue
            at = period.start_s + float(self.rng.uniform(*TOILET_WINDOW_S))
            seat = _scheduled(out, at)
            busy = (
                student.wander is not None
                and student.wander[0] - WANDER_MARGIN_S < at < sum(student.wander[:2]) + WANDER_MARGIN_S
            )
            if seat is None or busy or not (student.arrival_s < at < student.leave_s):
                continue
            toilet = self.nearest_toilet(seat)
            if toilet is None:
                continue
            extras += [(at, toilet), (at + float(self.rng.uniform(*TOILET_DURATION_S)), seat)]
        merged = sorted(out + extras, key=lambda item: item[0])
        if drill is not None:
            merged = self.evacuate(merged, student, drill)
        # Leaving is final: nothing the timetable or a detour says afterwards happens.
        return [(t, p) for t, p in merged if t < student.leave_s] + [(student.leave_s, HOME)]

    def nearest_toilet(self, seat: Place) -> Place | None:
        zone = self.campus.zone(seat.zone_id)
        for toilet in self.campus.toilets:
            tz = self.campus.zone(toilet)
            if tz.building == zone.building and tz.floor == zone.floor:
                return self.place(toilet)
        return None

    def evacuate(self, intents: list[Intent], student: Student, drill: FireDrill) -> list[Intent]:
        begin, end = drill.at_s, drill.at_s + drill.duration_s
        muster = self.place(self.population.forms[student.form].assembly_point)
        out = [(t, p) for t, p in intents if t < begin]
        if _scheduled(intents, begin) is not HOME:
            out.append((begin, muster))
        for t, p in intents:
            if begin <= t < end:
                out.append((t, HOME if p is HOME else muster))
        after = _scheduled(intents, end)
        if after is not HOME:
            out.append((end + float(self.rng.uniform(0, DEPART_JITTER_S)), after))
        out += [(t, p) for t, p in intents if t >= end]
        return sorted(out, key=lambda item: item[0])

    def walk(
        self, student: Student, intents: list[Intent]
    ) -> tuple[list[tuple[float, float, float, int]], list[tuple[float, int]]]:
        """Keyframes (t_s, x, y, floor) and taps (t_s, reader index) of one student."""
        nodes = self.campus.nodes
        frames: list[tuple[float, float, float, int]] = [(0.0, math.nan, math.nan, -1)]
        taps: list[tuple[float, int]] = []
        current: Place | None = HOME
        free_at = 0.0
        street = self.campus.street_node[student.gate]
        for at, place in intents:
            if place is current:
                continue
            t = max(at, free_at)
            if current is HOME:
                start = nodes[street]
                frames.append((t, start.x, start.y, start.floor))
                path = self.graph.path(street, place.node if place is not HOME else street)
            else:
                frames.append((t, current.x, current.y, current.floor))
                path = self.graph.path(current.node, place.node if place is not HOME else street)
            px, py, pf = frames[-1][1], frames[-1][2], frames[-1][3]
            for node_id in path:
                node = nodes[node_id]
                step = STAIRS_EQUIV_M if node.floor != pf else math.hypot(node.x - px, node.y - py)
                t += step / student.walk_speed
                if step > 0:
                    frames.append((t, node.x, node.y, node.floor))
                px, py, pf = node.x, node.y, node.floor
                taps += self.tap_at(node_id, t, arriving=current is HOME, leaving=place is HOME, dest=place)
            if place is HOME:
                frames.append((t, math.nan, math.nan, -1))
            else:
                t += math.hypot(place.x - px, place.y - py) / student.walk_speed
                frames.append((t, place.x, place.y, place.floor))
            free_at = t
            current = place
        return frames, taps

    def tap_at(
        self, node_id: int, t: float, *, arriving: bool, leaving: bool, dest: Place | None
    ) -> list[tuple[float, int]]:
        door = self.campus.door_taps.get(node_id)
        reader: str | None = None
        if door is not None and dest is not None and dest.zone_id == door[0]:
            reader = door[1]
        elif node_id in self.campus.gate_taps and (arriving or leaving):
            reader = self.campus.gate_taps[node_id]
        if reader is None or self.rng.random() >= TAP_PROBABILITY:
            return []
        return [(t, self.reader_index[reader])]


def _refine(campus: Campus, frames: list[list[tuple[float, float, float, int]]]) -> Trajectories:
    counts = np.array([len(f) for f in frames], dtype=np.int64)
    flat = [row for f in frames for row in f]
    t = np.array([r[0] for r in flat]) * 1000.0
    x = np.array([r[1] for r in flat])
    y = np.array([r[2] for r in flat])
    floor = np.array([r[3] for r in flat], dtype=np.int64)
    student = np.repeat(np.arange(len(frames)), counts)
    key = np.arange(len(t), dtype=np.float64)
    # Walks across zone edges are split there, so each piece lies in one zone.
    pair = np.flatnonzero(
        (student[:-1] == student[1:]) & (floor[:-1] == floor[1:]) & ~np.isnan(x[:-1]) & ~np.isnan(x[1:])
    )
    seg, par = split_params(
        x[pair], y[pair], x[pair + 1], y[pair + 1], edges_x=campus.grid.edges_x, edges_y=campus.grid.edges_y
    )
    a = pair[seg]
    t = np.concatenate([t, t[a] + par * (t[a + 1] - t[a])])
    x = np.concatenate([x, x[a] + par * (x[a + 1] - x[a])])
    y = np.concatenate([y, y[a] + par * (y[a + 1] - y[a])])
    floor = np.concatenate([floor, floor[a]])
    student = np.concatenate([student, student[a]])
    key = np.concatenate([key, a + par])
    order = np.argsort(key, kind="stable")
    t, x, y, floor, student = t[order], x[order], y[order], floor[order], student[order]
    # Zone of each piece: at its midpoint when it moves on one floor, else where it starts.
    nxt = np.minimum(np.arange(len(t)) + 1, len(t) - 1)
    same = (student[nxt] == student) & (floor[nxt] == floor) & (nxt != np.arange(len(t)))
    mx = np.where(same, (x + x[nxt]) / 2, x)
    my = np.where(same, (y + y[nxt]) / 2, y)
    zone = campus.grid.resolve(mx, my, floor)
    zone[np.isnan(x)] = NO_ZONE
    # A split that did not change the zone is dropped: the straight line stays exact.
    inserted = order >= len(flat)
    prev_same = np.zeros(len(t), dtype=np.bool_)
    prev_same[1:] = (student[1:] == student[:-1]) & (zone[1:] == zone[:-1])
    keep = ~(inserted & prev_same)
    t, x, y, floor, student, zone = t[keep], x[keep], y[keep], floor[keep], student[keep], zone[keep]
    start = np.concatenate([[0], np.cumsum(np.bincount(student, minlength=len(frames)))]).astype(np.int64)
    return Trajectories(start, np.round(t).astype(np.int64), x, y, floor, zone)


def plan_day(
    campus: Campus,
    population: Population,
    *,
    seed: int,
    day: int = 0,
    drill: FireDrill | None = None,
) -> DayPlan:
    """Every student's trajectory and taps for the day: same inputs, same plan."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(3, day))))
    planner = _Planner(campus, population, rng)
    frames = []
    taps: list[tuple[float, int, int]] = []
    for student in population.students:
        student_frames, student_taps = planner.walk(student, planner.intents(student, drill))
        frames.append(student_frames)
        taps += [(t, student.index, reader) for t, reader in student_taps]
    taps.sort()
    return DayPlan(
        trajectories=_refine(campus, frames),
        taps=Taps(
            t_ms=np.array([round(t * 1000) for t, _, _ in taps], dtype=np.int64),
            student=np.array([s for _, s, _ in taps], dtype=np.int64),
            reader=np.array([r for _, _, r in taps], dtype=np.int64),
        ),
    )


class Sampler:
    """Positions and zones of all students at increasing times (a cursor per student)."""

    def __init__(self, trajectories: Trajectories) -> None:
        self.tr = trajectories
        self._end = trajectories.start[1:]
        self._cursor = trajectories.start[:-1].copy()
        self._last = -(2**62)

    def at(self, t_ms: int) -> tuple[Floats, Floats, Ints, Ints]:
        """(x, y, floor, zone) of every student at ``t_ms``; x is NaN off the map. Times must not decrease."""
        if t_ms < self._last:
            raise ValueError("Sampler.at() times must not decrease")
        self._last = t_ms
        tr = self.tr
        cursor = self._cursor
        while True:
            nxt = cursor + 1
            advance = nxt < self._end
            advance[advance] = tr.t_ms[nxt[advance]] <= t_ms
            if not advance.any():
                break
            cursor[advance] += 1
        nxt = np.minimum(cursor + 1, self._end - 1)
        moving = (nxt != cursor) & (tr.floor[nxt] == tr.floor[cursor])
        span = np.maximum(tr.t_ms[nxt] - tr.t_ms[cursor], 1)
        frac = np.where(moving, np.clip((t_ms - tr.t_ms[cursor]) / span, 0.0, 1.0), 0.0)
        x = tr.x[cursor] + frac * np.where(moving, tr.x[nxt] - tr.x[cursor], 0.0)
        y = tr.y[cursor] + frac * np.where(moving, tr.y[nxt] - tr.y[cursor], 0.0)
        return x, y, tr.floor[cursor].copy(), tr.zone[cursor].copy()


def day_ms(hhmm_text: str) -> int:
    return parse_hhmm(hhmm_text) * 1000
