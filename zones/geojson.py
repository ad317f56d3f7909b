"""The zones file (a GeoJSON FeatureCollection in site-local metres) to zones and back. Pure.

Reading collects every problem of every feature (each names the feature's
position and id, and the field) instead of stopping at the first, so one run
of ``campus zones check`` lists everything to fix. ``docs/ZONES.md``
describes the format with an example.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from shapely.geometry import MultiPolygon, Polygon, mapping

from zones._fields import FieldError, is_number, parse_feature, parse_geometry, shown, zone_id_of
from zones.errors import ZoneFileError
from zones.geometry import check
from zones.models import Georeference, Problem, ScheduleRule, Weekday, Zone, ZoneSet

__all__ = [
    "FORMAT_VERSION",
    "MAX_FEATURES",
    "dumps",
    "geometry_from_json",
    "geometry_to_json",
    "parse_collection",
    "read_collection",
    "to_collection",
    "validate_collection",
]

FORMAT_VERSION: Final = 1
# A campus has hundreds of zones; the bound keeps a wrong file (a city's
# building footprints, say) from tying up the checks.
MAX_FEATURES: Final = 10_000
_SITE_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_CAMPUS_KEYS: Final = frozenset({"version", "site", "units", "georeference"})
_GEOREFERENCE_KEYS: Final = frozenset({"origin_lat", "origin_lon", "rotation_deg"})


# -- the collection ---------------------------------------------------------------
def _header(collection: Mapping[str, Any]) -> tuple[str | None, Georeference | None]:
    campus = collection.get("campus")
    if campus is None:
        return None, None
    if not isinstance(campus, dict):
        raise FieldError("campus", "must be an object with version, site, units, georeference")
    unknown = sorted(set(campus) - _CAMPUS_KEYS)
    if unknown:
        raise FieldError(
            f"campus.{unknown[0]}", f"unknown key (campus has {', '.join(sorted(_CAMPUS_KEYS))})"
        )
    if campus.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise FieldError("campus.version", f"this program reads version {FORMAT_VERSION}")
    if campus.get("units", "m") != "m":
        raise FieldError("campus.units", "coordinates must be in metres ('m')")
    site = campus.get("site")
    if site is not None and (not isinstance(site, str) or not _SITE_PATTERN.match(site)):
        raise FieldError(
            "campus.site", f"must be a site id (lowercase letters, digits, '-'), got {shown(site)}"
        )
    ref = campus.get("georeference")
    if ref is None:
        return site, None
    if not isinstance(ref, dict) or set(ref) - _GEOREFERENCE_KEYS:
        raise FieldError("campus.georeference", "must be an object with origin_lat, origin_lon, rotation_deg")
    values: dict[str, float] = {}
    for key in sorted(_GEOREFERENCE_KEYS):
        value = ref.get(key, 0.0 if key == "rotation_deg" else None)
        if not is_number(value):
            raise FieldError(f"campus.georeference.{key}", f"must be a number, got {shown(value)}")
        values[key] = float(value)
    try:
        georeference = Georeference(**values)
    except ValueError as exc:
        raise FieldError("campus.georeference", str(exc)) from exc
    return site, georeference


def read_collection(collection: Mapping[str, Any]) -> tuple[ZoneSet, list[Problem], frozenset[str]]:
    """Every zone that parses, every problem of the rest, and the ids of features that failed."""
    problems: list[Problem] = []
    if not isinstance(collection, Mapping) or collection.get("type") != "FeatureCollection":
        return ZoneSet(()), [Problem("file", "type", "must be a GeoJSON FeatureCollection")], frozenset()
    site: str | None = None
    georeference: Georeference | None = None
    try:
        site, georeference = _header(collection)
    except FieldError as bad:
        problems.append(Problem("file", bad.field, bad.message))
    features = collection.get("features")
    if not isinstance(features, list):
        problems.append(Problem("file", "features", "must be a list of features"))
        features = []
    if len(features) > MAX_FEATURES:
        problems.append(Problem("file", "features", f"more than {MAX_FEATURES} features"))
        features = []
    zones: list[Zone] = []
    failed: set[str] = set()
    for index, feature in enumerate(features):
        where = f"feature {index}"
        if not isinstance(feature, dict):
            problems.append(Problem(where, "feature", "must be a GeoJSON Feature object"))
            continue
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            problems.append(Problem(where, "properties", "must be an object"))
            continue
        try:
            zone_id = zone_id_of(feature, properties)
        except FieldError as bad:
            problems.append(Problem(where, bad.field, bad.message))
            continue
        parsed = parse_feature(feature, zone_id, properties)
        if isinstance(parsed, Zone):
            zones.append(parsed)
        else:
            problems += [Problem(f"{where} ({zone_id})", bad.field, bad.message) for bad in parsed]
            failed.add(zone_id)
    return ZoneSet(tuple(zones), site_id=site, georeference=georeference), problems, frozenset(failed)


def parse_collection(collection: Mapping[str, Any]) -> ZoneSet:
    """The zones of a file; ZoneFileError (naming each feature's position, id and field) if any is malformed.

    Only the file's structure is checked here; :func:`validate_collection` adds
    the geometry and hierarchy checks of :func:`zones.geometry.check`.
    """
    zone_set, problems, _ = read_collection(collection)
    if problems:
        raise ZoneFileError([str(p) for p in problems])
    return zone_set


def validate_collection(collection: Mapping[str, Any]) -> tuple[ZoneSet, list[Problem]]:
    """Everything wrong with a file: its structure, then the checks on the zones that parsed."""
    zone_set, problems, failed = read_collection(collection)
    return zone_set, problems + check(zone_set.zones, also_known=failed)


# -- writing ----------------------------------------------------------------------
def _lists(value: object) -> object:
    """shapely's mapping() uses tuples; GeoJSON (and equality with a parsed file) wants lists."""
    if isinstance(value, tuple | list):
        return [_lists(v) for v in value]
    return value


def geometry_to_json(geometry: Polygon | MultiPolygon) -> dict[str, Any]:
    """A GeoJSON geometry object (lists, not tuples) with the coordinates exactly as stored."""
    shape = mapping(geometry)
    return {"type": shape["type"], "coordinates": _lists(shape["coordinates"])}


def geometry_from_json(value: object) -> Polygon | MultiPolygon:
    """The shape of a GeoJSON Polygon or MultiPolygon; ValueError saying what is wrong."""
    try:
        return parse_geometry(value)
    except FieldError as exc:
        raise ValueError(f"{exc.field}: {exc.message}") from exc


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _rule_json(rule: ScheduleRule) -> dict[str, Any]:
    return {
        "days": [day.value for day in Weekday if day in rule.days],
        "from": _hhmm(rule.start_minute),
        "to": _hhmm(rule.end_minute),
        "restricted": rule.restricted,
        "groups": sorted(rule.groups),
    }


def _feature_json(zone: Zone) -> dict[str, Any]:
    properties: dict[str, Any] = dict(zone.extra)
    properties.update(
        name=zone.name,
        kind=zone.kind.value,
        building=zone.building,
        floor=zone.floor,
        capacity=zone.capacity,
        parent=zone.parent_id,
        schedule=[_rule_json(rule) for rule in zone.schedule],
    )
    return {
        "type": "Feature",
        "id": zone.zone_id,
        "geometry": geometry_to_json(zone.geometry),
        "properties": properties,
    }


def dumps(collection: Mapping[str, Any]) -> str:
    """JSON text of a zones file with one feature per line (readable, and diffs line by line)."""
    head = {k: v for k, v in collection.items() if k != "features"}
    features = collection.get("features") or []
    lines = [json.dumps(head, ensure_ascii=False)[:-1] + (', "features": [' if head else '{"features": [')]
    if features:
        lines.append(",\n".join("  " + json.dumps(f, ensure_ascii=False) for f in features))
    return "\n".join(lines) + "\n]}\n"


def to_collection(zones: ZoneSet | Sequence[Zone], *, site_id: str) -> dict[str, Any]:
    """A zones file for ``site_id`` that :func:`parse_collection` reads back to the same zones."""
    zone_set = zones if isinstance(zones, ZoneSet) else ZoneSet(tuple(zones))
    campus: dict[str, Any] = {"version": FORMAT_VERSION, "site": site_id, "units": "m"}
    ref = zone_set.georeference
    if ref is not None:
        campus["georeference"] = {
            "origin_lat": ref.origin_lat,
            "origin_lon": ref.origin_lon,
            "rotation_deg": ref.rotation_deg,
        }
    return {
        "type": "FeatureCollection",
        "campus": campus,
        "features": [_feature_json(zone) for zone in zone_set.zones],
    }
