"""Small simulated worlds shared by the simulator's unit tests (built once per session: they are pure)."""

from __future__ import annotations

import pytest

from firmware_sim.movement import FireDrill
from firmware_sim.population import parse_hhmm
from firmware_sim.world import World, build_world


@pytest.fixture(scope="session")
def world() -> World:
    return build_world(students=240, seed=7)


@pytest.fixture(scope="session")
def drill_world() -> World:
    return build_world(students=120, seed=11, drill=FireDrill(at_s=parse_hhmm("10:20")))
