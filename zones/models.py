"""Zones as values: kinds, schedules, the georeference, a zone, a site's set of zones, a problem.

Coordinates are site-local metres (x east, y north on the site plan). Floors
are integers (0 = ground, negative below ground). A zone whose floor is
``None`` is either a container that spans every floor (kinds in
:data:`SPANNING_KINDS`: site, building, off site) or lies at ground level
(every other kind: playground, gate, assembly point, car park, ...): a badge
upstairs is never on the playground.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from shapely.geometry import MultiPolygon, Polygon

__all__ = [
    "GROUND_FLOOR",
    "MINUTES_PER_DAY",
    "SPANNING_KINDS",
    "Georeference",
    "Problem",
    "ScheduleRule",
    "Weekday",
    "Zone",
    "ZoneKind",
    "ZoneSet",
]

GROUND_FLOOR: Final = 0
MINUTES_PER_DAY: Final = 24 * 60
# Mean Earth radius (IUGG): the local tangent plane of a campus (< a few km) is
# accurate to centimetres with it.
_EARTH_RADIUS_M: Final = 6_371_008.8


class ZoneKind(StrEnum):
    SITE = "site"
    BUILDING = "building"
    FLOOR = "floor"
    CLASSROOM = "classroom"
    LAB = "lab"
    LIBRARY = "library"
    HALL = "hall"
    CANTEEN = "canteen"
    SPORTS_HALL = "sports_hall"
    CORRIDOR = "corridor"
    STAIRS = "stairs"
    OFFICE = "office"
    STAFF_ROOM = "staff_room"
    TOILET = "toilet"
    OUTDOOR = "outdoor"
    PLAYGROUND = "playground"
    CAR_PARK = "car_park"
    GATE = "gate"
    ASSEMBLY_POINT = "assembly_point"
    RESTRICTED = "restricted"
    OFF_SITE = "off_site"


# Containers that hold zones on every floor when their own floor is None.
SPANNING_KINDS: Final = frozenset({ZoneKind.SITE, ZoneKind.BUILDING, ZoneKind.OFF_SITE})


class Weekday(StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        """0 for Monday .. 6 for Sunday, as :meth:`datetime.weekday`."""
        return list(Weekday).index(self)

    @classmethod
    def of(cls, weekday: int) -> Weekday:
        return list(cls)[weekday]


@dataclass(frozen=True, slots=True)
class ScheduleRule:
    """On ``days``, from ``start_minute`` (inclusive) to ``end_minute`` (exclusive) after local midnight,
    the zone is restricted (or allowed) for students of ``groups`` (empty: every student)."""

    days: frozenset[Weekday]
    start_minute: int
    end_minute: int
    restricted: bool
    groups: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.days:
            raise ValueError("a schedule rule needs at least one day")
        if not 0 <= self.start_minute < self.end_minute <= MINUTES_PER_DAY:
            raise ValueError("a schedule rule runs from a time to a later time of the same day")

    def applies(self, *, weekday: int, minute: int, groups: frozenset[str]) -> bool:
        """Whether this rule covers that local weekday and minute for a student in ``groups``."""
        return (
            Weekday.of(weekday) in self.days
            and self.start_minute <= minute < self.end_minute
            and (not self.groups or not self.groups.isdisjoint(groups))
        )


@dataclass(frozen=True, slots=True)
class Georeference:
    """Where the site's local frame sits on the globe.

    ``origin_lat``/``origin_lon`` (WGS 84 degrees) is the local point (0, 0);
    ``rotation_deg`` is the bearing of the plan's y axis clockwise from true north.
    """

    origin_lat: float
    origin_lon: float
    rotation_deg: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.origin_lat) and -90 < self.origin_lat < 90):
            raise ValueError("origin_lat must be a latitude strictly between -90 and 90")
        if not (math.isfinite(self.origin_lon) and -180 <= self.origin_lon <= 180):
            raise ValueError("origin_lon must be a longitude between -180 and 180")
        if not (math.isfinite(self.rotation_deg) and -360 < self.rotation_deg < 360):
            raise ValueError("rotation_deg must be between -360 and 360")

    def to_lonlat(self, x: float, y: float) -> tuple[float, float]:
        """WGS 84 (longitude, latitude) of local (x, y), on the local tangent plane."""
        r = math.radians(self.rotation_deg)
        east = x * math.cos(r) + y * math.sin(r)
        north = -x * math.sin(r) + y * math.cos(r)
        lat = self.origin_lat + math.degrees(north / _EARTH_RADIUS_M)
        lon = self.origin_lon + math.degrees(
            east / (_EARTH_RADIUS_M * math.cos(math.radians(self.origin_lat)))
        )
        return lon, lat


@dataclass(frozen=True, slots=True)
class Zone:
    """One geofence. ``geometry`` is a shapely Polygon or MultiPolygon in site-local metres;
    ``extra`` keeps the file's other properties so that an export gives them back."""

    zone_id: str
    name: str
    kind: ZoneKind
    geometry: Polygon | MultiPolygon
    building: str | None = None
    floor: int | None = None
    capacity: int | None = None
    parent_id: str | None = None
    schedule: tuple[ScheduleRule, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def spans_all_floors(self) -> bool:
        return self.floor is None and self.kind in SPANNING_KINDS

    @property
    def level(self) -> int:
        """The floor this zone is on (ground level for a floor-less zone that does not span floors)."""
        return GROUND_FLOOR if self.floor is None else self.floor

    def on_floor(self, floor: int) -> bool:
        return self.spans_all_floors or self.level == floor


@dataclass(frozen=True, slots=True)
class ZoneSet:
    """A site's zones as read from a file or the database."""

    zones: tuple[Zone, ...]
    site_id: str | None = None
    georeference: Georeference | None = None

    def by_id(self) -> dict[str, Zone]:
        return {zone.zone_id: zone for zone in self.zones}

    def ancestors(self, zone_id: str) -> tuple[str, ...]:
        """The zone's parent, grandparent, ... (stops at an unknown parent or a cycle)."""
        zones = self.by_id()
        out: list[str] = []
        current = zones.get(zone_id)
        while current is not None and current.parent_id is not None:
            parent = current.parent_id
            if parent == zone_id or parent in out:
                break  # a cycle: check() reports it
            out.append(parent)
            current = zones.get(parent)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a zones file: where (a zone id, or a feature's position), which field, what."""

    where: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.message}"
