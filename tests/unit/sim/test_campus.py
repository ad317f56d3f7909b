"""The simulated campus: deterministic, consistent with the zones package, walkable, covered by readers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.campus import build_campus, forms_for, route_graph
from firmware_sim.geojson import to_geojson
from firmware_sim.models import ReaderKind
from zones.geojson import parse_collection, validate_collection
from zones.geometry import ZoneIndex


def test_same_size_and_seed_same_campus_and_the_seed_only_moves_readers() -> None:
    a, b, c = (
        build_campus(students=200, seed=1),
        build_campus(students=200, seed=1),
        build_campus(students=200, seed=2),
    )
    assert a.zones == b.zones and a.readers == b.readers and a.edges == b.edges
    assert a.zones == c.zones
    assert [r.reader_id for r in a.readers] == [r.reader_id for r in c.readers]
    assert [(r.x, r.y) for r in a.readers] != [(r.x, r.y) for r in c.readers]


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3000))
def test_every_form_has_a_classroom(students: int) -> None:
    campus = build_campus(students=students, seed=0)
    assert len(campus.classrooms) >= forms_for(students) + 2


@pytest.mark.parametrize("students", [30, 200, 2000])
def test_the_zones_file_passes_the_zones_check_and_resolves_the_same(students: int) -> None:
    campus = build_campus(students=students, seed=5)
    collection = to_geojson(campus, site_id="sim")
    _, problems = validate_collection(collection)
    assert problems == []
    index = ZoneIndex.build(list(parse_collection(collection).zones))
    rng = np.random.default_rng(students)
    outer = campus.zone("off-site").rect
    x = rng.uniform(outer.x0 - 5, outer.x1 + 5, 20_000)
    y = rng.uniform(outer.y0 - 5, outer.y1 + 5, 20_000)
    floor = rng.integers(0, 2, 20_000)
    ours = [campus.zones[i].zone_id if i >= 0 else None for i in campus.grid.resolve(x, y, floor)]
    theirs = [index.zone_ids[i] if i >= 0 else None for i in index.resolve(x, y, floor)]
    assert ours == theirs


def test_every_reader_sits_in_the_zone_it_reports_and_classrooms_have_two() -> None:
    campus = build_campus(students=400, seed=3)
    readers = campus.readers
    resolved = campus.grid.resolve(
        np.array([r.x for r in readers]),
        np.array([r.y for r in readers]),
        np.array([r.floor for r in readers]),
    )
    assert [campus.zones[i].zone_id for i in resolved] == [r.zone_id for r in readers]
    for room in campus.classrooms:
        kinds = sorted(r.kind for r in readers if r.zone_id == room)
        assert kinds == [ReaderKind.BLE, ReaderKind.RFID]
    for zone in (*campus.gates, *campus.assembly_points, *campus.restricted, campus.hall, campus.playground):
        assert any(r.zone_id == zone and r.kind is ReaderKind.BLE for r in readers), zone
    assert len({r.reader_id for r in readers}) == len(readers)


def test_every_place_can_be_walked_to_from_every_gate() -> None:
    campus = build_campus(students=900, seed=4)
    graph = route_graph(campus)
    for gate, street in campus.street_node.items():
        for zone_id, node in campus.zone_node.items():
            assert math.isfinite(graph.distance(street, node)), (gate, zone_id)
