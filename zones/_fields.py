"""Reading one feature of a zones file: its id, geometry and properties, every problem collected. Pure.

Private to :mod:`zones.geojson`, which reads whole files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeGuard, TypeVar

from shapely.geometry import MultiPolygon, Polygon

from zones.models import MINUTES_PER_DAY, ScheduleRule, Weekday, Zone, ZoneKind

__all__ = ["FieldError", "is_number", "parse_feature", "parse_geometry", "shown", "zone_id_of"]

# The deepest basement and the tallest school building, with room to spare.
MIN_FLOOR: Final = -20
MAX_FLOOR: Final = 200
MAX_NAME_LENGTH: Final = 200
# The same shape as gateway and topic identifiers (campus.wire).
ZONE_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TIME_PATTERN: Final = re.compile(r"^([01][0-9]|2[0-4]):([0-5][0-9])$")
_KNOWN_PROPERTIES: Final = frozenset(
    {"zone_id", "name", "kind", "building", "floor", "capacity", "parent", "schedule"}
)
_RULE_KEYS: Final = frozenset({"days", "from", "to", "restricted", "groups"})
_KINDS_TEXT: Final = ", ".join(kind.value for kind in ZoneKind)
_DAYS_TEXT: Final = ", ".join(day.value for day in Weekday)
_T = TypeVar("_T")


class FieldError(Exception):
    """One field's problem, raised inside a feature's parsing and collected by the caller."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# -- geometry --------------------------------------------------------------------
def _ring(value: object, field: str) -> list[tuple[float, float]]:
    if not isinstance(value, list) or len(value) < 4:
        raise FieldError(field, "a ring is a list of at least 4 positions (the first repeated last)")
    points: list[tuple[float, float]] = []
    for k, position in enumerate(value):
        if (
            not isinstance(position, list)
            or len(position) not in (2, 3)
            or not all(is_number(c) for c in position)
        ):
            raise FieldError(f"{field}[{k}]", f"a position is [x, y] in finite metres, got {shown(position)}")
        points.append((float(position[0]), float(position[1])))
    if points[0] != points[-1]:
        raise FieldError(field, "the ring is not closed (its first and last positions differ)")
    return points


def _polygon(value: object, field: str) -> Polygon:
    if not isinstance(value, list) or not value:
        raise FieldError(field, "a polygon is a list of rings: the outline, then any holes")
    rings = [_ring(ring, f"{field}[{k}]") for k, ring in enumerate(value)]
    return Polygon(rings[0], rings[1:])


def parse_geometry(value: object) -> Polygon | MultiPolygon:
    if not isinstance(value, dict):
        raise FieldError("geometry", "must be a Polygon or MultiPolygon object")
    kind, coordinates = value.get("type"), value.get("coordinates")
    if kind == "Polygon":
        return _polygon(coordinates, "geometry.coordinates")
    if kind == "MultiPolygon":
        if not isinstance(coordinates, list) or not coordinates:
            raise FieldError("geometry.coordinates", "a MultiPolygon is a non-empty list of polygons")
        return MultiPolygon(
            [_polygon(part, f"geometry.coordinates[{k}]") for k, part in enumerate(coordinates)]
        )
    raise FieldError("geometry.type", f"must be Polygon or MultiPolygon, got {shown(kind)}")


# -- properties ------------------------------------------------------------------
def _minute(value: object, field: str, default: int) -> int:
    if value is None:
        return default
    match = _TIME_PATTERN.match(value) if isinstance(value, str) else None
    if match is None:
        raise FieldError(field, f"must be a time HH:MM (00:00 to 24:00), got {shown(value)}")
    minute = int(match[1]) * 60 + int(match[2])
    if minute > MINUTES_PER_DAY:
        raise FieldError(field, f"must be a time HH:MM (00:00 to 24:00), got {shown(value)}")
    return minute


def _strings(value: object, field: str, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise FieldError(field, f"must be a list of {what}, got {shown(value)}")
    return [v.strip() for v in value]


def _rule(value: object, field: str) -> ScheduleRule:
    if not isinstance(value, dict):
        raise FieldError(field, "a schedule rule is an object with days, from, to, restricted, groups")
    unknown = sorted(set(value) - _RULE_KEYS)
    if unknown:
        raise FieldError(f"{field}.{unknown[0]}", f"unknown key (a rule has {', '.join(sorted(_RULE_KEYS))})")
    days = frozenset(Weekday)
    if value.get("days") is not None:
        names = [d.lower() for d in _strings(value["days"], f"{field}.days", "day names")]
        bad = [d for d in names if d not in Weekday.__members__.values()]
        if bad or not names:
            raise FieldError(f"{field}.days", f"days are {_DAYS_TEXT}, got {shown(value['days'])}")
        days = frozenset(Weekday(d) for d in names)
    start = _minute(value.get("from"), f"{field}.from", 0)
    end = _minute(value.get("to"), f"{field}.to", MINUTES_PER_DAY)
    if start >= end:
        raise FieldError(
            f"{field}.to", "must be later than 'from' on the same day (split overnight rules in two)"
        )
    restricted = value.get("restricted", False)
    if not isinstance(restricted, bool):
        raise FieldError(f"{field}.restricted", f"must be true or false, got {shown(restricted)}")
    groups: frozenset[str] = frozenset()
    if value.get("groups") is not None:
        groups = frozenset(_strings(value["groups"], f"{field}.groups", "group names"))
    return ScheduleRule(days=days, start_minute=start, end_minute=end, restricted=restricted, groups=groups)


def _optional_text(properties: Mapping[str, Any], key: str) -> str | None:
    value = properties.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise FieldError(f"properties.{key}", f"must be a non-empty string or null, got {shown(value)}")
    return value.strip()


def zone_id_of(feature: Mapping[str, Any], properties: Mapping[str, Any]) -> str:
    given = [v for v in (feature.get("id"), properties.get("zone_id")) if v is not None]
    ids = {str(v) if _is_int(v) else v for v in given}
    if not ids:
        raise FieldError("id", "missing: give the feature an 'id' (or properties.zone_id)")
    if len(ids) > 1:
        raise FieldError("id", f"'id' and properties.zone_id disagree ({', '.join(sorted(map(str, ids)))})")
    zone_id = ids.pop()
    if not isinstance(zone_id, str) or not ZONE_ID_PATTERN.match(zone_id):
        raise FieldError("id", f"must be 1-64 letters, digits, '.', '_' or '-', got {shown(zone_id)}")
    return zone_id


def _name(properties: Mapping[str, Any]) -> str:
    name = properties.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise FieldError(
            "properties.name", f"must be a non-empty string of at most {MAX_NAME_LENGTH} characters"
        )
    return name.strip()


def _kind(properties: Mapping[str, Any]) -> ZoneKind:
    kind = properties.get("kind")
    if not isinstance(kind, str) or kind not in ZoneKind.__members__.values():
        raise FieldError("properties.kind", f"must be one of {_KINDS_TEXT}; got {shown(kind)}")
    return ZoneKind(kind)


def _floor(properties: Mapping[str, Any]) -> int | None:
    floor = properties.get("floor")
    if floor is not None and (not _is_int(floor) or not MIN_FLOOR <= floor <= MAX_FLOOR):
        raise FieldError(
            "properties.floor",
            f"must be a whole number from {MIN_FLOOR} to {MAX_FLOOR}, or null, got {shown(floor)}",
        )
    return floor


def _capacity(properties: Mapping[str, Any]) -> int | None:
    capacity = properties.get("capacity")
    if capacity is not None and (not _is_int(capacity) or capacity < 0):
        raise FieldError("properties.capacity", f"must be a whole number >= 0 or null, got {shown(capacity)}")
    return capacity


def _parent(properties: Mapping[str, Any]) -> str | None:
    parent = properties.get("parent")
    if _is_int(parent):
        return str(parent)
    if parent is not None and (not isinstance(parent, str) or not parent):
        raise FieldError("properties.parent", f"must be a zone id or null, got {shown(parent)}")
    return parent


def _schedule(properties: Mapping[str, Any], bad: list[FieldError]) -> tuple[ScheduleRule, ...]:
    schedule = properties.get("schedule")
    if schedule is None:
        return ()
    if not isinstance(schedule, list):
        bad.append(FieldError("properties.schedule", "must be a list of rules"))
        return ()
    rules: list[ScheduleRule] = []
    for k, rule in enumerate(schedule):
        try:
            rules.append(_rule(rule, f"properties.schedule[{k}]"))
        except FieldError as exc:
            bad.append(exc)
    return tuple(rules)


def parse_feature(
    feature: Mapping[str, Any], zone_id: str, properties: Mapping[str, Any]
) -> Zone | list[FieldError]:
    """The zone, or every problem of its fields."""
    bad: list[FieldError] = []

    def field(parse: Callable[[], _T]) -> _T | None:
        try:
            return parse()
        except FieldError as exc:
            bad.append(exc)
            return None

    if feature.get("type") != "Feature":
        bad.append(FieldError("type", f"must be 'Feature', got {shown(feature.get('type'))}"))
    name = field(lambda: _name(properties))
    kind = field(lambda: _kind(properties))
    geometry = field(lambda: parse_geometry(feature.get("geometry")))
    building = field(lambda: _optional_text(properties, "building"))
    floor = field(lambda: _floor(properties))
    capacity = field(lambda: _capacity(properties))
    parent = field(lambda: _parent(properties))
    schedule = _schedule(properties, bad)
    if bad or name is None or kind is None or geometry is None:
        return bad
    return Zone(
        zone_id=zone_id,
        name=name,
        kind=kind,
        geometry=geometry,
        building=building,
        floor=floor,
        capacity=capacity,
        parent_id=parent,
        schedule=schedule,
        extra={k: v for k, v in properties.items() if k not in _KNOWN_PROPERTIES},
    )
