"""All SQL of zones: a site's zones, their schedules and its georeference."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

__all__ = [
    "GeoreferenceRow",
    "ScheduleRow",
    "ZoneRow",
    "gateways_in_unknown_zones",
    "load_georeference",
    "load_schedules",
    "load_zones",
    "lock_site",
    "replace_site_zones",
    "site_exists",
]


@dataclass(frozen=True, slots=True)
class ZoneRow:
    zone_id: str
    name: str
    kind: str
    building: str | None
    floor: int | None
    capacity: int | None
    parent_id: str | None
    geometry: dict[str, Any]
    properties: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    zone_id: str
    position: int
    days: list[str]
    start_minute: int
    end_minute: int
    restricted: bool
    groups: list[str]


@dataclass(frozen=True, slots=True)
class GeoreferenceRow:
    origin_lat: float
    origin_lon: float
    rotation_deg: float


def lock_site(conn: psycopg.Connection, *, site_id: str) -> bool:
    """Lock the site's row until the transaction ends (imports of one site run one at a time).

    False if the site does not exist.
    """
    row = conn.execute("SELECT 1 FROM sites WHERE site_id = %s FOR UPDATE", (site_id,)).fetchone()
    return row is not None


def site_exists(conn: psycopg.Connection, *, site_id: str) -> bool:
    return conn.execute("SELECT 1 FROM sites WHERE site_id = %s", (site_id,)).fetchone() is not None


def replace_site_zones(
    conn: psycopg.Connection,
    *,
    site_id: str,
    zones: Sequence[ZoneRow],
    schedules: Sequence[ScheduleRow],
    georeference: GeoreferenceRow | None,
) -> None:
    """Replace every zone, schedule rule and the georeference of the site (in the caller's transaction)."""
    conn.execute("DELETE FROM zones WHERE site_id = %s", (site_id,))  # schedules go with them (cascade)
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO zones (site_id, zone_id, name, kind, building, floor, capacity, parent_id,
                                  geometry, properties)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [
                (
                    site_id,
                    z.zone_id,
                    z.name,
                    z.kind,
                    z.building,
                    z.floor,
                    z.capacity,
                    z.parent_id,
                    Jsonb(z.geometry),
                    Jsonb(z.properties),
                )
                for z in zones
            ],
        )
        cur.executemany(
            """INSERT INTO zone_schedules (site_id, zone_id, position, days, start_minute, end_minute,
                                           restricted, groups)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
            [
                (site_id, s.zone_id, s.position, s.days, s.start_minute, s.end_minute, s.restricted, s.groups)
                for s in schedules
            ],
        )
    if georeference is None:
        conn.execute("DELETE FROM site_georeferences WHERE site_id = %s", (site_id,))
    else:
        conn.execute(
            """INSERT INTO site_georeferences (site_id, origin_lat, origin_lon, rotation_deg)
               VALUES (%s, %s, %s, %s)
               ON CONFLICT (site_id) DO UPDATE SET origin_lat = EXCLUDED.origin_lat,
                 origin_lon = EXCLUDED.origin_lon, rotation_deg = EXCLUDED.rotation_deg""",
            (site_id, georeference.origin_lat, georeference.origin_lon, georeference.rotation_deg),
        )


def load_zones(conn: psycopg.Connection, *, site_id: str) -> list[ZoneRow]:
    with conn.cursor(row_factory=class_row(ZoneRow)) as cur:
        return cur.execute(
            """SELECT zone_id, name, kind, building, floor, capacity, parent_id, geometry, properties
               FROM zones WHERE site_id = %s ORDER BY zone_id""",
            (site_id,),
        ).fetchall()


def load_schedules(conn: psycopg.Connection, *, site_id: str) -> list[ScheduleRow]:
    with conn.cursor(row_factory=class_row(ScheduleRow)) as cur:
        return cur.execute(
            """SELECT zone_id, position, days, start_minute, end_minute, restricted, groups
               FROM zone_schedules WHERE site_id = %s ORDER BY zone_id, position""",
            (site_id,),
        ).fetchall()


def load_georeference(conn: psycopg.Connection, *, site_id: str) -> GeoreferenceRow | None:
    with conn.cursor(row_factory=class_row(GeoreferenceRow)) as cur:
        return cur.execute(
            "SELECT origin_lat, origin_lon, rotation_deg FROM site_georeferences WHERE site_id = %s",
            (site_id,),
        ).fetchone()


def gateways_in_unknown_zones(conn: psycopg.Connection, *, site_id: str) -> list[str]:
    """Active gateways of the site placed in a zone the site does not have (any more)."""
    rows = conn.execute(
        """SELECT g.gateway_id FROM gateways g
           WHERE g.site_id = %s AND g.revoked_at IS NULL AND g.zone_id IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM zones z WHERE z.site_id = g.site_id AND z.zone_id = g.zone_id)
           ORDER BY g.gateway_id""",
        (site_id,),
    ).fetchall()
    return [row[0] for row in rows]
