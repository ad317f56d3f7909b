"""When a student may be in a zone: schedule rules, default kinds, ancestors; and the georeference."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.zones.builders import box_zone
from zones.models import Georeference, ScheduleRule, Weekday, ZoneKind
from zones.schedule import AccessPolicy, decide, local_time, restricted_for

WEEKDAYS = frozenset(Weekday) - {Weekday.SAT, Weekday.SUN}
LESSONS = ScheduleRule(WEEKDAYS, 8 * 60 + 30, 15 * 60 + 30, restricted=False, groups=frozenset({"Y7", "Y8"}))
TUESDAY = datetime(2026, 11, 24)  # a Tuesday
SATURDAY = datetime(2026, 11, 28)


def at(day: datetime, hh: int, mm: int = 0) -> datetime:
    return day.replace(hour=hh, minute=mm)


def test_an_allowing_rule_closes_the_zone_at_other_times_and_to_other_groups() -> None:
    room = box_zone("a-101", 0, 0, 8, 6, schedule=(LESSONS,))
    assert not restricted_for(room, "Y7", at(TUESDAY, 10))
    assert not restricted_for(room, {"Y8", "8B"}, at(TUESDAY, 10))
    assert restricted_for(room, "Y9", at(TUESDAY, 10))
    assert restricted_for(room, "Y7", at(SATURDAY, 10))
    assert not restricted_for(room, "Y7", at(TUESDAY, 8, 30))  # from is inclusive
    assert restricted_for(room, "Y7", at(TUESDAY, 15, 30))  # to is exclusive
    assert decide(room, "Y9", at(TUESDAY, 10)).reason == "outside the times and groups its schedule allows"


def test_a_restricting_rule_wins_over_an_allowing_one() -> None:
    detention = ScheduleRule(
        frozenset({Weekday.TUE}), 9 * 60, 10 * 60, restricted=True, groups=frozenset({"Y7"})
    )
    room = box_zone("a-101", 0, 0, 8, 6, schedule=(LESSONS, detention))
    assert restricted_for(room, "Y7", at(TUESDAY, 9, 30))
    assert decide(room, "Y7", at(TUESDAY, 9, 30)).reason == "restricted by schedule rule 2"
    assert not restricted_for(room, "Y8", at(TUESDAY, 9, 30))


def test_without_rules_the_kind_decides() -> None:
    now = at(TUESDAY, 11)
    assert not restricted_for(box_zone("r", 0, 0, 1, 1), "Y7", now)
    assert restricted_for(box_zone("p", 0, 0, 1, 1, kind=ZoneKind.RESTRICTED), "Y7", now)
    assert restricted_for(box_zone("o", 0, 0, 1, 1, kind=ZoneKind.OFF_SITE, floor=None), "Y7", now)
    assert (
        decide(box_zone("p", 0, 0, 1, 1, kind=ZoneKind.RESTRICTED), "Y7", now).reason == "a restricted zone"
    )


def test_a_rule_without_groups_is_for_everyone() -> None:
    closed = ScheduleRule(frozenset(Weekday), 0, 24 * 60, restricted=True)
    assert restricted_for(box_zone("s", 0, 0, 1, 1, schedule=(closed,)), frozenset(), at(TUESDAY, 3))


def test_a_room_inside_a_closed_building_is_closed() -> None:
    opening = ScheduleRule(WEEKDAYS, 7 * 60 + 30, 18 * 60, restricted=False)
    policy = AccessPolicy(
        [
            box_zone("a", 0, 0, 50, 50, kind=ZoneKind.BUILDING, floor=None, schedule=(opening,)),
            box_zone("a-101", 0, 0, 8, 6, parent="a"),
            box_zone("a-plant", 10, 0, 18, 6, parent="a", kind=ZoneKind.RESTRICTED),
        ]
    )
    assert policy.may_be_in("a-101", "Y7", at(TUESDAY, 12))
    late = policy.decide("a-101", "Y7", at(TUESDAY, 19))
    assert late.restricted
    assert late.zone_id == "a"
    assert late.reason == "inside a: outside the times and groups its schedule allows"
    assert policy.decide("a-plant", "Y7", at(TUESDAY, 12)).zone_id == "a-plant"
    assert not policy.restricted("gone", "Y7", at(TUESDAY, 12))  # unknown zone: nothing against it


def test_a_parent_cycle_does_not_hang_the_policy() -> None:
    policy = AccessPolicy([box_zone("a", 0, 0, 1, 1, parent="b"), box_zone("b", 0, 0, 1, 1, parent="a")])
    assert policy.may_be_in("a", "Y7", at(TUESDAY, 12))


@given(
    st.lists(st.booleans(), max_size=4),
    st.sampled_from(list(ZoneKind)),
    st.integers(0, 6),
    st.integers(0, 24 * 60 - 1),
)
def test_a_restriction_that_applies_always_restricts(
    others: list[bool], kind: ZoneKind, day: int, minute: int
) -> None:
    everyone_always = ScheduleRule(frozenset(Weekday), 0, 24 * 60, restricted=True)
    rules = [ScheduleRule(frozenset(Weekday), 0, 24 * 60, restricted=r) for r in others]
    zone = box_zone("z", 0, 0, 1, 1, kind=kind, floor=None, schedule=(*rules, everyone_always))
    when = datetime(2026, 11, 23 + day, minute // 60, minute % 60)
    assert restricted_for(zone, "Y7", when)


def test_schedule_rule_refuses_an_empty_or_backwards_window() -> None:
    with pytest.raises(ValueError, match="later time"):
        ScheduleRule(WEEKDAYS, 600, 600, restricted=False)
    with pytest.raises(ValueError, match="at least one day"):
        ScheduleRule(frozenset(), 0, 60, restricted=False)


def test_local_time_uses_the_sites_timezone() -> None:
    summer = local_time(datetime(2026, 7, 1, 8, 0, tzinfo=UTC), "Europe/London")
    assert (summer.hour, summer.minute) == (9, 0)
    with pytest.raises(ValueError, match="aware"):
        local_time(datetime(2026, 7, 1, 8, 0), "Europe/London")


def test_georeference_places_local_metres_on_the_globe() -> None:
    north_up = Georeference(51.5, -0.12)
    lon, lat = north_up.to_lonlat(0, 1000)
    assert lon == pytest.approx(-0.12)
    assert (lat - 51.5) * 111_195 == pytest.approx(1000, rel=1e-3)  # ~111.2 km per degree of latitude
    lon, lat = north_up.to_lonlat(1000, 0)
    assert (lon + 0.12) * 111_195 * math.cos(math.radians(51.5)) == pytest.approx(1000, rel=1e-3)
    turned = Georeference(51.5, -0.12, rotation_deg=90)  # the plan's north points east
    lon, lat = turned.to_lonlat(0, 1000)
    assert lat == pytest.approx(51.5)
    assert lon > -0.12
    with pytest.raises(ValueError, match="origin_lat"):
        Georeference(91, 0)
