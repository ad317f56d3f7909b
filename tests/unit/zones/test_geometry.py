"""Zone resolution (against a per-point shapely reference) and the checks of a site's zones."""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import accumulate

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point

from tests.unit.zones.builders import box_zone, example_collection
from zones.errors import ZoneError
from zones.geojson import parse_collection
from zones.geometry import NO_ZONE, ZoneIndex, check
from zones.models import Zone, ZoneKind, ZoneSet


# -- a random campus: one building, a grid of rooms per floor, cupboards, a yard -------
@dataclass(frozen=True)
class Campus:
    zones: list[Zone]
    xs: list[float]  # wall positions
    ys: list[float]
    floors: int


@st.composite
def campuses(draw: st.DrawFn) -> Campus:
    widths = draw(st.lists(st.integers(2, 9), min_size=1, max_size=4))
    heights = draw(st.lists(st.integers(2, 9), min_size=1, max_size=3))
    floors = draw(st.integers(1, 3))
    xs = [0.0, *accumulate(float(w) for w in widths)]
    ys = [0.0, *accumulate(float(h) for h in heights)]
    zones = [box_zone("bldg", 0, 0, xs[-1], ys[-1], kind=ZoneKind.BUILDING, floor=None)]
    # The yard touches the building's east wall; it is at ground level only.
    zones.append(box_zone("yard", xs[-1], 0, xs[-1] + 10, ys[-1], kind=ZoneKind.PLAYGROUND, floor=None))
    for floor in range(floors):
        zones.append(
            box_zone(f"f{floor}", 0, 0, xs[-1], ys[-1], kind=ZoneKind.FLOOR, floor=floor, parent="bldg")
        )
        for i in range(len(widths)):
            for j in range(len(heights)):
                if draw(st.integers(0, 4)) == 0:
                    continue  # no room drawn here: the floor zone answers
                room = f"r{floor}-{i}-{j}"
                zones.append(
                    box_zone(room, xs[i], ys[j], xs[i + 1], ys[j + 1], floor=floor, parent=f"f{floor}")
                )
                if draw(st.booleans()):  # a cupboard in the room's corner, nested in it
                    zones.append(
                        box_zone(
                            f"c{floor}-{i}-{j}",
                            xs[i],
                            ys[j],
                            xs[i] + 1,
                            ys[j] + 1,
                            kind=ZoneKind.RESTRICTED,
                            floor=floor,
                            parent=room,
                        )
                    )
    return Campus(zones, xs, ys, floors)


@st.composite
def points(draw: st.DrawFn, campus: Campus) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points anywhere near the campus, many exactly on walls and corners."""
    coord_x = st.one_of(st.sampled_from([*campus.xs, campus.xs[-1] + 10]), st.floats(-3, campus.xs[-1] + 13))
    coord_y = st.one_of(st.sampled_from(campus.ys), st.floats(-3, campus.ys[-1] + 3))
    n = draw(st.integers(1, 40))
    x = np.array(draw(st.lists(coord_x, min_size=n, max_size=n)), dtype=np.float64)
    y = np.array(draw(st.lists(coord_y, min_size=n, max_size=n)), dtype=np.float64)
    floor = np.array(draw(st.lists(st.integers(-1, campus.floors), min_size=n, max_size=n)), dtype=np.int64)
    return x, y, floor


def ancestors(zones: list[Zone], zone_id: str) -> set[str]:
    by_id = {z.zone_id: z for z in zones}
    out: set[str] = set()
    parent = by_id[zone_id].parent_id
    while parent is not None:
        out.add(parent)
        parent = by_id[parent].parent_id
    return out


def reference(zones: list[Zone], x: float, y: float, floor: int) -> str | None:
    """Per point, plainly: the zones containing it on its floor; drop any that is an ancestor of
    another candidate; then the smallest area, then the smallest id."""
    candidates = [z for z in zones if z.on_floor(floor) and z.geometry.intersects(Point(x, y))]
    if not candidates:
        return None
    covered = set().union(*(ancestors(zones, z.zone_id) for z in candidates))
    innermost = [z for z in candidates if z.zone_id not in covered]
    return min(innermost, key=lambda z: (z.geometry.area, z.zone_id)).zone_id


def resolved_ids(index: ZoneIndex, x: np.ndarray, y: np.ndarray, floor: np.ndarray) -> list[str | None]:
    return [None if i == NO_ZONE else index.zone_ids[i] for i in index.resolve(x, y, floor).tolist()]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_resolve_matches_the_per_point_reference(data: st.DataObject) -> None:
    campus = data.draw(campuses())
    x, y, floor = data.draw(points(campus))
    assert check(campus.zones) == []
    got = resolved_ids(ZoneIndex.build(campus.zones), x, y, floor)
    expected = [reference(campus.zones, *p) for p in zip(x.tolist(), y.tolist(), floor.tolist(), strict=True)]
    assert got == expected


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_resolved_zone_contains_the_point_on_its_floor(data: st.DataObject) -> None:
    campus = data.draw(campuses())
    x, y, floor = data.draw(points(campus))
    by_id = {z.zone_id: z for z in campus.zones}
    for zone_id, px, py, pf in zip(
        resolved_ids(ZoneIndex.build(campus.zones), x, y, floor), x, y, floor, strict=True
    ):
        if zone_id is not None:
            zone = by_id[zone_id]
            assert zone.on_floor(int(pf)), "a badge on another floor is never in this floor's rooms"
            assert zone.geometry.intersects(Point(px, py))


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_input_order_does_not_change_answers(data: st.DataObject) -> None:
    campus = data.draw(campuses())
    x, y, floor = data.draw(points(campus))
    shuffled = data.draw(st.permutations(campus.zones))
    assert resolved_ids(ZoneIndex.build(shuffled), x, y, floor) == resolved_ids(
        ZoneIndex.build(campus.zones), x, y, floor
    )


@given(st.floats(0.001, 0.999), st.floats(0.001, 0.999))
def test_a_point_in_a_child_is_in_its_parent_but_resolves_to_the_child(fx: float, fy: float) -> None:
    room = box_zone("room", 0, 0, 10, 8)
    cupboard = box_zone("cupboard", 2, 2, 4, 4, parent="room", kind=ZoneKind.RESTRICTED)
    px, py = 2 + 2 * fx, 2 + 2 * fy
    assert room.geometry.contains(Point(px, py))
    index = ZoneIndex.build([room, cupboard])
    assert index.lookup(px, py, 0) == "cupboard"


def test_floors_are_respected() -> None:
    zones = [
        box_zone("bldg", 0, 0, 20, 10, kind=ZoneKind.BUILDING, floor=None),
        box_zone("g-room", 0, 0, 10, 10, floor=0, parent="bldg"),
        box_zone("u-room", 0, 0, 10, 10, floor=1, parent="bldg"),
        box_zone("yard", 20, 0, 40, 10, kind=ZoneKind.PLAYGROUND, floor=None),
    ]
    index = ZoneIndex.build(zones)
    assert index.lookup(5, 5, 1) == "u-room"  # upstairs is not in the room below
    assert index.lookup(5, 5, 0) == "g-room"
    assert index.lookup(5, 5, 2) == "bldg"  # a building spans every floor
    assert index.lookup(15, 5, 1) == "bldg"
    assert index.lookup(30, 5, 0) == "yard"
    assert index.lookup(30, 5, 1) is None  # a floor-less yard is at ground level only


def test_a_shared_wall_resolves_the_same_way_whatever_the_order() -> None:
    a, b = box_zone("a", 0, 0, 5, 5), box_zone("b", 5, 0, 10, 5)
    assert ZoneIndex.build([a, b]).lookup(5, 2, 0) == ZoneIndex.build([b, a]).lookup(5, 2, 0) == "a"
    small = box_zone("z-small", 5, 0, 7, 5)
    assert ZoneIndex.build([a, small]).lookup(5, 2, 0) == "z-small"  # smaller area wins


def test_a_child_drawn_slightly_larger_than_its_parent_still_wins() -> None:
    parent = box_zone("a-parent", 0, 0, 10, 10)
    child = box_zone("b-child", 0, 0, 10.005, 10, parent="a-parent")
    assert check([parent, child]) == []
    assert ZoneIndex.build([parent, child]).lookup(5, 5, 0) == "b-child"


def test_nan_positions_and_empty_inputs_resolve_to_nothing() -> None:
    index = ZoneIndex.build([box_zone("a", 0, 0, 5, 5)])
    got = index.resolve(np.array([np.nan, 1.0]), np.array([1.0, np.nan]), np.array([0, 0]))
    assert got.tolist() == [NO_ZONE, NO_ZONE]
    empty = np.array([], dtype=np.float64)
    assert index.resolve(empty, empty, np.array([], dtype=np.int64)).shape == (0,)
    assert ZoneIndex.build([]).lookup(1, 1, 0) is None


def test_mismatched_arrays_are_refused() -> None:
    index = ZoneIndex.build([box_zone("a", 0, 0, 5, 5)])
    with pytest.raises(ValueError, match="same length"):
        index.resolve(np.array([1.0, 2.0]), np.array([1.0]), np.array([0, 0]))


def test_build_refuses_duplicates_and_cycles() -> None:
    with pytest.raises(ZoneError, match="duplicate zone ids: a"):
        ZoneIndex.build([box_zone("a", 0, 0, 1, 1), box_zone("a", 2, 2, 3, 3)])
    with pytest.raises(ZoneError, match="their own ancestors"):
        ZoneIndex.build([box_zone("a", 0, 0, 1, 1, parent="b"), box_zone("b", 0, 0, 1, 1, parent="a")])


def test_parent_index_points_at_the_parent() -> None:
    index = ZoneIndex.build([box_zone("room", 0, 0, 4, 4, parent="f0"), box_zone("f0", 0, 0, 9, 9)])
    assert index.parent_index.tolist() == [1, NO_ZONE]


# -- check() ---------------------------------------------------------------------------
def problems_of(zones: list[Zone]) -> list[str]:
    return [str(p) for p in check(zones)]


def test_the_example_campus_passes() -> None:
    assert check(parse_collection(example_collection()).zones) == []


def test_self_intersecting_outline_names_the_zone_and_the_point() -> None:
    bowtie = replace(box_zone("r1", 0, 0, 1, 1), geometry=shapely.Polygon([(0, 0), (4, 4), (4, 0), (0, 4)]))
    assert problems_of([bowtie]) == ["zone r1: geometry: invalid outline: self-intersection at (2, 2)"]


def test_an_outline_without_area_is_a_problem() -> None:
    flat = replace(box_zone("r1", 0, 0, 1, 1), geometry=shapely.Polygon([(0, 0), (4, 0), (8, 0), (0, 0)]))
    assert len(problems_of([flat])) == 1
    assert problems_of([flat])[0].startswith("zone r1: geometry: ")


def test_unknown_parent_and_cycles() -> None:
    assert problems_of([box_zone("r1", 0, 0, 1, 1, parent="nowhere")]) == [
        "zone r1: parent: unknown parent zone 'nowhere'"
    ]
    cycle = [box_zone("a", 0, 0, 4, 4, parent="b"), box_zone("b", 0, 0, 4, 4, parent="a")]
    assert problems_of(cycle) == [
        "zone a: parent: the parent chain comes back to this zone (a cycle)",
        "zone b: parent: the parent chain comes back to this zone (a cycle)",
    ]
    assert check([box_zone("r1", 0, 0, 1, 1, parent="failed")], also_known={"failed"}) == []


def test_child_outside_parent_or_on_another_floor() -> None:
    parent = box_zone("f1", 0, 0, 10, 10, kind=ZoneKind.FLOOR, floor=1)
    sticking_out = box_zone("r1", 8, 0, 12, 5, floor=1, parent="f1")
    wrong_floor = box_zone("r2", 0, 0, 2, 2, floor=0, parent="f1")
    assert problems_of([parent, sticking_out, wrong_floor]) == [
        "zone r1: geometry: is not within its parent f1 (10.00 m² outside it)",
        "zone r2: floor: is on floor 0 but its parent f1 is on floor 1",
    ]


def test_duplicate_ids() -> None:
    assert problems_of([box_zone("r1", 0, 0, 1, 1), box_zone("r1", 5, 5, 6, 6)]) == [
        "zone r1: id: used by 2 zones; ids must be unique in a site"
    ]


def test_unrelated_overlap_is_a_problem_but_touching_or_slivers_are_not() -> None:
    a = box_zone("a", 0, 0, 5, 5)
    assert problems_of([a, box_zone("b", 4, 0, 9, 5)]) == [
        "zone a: geometry: overlaps zone b by 5.00 m² on floor 0, and neither is the other's ancestor "
        "(nest one in the other with 'parent', or fix the outlines)"
    ]
    assert check([a, box_zone("b", 5, 0, 9, 5)]) == []  # a shared wall
    assert check([a, box_zone("b", 4.996, 0, 9, 5)]) == []  # drawn 4 mm over: within tolerance
    assert check([a, box_zone("b", 4, 0, 9, 5, floor=1)]) == []  # another floor


def test_a_floor_zone_needs_a_floor() -> None:
    assert problems_of([box_zone("f", 0, 0, 5, 5, kind=ZoneKind.FLOOR, floor=None)]) == [
        "zone f: floor: a floor zone needs a floor number"
    ]


def test_overlaps_are_not_judged_below_a_broken_parent() -> None:
    """A zone with an unknown parent overlaps the site; the parent problem alone is reported."""
    site = box_zone("site", 0, 0, 50, 50, kind=ZoneKind.SITE, floor=None)
    orphan = box_zone("r1", 0, 0, 5, 5, parent="typo")
    assert problems_of([site, orphan]) == ["zone r1: parent: unknown parent zone 'typo'"]


def test_ancestors_stop_at_a_cycle() -> None:
    zones = ZoneSet(
        (
            box_zone("a", 0, 0, 1, 1, parent="b"),
            box_zone("b", 0, 0, 1, 1, parent="a"),
            box_zone("c", 0, 0, 1, 1, parent="a"),
        )
    )
    assert zones.ancestors("c") == ("a", "b")
    assert zones.ancestors("a") == ("b",)
