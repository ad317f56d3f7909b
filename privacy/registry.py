"""Where personal data lives: the registries erasure and its checks work from. Pure.

- :data:`LOCATION_TABLES`: every table that places a student somewhere,
  with the purpose it is held under. Withdrawing a purpose erases the
  student's rows from that purpose's tables.
- :data:`PLACE_TABLES`: tables with location columns that describe places,
  not people (zones, readers).
- :data:`STUDENT_TABLES`: every table naming a student, with what erasing a
  leaver does to it (erase, shred, or keep under a stated duty).

A table added later with a location column or a student column that is in
none of these makes the tests and ``campus consent verify-erasure`` fail:
see :func:`unregistered_location_tables` and :func:`unregistered_student_tables`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from privacy.models import Purpose

__all__ = [
    "LOCATION_TABLES",
    "LOCATION_TOKENS",
    "PLACE_TABLES",
    "STUDENT_TABLES",
    "LeaverAction",
    "LeaverRule",
    "LocationTable",
    "is_location_column",
    "is_student_column",
    "tables_for",
    "unregistered_location_tables",
    "unregistered_student_tables",
]


@dataclass(frozen=True, slots=True)
class LocationTable:
    table: str
    student_column: str  # the keyed pseudonym (student_key)
    location_columns: tuple[str, ...]
    purpose: Purpose


LOCATION_TABLES: Final = (
    LocationTable("presence", "student_key", ("zone_id",), Purpose.LOCATION_TRACKING),
    LocationTable("zone_transitions", "student_key", ("from_zone", "to_zone"), Purpose.LOCATION_TRACKING),
    LocationTable("presence_current", "student_key", ("zone_id", "last_zone_id"), Purpose.LOCATION_TRACKING),
    # Door taps are attendance evidence: kept while automatic attendance is
    # consented to, even without location tracking (that is all such a
    # student leaves), erased when that consent is withdrawn.
    LocationTable("attendance_taps", "student_key", ("zone_id",), Purpose.AUTOMATIC_ATTENDANCE),
)

PLACE_TABLES: Final = {
    "zones": "the geofences themselves",
    "gateways": "where each reader is installed",
    "zone_schedules": "when each zone is open or restricted, and to which groups",
    "site_georeferences": "where a site's plan sits on the globe",
}

# Column-name words that say "where": a column whose name contains one of
# them (split on "_") places something.
LOCATION_TOKENS: Final = frozenset(
    {
        "zone",
        "zones",
        "location",
        "position",
        "place",
        "room",
        "floor",
        "geometry",
        "coordinates",
        "lat",
        "lon",
        "latitude",
        "longitude",
        "x",
        "y",
    }
)


class LeaverAction(StrEnum):
    ERASE = "erase"  # the student's rows are deleted
    SHRED = "shred"  # the student's data key is destroyed (every copy of their fields unreadable)
    KEEP = "keep"  # kept, pseudonymous, under the duty stated


@dataclass(frozen=True, slots=True)
class LeaverRule:
    action: LeaverAction
    column: str
    reason: str


STUDENT_TABLES: Final = {
    "students": LeaverRule(
        LeaverAction.KEEP,
        "student_id",
        "pseudonymous anchor (site, year group, keyed pseudonym) for records kept by law; marked erased",
    ),
    "student_data_keys": LeaverRule(
        LeaverAction.SHRED, "student_id", "crypto-shredding: no copy of the fields can be read again"
    ),
    "student_personal": LeaverRule(LeaverAction.ERASE, "student_id", "encrypted personal fields"),
    "badges": LeaverRule(LeaverAction.ERASE, "student_id", "badge keys and card hashes"),
    "consents": LeaverRule(LeaverAction.ERASE, "student_id", "current consent state"),
    "consent_events": LeaverRule(
        LeaverAction.KEEP,
        "student_id",
        "proof of what was consented to, by whom and when (UK GDPR Art. 7(1)); retention applies",
    ),
    "audit_log": LeaverRule(
        LeaverAction.KEEP,
        "student_id",
        "accountability: who accessed whose data (UK GDPR Art. 5(2)); never holds names; retention applies",
    ),
    "audit_subjects": LeaverRule(LeaverAction.KEEP, "student_id", "part of the audit log (bulk reads)"),
    "pending_erasures": LeaverRule(
        LeaverAction.KEEP, "student_key", "erasure work queue: entries run and are removed within minutes"
    ),
    **{
        t.table: LeaverRule(LeaverAction.ERASE, t.student_column, f"location data ({t.purpose})")
        for t in LOCATION_TABLES
    },
}


def tables_for(purpose: str) -> tuple[LocationTable, ...]:
    return tuple(t for t in LOCATION_TABLES if t.purpose == purpose)


def is_location_column(column: str) -> bool:
    return bool(LOCATION_TOKENS.intersection(column.lower().split("_")))


def is_student_column(column: str) -> bool:
    name = column.lower()
    return name in {"student", "student_id", "student_key", "student_ids", "student_keys"} or name.startswith(
        "student_"
    )


def unregistered_location_tables(columns: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Of (table, column) pairs, the tables with a location column that no registry covers."""
    known = {t.table for t in LOCATION_TABLES} | set(PLACE_TABLES)
    out: dict[str, list[str]] = {}
    for table, column in columns:
        if table not in known and is_location_column(column):
            out.setdefault(table, []).append(column)
    return out


def unregistered_student_tables(columns: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Of (table, column) pairs, the tables naming a student that the leaver rules do not cover."""
    out: dict[str, list[str]] = {}
    for table, column in columns:
        if table not in STUDENT_TABLES and is_student_column(column):
            out.setdefault(table, []).append(column)
    return out
