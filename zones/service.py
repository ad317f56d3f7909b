"""Importing and exporting a site's zones, and loading them for the services that resolve positions.

Each function works in the caller's connection; an import is one
transaction (a savepoint inside the caller's own transaction, if it has one):
a file with any problem changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg

from campus.logs import get_logger
from zones import repository
from zones.errors import UnknownSiteError, ZoneError, ZoneFileError
from zones.geojson import geometry_from_json, geometry_to_json, to_collection, validate_collection
from zones.geometry import ZoneIndex
from zones.models import Georeference, ScheduleRule, Weekday, Zone, ZoneKind, ZoneSet
from zones.schedule import AccessPolicy

__all__ = [
    "export_zones",
    "gateways_in_unknown_zones",
    "import_zones",
    "load_access_policy",
    "load_index",
    "load_zone_set",
]

log = get_logger(__name__)


def _rows(
    zone_set: ZoneSet,
) -> tuple[list[repository.ZoneRow], list[repository.ScheduleRow], repository.GeoreferenceRow | None]:
    zones = [
        repository.ZoneRow(
            zone_id=z.zone_id,
            name=z.name,
            kind=z.kind.value,
            building=z.building,
            floor=z.floor,
            capacity=z.capacity,
            parent_id=z.parent_id,
            geometry=geometry_to_json(z.geometry),
            properties=dict(z.extra),
        )
        for z in zone_set.zones
    ]
    schedules = [
        repository.ScheduleRow(
            zone_id=z.zone_id,
            position=position,
            days=[day.value for day in Weekday if day in rule.days],
            start_minute=rule.start_minute,
            end_minute=rule.end_minute,
            restricted=rule.restricted,
            groups=sorted(rule.groups),
        )
        for z in zone_set.zones
        for position, rule in enumerate(z.schedule)
    ]
    ref = zone_set.georeference
    georeference = (
        None if ref is None else repository.GeoreferenceRow(ref.origin_lat, ref.origin_lon, ref.rotation_deg)
    )
    return zones, schedules, georeference


def import_zones(conn: psycopg.Connection, *, site_id: str, collection: Mapping[str, Any]) -> int:
    """Replace the site's zones with those of a zones file; the number imported.

    Everything is validated first (the file's structure and
    :func:`zones.geometry.check`); on any problem ZoneFileError lists them all
    and nothing changes. UnknownSiteError if the site does not exist. The
    file's own ``campus.site`` is not consulted: the caller chose ``site_id``.
    """
    zone_set, problems = validate_collection(collection)
    if problems:
        raise ZoneFileError([str(p) for p in problems])
    zones, schedules, georeference = _rows(zone_set)
    with conn.transaction():
        if not repository.lock_site(conn, site_id=site_id):
            raise UnknownSiteError(site_id)
        repository.replace_site_zones(
            conn, site_id=site_id, zones=zones, schedules=schedules, georeference=georeference
        )
    log.info("zones.imported", site=site_id, zones=len(zones), schedule_rules=len(schedules))
    return len(zones)


def load_zone_set(conn: psycopg.Connection, *, site_id: str) -> ZoneSet:
    """The site's zones as values (ordered by id). UnknownSiteError if the site does not exist."""
    if not repository.site_exists(conn, site_id=site_id):
        raise UnknownSiteError(site_id)
    rules: dict[str, list[ScheduleRule]] = {}
    for rule in repository.load_schedules(conn, site_id=site_id):
        rules.setdefault(rule.zone_id, []).append(
            ScheduleRule(
                days=frozenset(Weekday(d) for d in rule.days),
                start_minute=rule.start_minute,
                end_minute=rule.end_minute,
                restricted=rule.restricted,
                groups=frozenset(rule.groups),
            )
        )
    zones: list[Zone] = []
    for row in repository.load_zones(conn, site_id=site_id):
        try:
            geometry = geometry_from_json(row.geometry)
            kind = ZoneKind(row.kind)
        except ValueError as exc:
            # Only rows written around import_zones can get here.
            raise ZoneError(f"zone {row.zone_id} of site {site_id} is stored wrongly: {exc}") from exc
        zones.append(
            Zone(
                zone_id=row.zone_id,
                name=row.name,
                kind=kind,
                geometry=geometry,
                building=row.building,
                floor=row.floor,
                capacity=row.capacity,
                parent_id=row.parent_id,
                schedule=tuple(rules.get(row.zone_id, ())),
                extra=row.properties,
            )
        )
    ref = repository.load_georeference(conn, site_id=site_id)
    georeference = None if ref is None else Georeference(ref.origin_lat, ref.origin_lon, ref.rotation_deg)
    return ZoneSet(tuple(zones), site_id=site_id, georeference=georeference)


def export_zones(conn: psycopg.Connection, *, site_id: str) -> dict[str, Any]:
    """The site's zones as a zones file (which import_zones reads back to the same zones)."""
    return to_collection(load_zone_set(conn, site_id=site_id), site_id=site_id)


def load_index(conn: psycopg.Connection, *, site_id: str) -> ZoneIndex:
    """A ZoneIndex over the site's zones, for resolving positions."""
    return ZoneIndex.build(load_zone_set(conn, site_id=site_id).zones)


def load_access_policy(conn: psycopg.Connection, *, site_id: str) -> AccessPolicy:
    """The site's schedules and hierarchy, for "may a student of group G be in zone Z at time T?"."""
    return AccessPolicy(load_zone_set(conn, site_id=site_id).zones)


def gateways_in_unknown_zones(conn: psycopg.Connection, *, site_id: str) -> list[str]:
    """Active gateways placed in a zone the site no longer has (say so after an import)."""
    return repository.gateways_in_unknown_zones(conn, site_id=site_id)
