"""One simulated school day, stepped window by window. Pure and deterministic for a seed.

:func:`build_world` makes the campus, the population and the day plan;
:class:`Stepper` walks through it in gateway windows and yields, per window,
the adverts each BLE reader hears and the card taps each RFID reader gets,
with times in simulation milliseconds (0 = the start of the run). The same
seed gives the same campus, timetable, movement, radio noise and taps, so
the same sightings, whichever drive mode publishes them.

Random streams are independent per purpose (campus, population, plan,
radio), each from ``SeedSequence(seed, spawn_key=(purpose, day))``: changing
the radio model does not move a single student.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from firmware_sim.campus import build_campus
from firmware_sim.models import Campus
from firmware_sim.movement import DayPlan, FireDrill, Sampler, plan_day
from firmware_sim.population import Population, Rates, build_population
from firmware_sim.radio import Adverts, Radio, RadioModel

__all__ = ["WINDOW_MS", "Step", "Stepper", "World", "build_world", "rng_for"]

Ints = npt.NDArray[np.int64]

# The gateways' aggregation window (gateway.runner's default, and what ingest's tracker expects).
WINDOW_MS: Final = 1500
_CAMPUS, _POPULATION, _PLAN, _RADIO = 1, 2, 3, 4


def rng_for(seed: int, purpose: int, day: int = 0) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(purpose, day))))


@dataclass(frozen=True, slots=True)
class World:
    students: int
    seed: int
    day: int
    campus: Campus
    population: Population
    plan: DayPlan
    radio_model: RadioModel


def build_world(
    *,
    students: int,
    seed: int,
    day: int = 0,
    rates: Rates | None = None,
    drill: FireDrill | None = None,
    radio_model: RadioModel | None = None,
    campus: Campus | None = None,
) -> World:
    """The campus (from size and seed), the day's population and plan (from seed and day)."""
    model = radio_model or RadioModel()
    campus = campus or build_campus(
        students=students,
        seed=seed,
        interior_wall_db=model.interior_wall_loss_db,
        exterior_wall_db=model.exterior_wall_loss_db,
    )
    population = build_population(campus, students=students, seed=seed, day=day, rates=rates)
    plan = plan_day(campus, population, seed=seed, day=day, drill=drill)
    return World(students, seed, day, campus, population, plan, model)


@dataclass(frozen=True, slots=True)
class Step:
    """What happens in one window [sim_ms, sim_ms + WINDOW_MS)."""

    index: int
    sim_ms: int
    zone: Ints  # every student's true zone in the middle of the window (campus zone index, -1 off the map)
    adverts: Adverts  # reader: index into Stepper.radio.readers; t_ms in simulation ms
    tap_t_ms: Ints  # simulation ms
    tap_student: Ints
    tap_reader: Ints  # index into campus.readers


class Stepper:
    """Steps through a world from school time ``start_day_ms`` (ms since midnight) in windows."""

    def __init__(self, world: World, *, start_day_ms: int, window_ms: int = WINDOW_MS) -> None:
        self.world = world
        self.start_day_ms = start_day_ms
        self.window_ms = window_ms
        self.sampler = Sampler(world.plan.trajectories)
        self.radio = Radio(
            world.campus,
            model=world.radio_model,
            students=world.students,
            rng=rng_for(world.seed, _RADIO, world.day),
        )
        self._taps = world.plan.taps
        self._tap_at = int(np.searchsorted(self._taps.t_ms, start_day_ms))
        self._next = 0

    def step(self) -> Step:
        """The next window (windows come strictly in order)."""
        index = self._next
        self._next += 1
        sim_ms = index * self.window_ms
        day_ms = self.start_day_ms + sim_ms
        x, y, floor, zone = self.sampler.at(day_ms + self.window_ms // 2)
        adverts = self.radio.window(start_ms=sim_ms, window_ms=self.window_ms, x=x, y=y, floor=floor)
        taps = self._taps
        end = int(np.searchsorted(taps.t_ms, day_ms + self.window_ms))
        sel = slice(self._tap_at, end)
        self._tap_at = end
        return Step(
            index=index,
            sim_ms=sim_ms,
            zone=zone,
            adverts=adverts,
            tap_t_ms=taps.t_ms[sel] - self.start_day_ms,
            tap_student=taps.student[sel],
            tap_reader=taps.reader[sel],
        )

    def readers_in_range(self, *, at_day_ms: int, sample: int = 200) -> float:
        """Average BLE readers hearing a present student at ``at_day_ms`` (for choosing a drive mode)."""
        probe = Sampler(self.world.plan.trajectories)
        x, y, floor, _ = probe.at(at_day_ms)
        present = np.flatnonzero(~np.isnan(x))[:sample]
        if not len(present):
            return 0.0
        mean = self.radio.mean_rssi(x[present], y[present], floor[present])
        return float((mean >= self.world.radio_model.sensitivity_dbm).sum() / len(present))
