"""Enrolling students and issuing badges; recording consent. All SQL for these tables.

A student row holds no name or contact (see privacy's field encryption);
``student_key`` is the keyed pseudonym stored with presence. A rotating-id
badge's key is generated here and stored only wrapped by the master key (with
the wrapping key's id, for rotation); the caller gets the raw key once, to
program the badge.

:func:`record_consent` is the one writer of consent decisions: history,
current state, an audit entry per student, and for a withdrawal the erasure
of the purpose's data. It does not check who may decide; a person's decision
goes through :func:`privacy.consent.decide`, which does.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import psycopg

from privacy import audit, eid, erasure, keywrap
from privacy.errors import AuditError
from privacy.keyring import key_id
from privacy.models import DeciderRole, Role
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
# The second erasure pass after a withdrawal when the caller has no settings
# at hand (Settings.erasure_recheck_s has the same default).
DEFAULT_RECHECK_S: Final = 60.0


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
    master_id = key_id(master_key)
    with (
        conn.cursor() as cur,
        cur.copy(
            """COPY badges (site_id, student_id, kind, eid_key_wrapped, eid_key_master_id, rotation_s)
               FROM STDIN (FORMAT BINARY)"""
        ) as copy,
    ):
        copy.set_types(["text", "uuid", "text", "bytea", "text", "int4"])
        for student in students:
            key = os.urandom(eid.BADGE_KEY_BYTES)
            keys.append(key)
            wrapped = keywrap.wrap(master_key, key, purpose=EID_KEY_PURPOSE)
            copy.write_row((student.site_id, student.student_id, "ble-eid", wrapped, master_id, rotation_s))
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


def _audit_role(actor_role: str) -> Role:
    if actor_role in set(DeciderRole):
        return DeciderRole(actor_role).audit_role
    if actor_role in set(Role):
        return Role(actor_role)
    raise AuditError(f"unknown consent actor role {actor_role!r}: guardian, student, admin or an audit role")


def record_consent(
    conn: psycopg.Connection,
    *,
    student_ids: Sequence[uuid.UUID],
    purpose: str,
    granted: bool,
    actor: str,
    actor_role: str,
    note: str | None = None,
    now: datetime | None = None,
    recheck_s: float = DEFAULT_RECHECK_S,
    audit_detail: Mapping[str, Any] | None = None,
) -> dict[str, int]:
    """Record a consent decision for students, in the caller's transaction.

    Writes the history rows and the current state, one ``consent.change``
    audit entry per student, and for a withdrawal by a student who held the
    consent erases the purpose's data at once and schedules the second pass
    (``recheck_s`` later). Returns the rows erased per table (empty for a grant).
    """
    ids = list(student_ids)
    role = _audit_role(actor_role)
    with conn.transaction():
        # Only a student who held the consent can have data under it (ingest's
        # gate): a first "no" has nothing to erase.
        held = conn.execute(
            """SELECT s.student_id, s.student_key FROM consents c JOIN students s USING (student_id)
               WHERE c.purpose = %s AND c.granted AND c.student_id = ANY(%s::uuid[])""",
            (purpose, ids),
        ).fetchall()
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
        audit.record_each(
            conn,
            actor=actor,
            actor_role=role,
            action="consent.change",
            student_ids=ids,
            purpose=purpose,
            detail={"purpose": purpose, "granted": granted, "decided_as": actor_role, **(audit_detail or {})},
        )
        if granted:
            return {}
        return erasure.erase_withdrawn(
            conn,
            students=[(sid, key) for sid, key in held],
            purpose=purpose,
            now=now or datetime.now(UTC),
            recheck_s=recheck_s,
        )
