"""Axis-aligned zone resolution, edge splitting and walls."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.geometry import NO_ZONE, Rect, ZoneGrid, ZoneShape, build_walls, split_params, wall_loss


@st.composite
def layouts(draw: st.DrawFn) -> list[ZoneShape]:
    shapes = []
    for _ in range(draw(st.integers(1, 8))):
        x0 = draw(st.integers(0, 20))
        y0 = draw(st.integers(0, 20))
        w = draw(st.integers(1, 15))
        h = draw(st.integers(1, 15))
        floor = draw(st.sampled_from([None, 0, 1]))
        shapes.append(ZoneShape(Rect(x0, y0, x0 + w, y0 + h), floor, draw(st.integers(0, 3))))
    return shapes


def brute_force(shapes: list[ZoneShape], x: float, y: float, floor: int) -> int:
    inside = [
        i
        for i, s in enumerate(shapes)
        if s.on_floor(floor) and s.rect.x0 <= x <= s.rect.x1 and s.rect.y0 <= y <= s.rect.y1
    ]
    if not inside:
        return NO_ZONE
    return min(inside, key=lambda i: (-shapes[i].depth, shapes[i].rect.area, i))


@settings(max_examples=60, deadline=None)
@given(layouts(), st.integers(0, 2**31))
def test_the_grid_resolves_like_the_brute_force_definition(shapes: list[ZoneShape], seed: int) -> None:
    rng = np.random.default_rng(seed)
    # Coordinates of zones are whole metres; probes are never on an edge.
    x = rng.integers(-2, 40, 300) + rng.choice([0.25, 0.5, 0.75], 300)
    y = rng.integers(-2, 40, 300) + rng.choice([0.25, 0.5, 0.75], 300)
    floor = rng.integers(0, 3, 300)
    got = ZoneGrid(shapes).resolve(x, y, floor)
    expected = [brute_force(shapes, float(a), float(b), int(f)) for a, b, f in zip(x, y, floor, strict=True)]
    assert got.tolist() == expected


def test_a_hole_is_not_part_of_the_ring_and_nan_is_nowhere() -> None:
    ring = ZoneShape(Rect(0, 0, 10, 10), None, 0, hole=Rect(2, 2, 8, 8))
    grid = ZoneGrid([ring])
    got = grid.resolve(np.array([1.0, 5.0, np.nan]), np.array([1.0, 5.0, 1.0]), np.array([0, 0, 0]))
    assert got.tolist() == [0, NO_ZONE, NO_ZONE]


def test_split_params_finds_each_crossing_in_order() -> None:
    seg, par = split_params(
        np.array([0.0, 0.0]),
        np.array([0.0, 0.0]),
        np.array([10.0, 0.0]),
        np.array([0.0, 4.0]),
        edges_x=np.array([2.5, 5.0, 20.0]),
        edges_y=np.array([1.0]),
    )
    assert seg.tolist() == [0, 0, 1]
    assert np.allclose(par, [0.25, 0.5, 0.25])


def test_a_shared_wall_counts_once_and_the_outline_is_exterior() -> None:
    left, right = Rect(0, 0, 4, 4), Rect(4, 0, 8, 4)
    walls = build_walls(
        rooms=[(0, left), (0, right)],
        outlines=[(0, Rect(0, 0, 8, 4))],
        interior_loss_db=6,
        exterior_loss_db=10,
    )
    interior = [w for w in walls if w.loss_db == 6]
    assert [(w.orientation, w.const, w.low, w.high) for w in interior] == [("v", 4.0, 0.0, 4.0)]
    assert sum(w.loss_db == 10 for w in walls) == 4
    crossing = wall_loss(
        walls, floor=0, origin=(2.0, 2.0), px=np.array([6.0, 3.0, 12.0]), py=np.array([2.0, 3.0, 2.0])
    )
    assert crossing.tolist() == [6.0, 0.0, 16.0]
    assert wall_loss(walls, floor=1, origin=(2.0, 2.0), px=np.array([6.0]), py=np.array([2.0])).tolist() == [
        0.0
    ]
