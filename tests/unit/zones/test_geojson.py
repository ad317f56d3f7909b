"""The zones file: reading, every problem named by feature, id and field, and writing it back."""

from __future__ import annotations

import json
from typing import Any

import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.zones.builders import EXAMPLE_FILE, collection, example_collection, feature
from zones.errors import ZoneFileError
from zones.geojson import dumps, parse_collection, read_collection, to_collection, validate_collection
from zones.models import Georeference, ScheduleRule, Weekday, Zone, ZoneKind, ZoneSet


def problems(doc: dict[str, Any]) -> list[str]:
    return [str(p) for p in validate_collection(doc)[1]]


def test_the_example_file_reads_and_checks() -> None:
    zone_set, found = validate_collection(example_collection())
    assert found == []
    assert zone_set.site_id == "demo"
    assert zone_set.georeference == Georeference(51.5, -0.12, 0.0)
    by_id = zone_set.by_id()
    room = by_id["a-101"]
    assert (room.kind, room.floor, room.capacity, room.parent_id, room.building) == (
        ZoneKind.CLASSROOM,
        1,
        30,
        "a-f1",
        "A",
    )
    assert room.schedule == (
        ScheduleRule(
            days=frozenset(Weekday) - {Weekday.SAT, Weekday.SUN},
            start_minute=8 * 60 + 30,
            end_minute=15 * 60 + 30,
            restricted=False,
            groups=frozenset({"Y7", "Y8"}),
        ),
    )
    assert zone_set.ancestors("a-101") == ("a-f1", "a", "site")
    assert not by_id["off-site"].geometry.contains(shapely.Point(60, 40))  # the campus is its hole


def test_round_trip_through_the_file_format() -> None:
    zone_set = parse_collection(example_collection())
    text = dumps(to_collection(zone_set, site_id="demo"))
    assert parse_collection(json.loads(text)) == zone_set


def test_id_may_be_given_as_zone_id_or_a_number() -> None:
    zones = parse_collection(collection(feature(None, zone_id="r9"), feature(7))).zones
    assert [z.zone_id for z in zones] == ["r9", "7"]


def test_other_properties_are_kept_for_export() -> None:
    zone = parse_collection(collection(feature(colour="blue", tags=["x"]))).zones[0]
    assert zone.extra == {"colour": "blue", "tags": ["x"]}
    assert to_collection([zone], site_id="s")["features"][0]["properties"]["colour"] == "blue"


def test_defaults_of_a_schedule_rule() -> None:
    zone = parse_collection(collection(feature(schedule=[{"restricted": True}]))).zones[0]
    assert zone.schedule == (ScheduleRule(frozenset(Weekday), 0, 24 * 60, restricted=True),)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            collection(feature(None)),
            "feature 0: id: missing: give the feature an 'id' (or properties.zone_id)",
        ),
        (collection(feature("a", zone_id="b")), "feature 0: id: 'id' and properties.zone_id disagree (a, b)"),
        (
            collection(feature("a b")),
            "feature 0: id: must be 1-64 letters, digits, '.', '_' or '-', got 'a b'",
        ),
        (collection(feature(kind="classrom")), "feature 0 (r1): properties.kind: must be one of site,"),
        (collection(feature(floor="1")), "feature 0 (r1): properties.floor: must be a whole number"),
        (collection(feature(floor=True)), "feature 0 (r1): properties.floor: must be a whole number"),
        (collection(feature(floor=1.5)), "feature 0 (r1): properties.floor: must be a whole number"),
        (
            collection(feature(capacity=-1)),
            "feature 0 (r1): properties.capacity: must be a whole number >= 0",
        ),
        (collection(feature(name="")), "feature 0 (r1): properties.name: must be a non-empty string"),
        (collection(feature(parent=["x"])), "feature 0 (r1): properties.parent: must be a zone id or null"),
        (collection(feature(building=3)), "feature 0 (r1): properties.building: must be a non-empty string"),
        (
            collection(feature(schedule=[{"from": "25:00"}])),
            "feature 0 (r1): properties.schedule[0].from: must be a time HH:MM (00:00 to 24:00), got '25:00'",
        ),
        (
            collection(feature(schedule=[{"from": "9:00"}])),
            "feature 0 (r1): properties.schedule[0].from: must be a time HH:MM",
        ),
        (
            collection(feature(schedule=[{"from": "10:00", "to": "09:00"}])),
            "feature 0 (r1): properties.schedule[0].to: must be later than 'from' on the same day",
        ),
        (
            collection(feature(schedule=[{"days": ["mon", "funday"]}])),
            "feature 0 (r1): properties.schedule[0].days: days are mon, tue, wed, thu, fri, sat, sun",
        ),
        (
            collection(feature(schedule=[{"restriced": True}])),
            "feature 0 (r1): properties.schedule[0].restriced: unknown key",
        ),
        (
            collection(feature(schedule=[{"restricted": "yes"}])),
            "feature 0 (r1): properties.schedule[0].restricted: must be true or false, got 'yes'",
        ),
        (
            collection(feature(schedule=[{"groups": ["Y7", ""]}])),
            "feature 0 (r1): properties.schedule[0].groups: must be a list of group names",
        ),
        (
            collection(feature(schedule="always")),
            "feature 0 (r1): properties.schedule: must be a list of rules",
        ),
        (collection({**feature(), "type": "Thing"}), "feature 0 (r1): type: must be 'Feature', got 'Thing'"),
        (
            collection({**feature(), "geometry": {"type": "Point", "coordinates": [1, 2]}}),
            "feature 0 (r1): geometry.type: must be Polygon or MultiPolygon, got 'Point'",
        ),
        (
            collection(
                {
                    **feature(),
                    "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 3], [0, 3]]]},
                }
            ),
            "feature 0 (r1): geometry.coordinates[0]: the ring is not closed",
        ),
        (
            collection(
                {
                    **feature(),
                    "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [4, "x"], [4, 3], [0, 0]]]},
                }
            ),
            "feature 0 (r1): geometry.coordinates[0][1]: a position is [x, y] in finite metres, got [4, 'x']",
        ),
        (
            collection(
                {**feature(), "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [0, 0]]]}}
            ),
            "feature 0 (r1): geometry.coordinates[0]: a ring is a list of at least 4 positions",
        ),
        (collection(feature(), units="ft"), "file: campus.units: coordinates must be in metres ('m')"),
        (collection(feature(), version=2), "file: campus.version: this program reads version 1"),
        (collection(feature(), site="North Site"), "file: campus.site: must be a site id"),
        (
            collection(feature(), georeference={"origin_lat": 95, "origin_lon": 0}),
            "file: campus.georeference: origin_lat must be a latitude strictly between -90 and 90",
        ),
        (
            collection(feature(), georeference={"origin_lat": "51.5", "origin_lon": 0}),
            "file: campus.georeference.origin_lat: must be a number, got '51.5'",
        ),
        ({"type": "Feature"}, "file: type: must be a GeoJSON FeatureCollection"),
        ({"type": "FeatureCollection", "features": {}}, "file: features: must be a list of features"),
        (collection("not a feature"), "feature 0: feature: must be a GeoJSON Feature object"),  # type: ignore[arg-type]
    ],
)
def test_each_problem_names_the_feature_and_field(doc: dict[str, Any], expected: str) -> None:
    found = problems(doc)
    assert any(p.startswith(expected) for p in found), found
    with pytest.raises(ZoneFileError) as raised:
        parse_collection(doc)
    assert any(p.startswith(expected) for p in raised.value.problems)


def test_every_problem_of_every_feature_is_listed() -> None:
    doc = collection(feature("a", floor="1", capacity=-2), feature("b", kind="?"), feature("c"))
    zone_set, found, failed = read_collection(doc)
    assert [str(p).split(":")[0:2] for p in found] == [
        ["feature 0 (a)", " properties.floor"],
        ["feature 0 (a)", " properties.capacity"],
        ["feature 1 (b)", " properties.kind"],
    ]
    assert [z.zone_id for z in zone_set.zones] == ["c"]
    assert failed == {"a", "b"}


def test_a_child_of_a_broken_feature_is_not_reported_as_orphaned() -> None:
    doc = collection(feature("f1", kind="nonsense"), feature("r1", parent="f1"))
    assert problems(doc) == [str(p) for p in read_collection(doc)[1]]


def test_error_message_summarises_the_first_problems() -> None:
    with pytest.raises(ZoneFileError, match=r"invalid zones file: .* \(and 2 more\)"):
        parse_collection(collection(*(feature(str(i), floor="x") for i in range(5))))


# -- round trip of generated zone sets ----------------------------------------------------
names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=20).map(
    str.strip
)
rules = st.builds(
    lambda days, start, length, restricted, groups: ScheduleRule(
        frozenset(days), start, min(start + length, 24 * 60), restricted, frozenset(groups)
    ),
    st.sets(st.sampled_from(list(Weekday)), min_size=1),
    st.integers(0, 24 * 60 - 1),
    st.integers(1, 24 * 60),
    st.booleans(),
    st.sets(st.from_regex(r"[A-Z0-9]{1,4}", fullmatch=True), max_size=3),
)


@st.composite
def zone_sets(draw: st.DrawFn) -> ZoneSet:
    n = draw(st.integers(0, 6))
    zones = []
    for i in range(n):
        x0, y0 = draw(st.floats(-1e4, 1e4)), draw(st.floats(-1e4, 1e4))
        w, h = draw(st.floats(0.1, 100)), draw(st.floats(0.1, 100))
        zones.append(
            Zone(
                zone_id=f"z{i}",
                name=draw(names.filter(bool)),
                kind=draw(st.sampled_from(list(ZoneKind))),
                geometry=shapely.box(x0, y0, x0 + w, y0 + h),
                building=draw(st.none() | st.just("B")),
                floor=draw(st.none() | st.integers(-3, 20)),
                capacity=draw(st.none() | st.integers(0, 2000)),
                parent_id=draw(st.none() | st.sampled_from([f"z{j}" for j in range(n)])),
                schedule=tuple(draw(st.lists(rules, max_size=3))),
                extra=draw(
                    st.dictionaries(st.sampled_from(["colour", "note"]), st.text(max_size=5), max_size=2)
                ),
            )
        )
    georeference = draw(
        st.none() | st.builds(Georeference, st.floats(-89, 89), st.floats(-180, 180), st.floats(-359, 359))
    )
    return ZoneSet(tuple(zones), site_id="s1", georeference=georeference)


@settings(max_examples=50, deadline=None)
@given(zone_sets())
def test_writing_then_reading_gives_the_same_zones(zone_set: ZoneSet) -> None:
    """Structure only: the generated shapes need not pass check()."""
    assert parse_collection(json.loads(dumps(to_collection(zone_set, site_id="s1")))) == zone_set


def test_the_example_in_the_documentation_checks() -> None:
    text = (EXAMPLE_FILE.parents[2] / "docs" / "ZONES.md").read_text(encoding="utf-8")
    block = text.split("```json\n", 1)[1].split("```", 1)[0]
    zone_set, found = validate_collection(json.loads(block))
    assert found == []
    assert [z.zone_id for z in zone_set.zones] == ["site", "a", "a-f1", "a-101", "off-site"]
