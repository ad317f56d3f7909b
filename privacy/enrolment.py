"""Enrolling students and issuing badges; recording consent. All SQL for these tables.

A student row holds no name or contact (see privacy's field encryption);
``student_key`` is the keyed pseudonym stored with presence. A rotating-id
badge's key is generated here and stored only wrapped by the master key; the
caller gets the raw key once, to program the badge.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psycopg

from privacy import eid, keywrap
from privacy.pseudonyms import student_key as derive_student_key

__all__ = [
    "EID_KEY_PURPOSE",
    "EnrolledStudent",
    "enrol_student",
    "enrol_students",
    "issue_eid_badge",
    "issue_eid_badges",
    "issue_static_badge",
    "record_consent",
]

# Must match ingest.repository.EID_KEY_PURPOSE (associated data of the wrapping).
EID_KEY_PURPOSE = "badge-eid-key"


@dataclass(frozen=True, slots=True)
class EnrolledStudent:
    student_id: uuid.UUID
    student_key: int
    site_id: str
    year_group: int | None


def enrol_student(
    conn: psycopg.Connection, *, site_id: str, pseudonym_key: bytes, year_group: int | None = None
) -> EnrolledStudent:
    return enrol_students(conn, site_id=site_id, pseudonym_key=pseudonym_key, year_groups=[year_group])[0]


def enrol_students(
    conn: psycopg.Connection, *, site_id: str, pseudonym_key: bytes, year_groups: Sequence[int | None]
) -> list[EnrolledStudent]:
    """Enrol many students at once (binary COPY)."""
    students = []
    for year_group in year_groups:
        student_id = uuid.uuid4()
        students.append(
            EnrolledStudent(student_id, derive_student_key(pseudonym_key, student_id), site_id, year_group)
        )
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY students (student_id, site_id, student_key, year_group) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["uuid", "text", "int8", "int2"])
        for s in students:
            copy.write_row((s.student_id, s.site_id, s.student_key, s.year_group))
    return students


def issue_eid_badges(
    conn: psycopg.Connection,
    *,
    students: Iterable[EnrolledStudent],
    master_key: bytes,
    rotation_s: int = eid.DEFAULT_ROTATION_S,
) -> list[bytes]:
    """Issue a rotating-id badge to each student; returns each badge's raw key, in order."""
    keys = []
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY badges (site_id, student_id, kind, eid_key_wrapped, rotation_s) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["text", "uuid", "text", "bytea", "int4"])
        for student in students:
            key = os.urandom(eid.BADGE_KEY_BYTES)
            keys.append(key)
            wrapped = keywrap.wrap(master_key, key, purpose=EID_KEY_PURPOSE)
            copy.write_row((student.site_id, student.student_id, "ble-eid", wrapped, rotation_s))
    return keys


def issue_eid_badge(
    conn: psycopg.Connection,
    *,
    student: EnrolledStudent,
    master_key: bytes,
    rotation_s: int = eid.DEFAULT_ROTATION_S,
) -> bytes:
    return issue_eid_badges(conn, students=[student], master_key=master_key, rotation_s=rotation_s)[0]


def issue_static_badge(
    conn: psycopg.Connection, *, student: EnrolledStudent, kind: str, static_hash: bytes
) -> None:
    """Register an RFID card (or iBeacon / Eddystone-UID tag) by the keyed hash gateways send."""
    conn.execute(
        "INSERT INTO badges (site_id, student_id, kind, static_hash) VALUES (%s, %s, %s, %s)",
        (student.site_id, student.student_id, kind, static_hash),
    )


def record_consent(
    conn: psycopg.Connection,
    *,
    student_ids: Sequence[uuid.UUID],
    purpose: str,
    granted: bool,
    actor: str,
    actor_role: str,
    note: str | None = None,
) -> None:
    """Record a consent decision for students: history row and current state, in the caller's transaction."""
    ids = list(student_ids)
    conn.execute(
        """INSERT INTO consent_events (student_id, purpose, granted, actor, actor_role, note)
           SELECT sid, %s, %s, %s, %s, %s FROM unnest(%s::uuid[]) AS sid""",
        (purpose, granted, actor, actor_role, note, ids),
    )
    conn.execute(
        """INSERT INTO consents (student_id, purpose, granted)
           SELECT sid, %s, %s FROM unnest(%s::uuid[]) AS sid
           ON CONFLICT (student_id, purpose) DO UPDATE SET granted = EXCLUDED.granted, updated_at = now()""",
        (purpose, granted, ids),
    )
