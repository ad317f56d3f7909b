"""Erasure: a withdrawn purpose's data, a leaver's data, and the checks that prove it is gone.

Withdrawing a purpose (location tracking above all) erases the student's
rows from every table registered for it (:data:`privacy.registry.LOCATION_TABLES`)
at once, in the withdrawal's transaction, and schedules a second pass after
``erasure_recheck_s``: an ingest worker may commit rows it decided before it
heard of the withdrawal (it hears within a second, and from then on drops
the student's rows at output, see ``ingest.service``). The second pass is run
by :func:`run_pending_erasures`, which ingest's writer and the retention
scheduler call periodically. ``campus consent verify-erasure`` proves the
result with :func:`check_erasure`.

Dead letters never hold badge identifiers (:mod:`privacy.redact`): a rotating
id cannot be traced back to a student to erase it later, so it is never
kept; :func:`check_erasure` checks that no stored payload escaped redaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final
from uuid import UUID

import psycopg

from privacy import repository
from privacy.audit import AuditActor, record_each
from privacy.errors import UnknownStudentError
from privacy.models import Purpose, Role
from privacy.redact import is_redacted
from privacy.registry import (
    LOCATION_TABLES,
    STUDENT_TABLES,
    LeaverAction,
    tables_for,
    unregistered_location_tables,
    unregistered_student_tables,
)

__all__ = [
    "ERASURE_ACTOR",
    "ErasureCheck",
    "TableCheck",
    "check_erasure",
    "erase_location_data",
    "erase_purpose_data",
    "erase_student",
    "erase_withdrawn",
    "run_pending_erasures",
]

ERASURE_ACTOR: Final = AuditActor("campus-erasure", Role.SYSTEM)
# Pending erasures handled per transaction: each is a few indexed deletes.
PENDING_BATCH: Final = 200


def _require_student(conn: psycopg.Connection, student_id: UUID) -> repository.StudentRow:
    row = repository.student(conn, student_id)
    if row is None:
        raise UnknownStudentError(f"no student with id {student_id}")
    return row


def erase_purpose_data(
    conn: psycopg.Connection, *, student_keys: Sequence[int], purpose: str
) -> dict[str, int]:
    """Delete the students' rows from every table held under ``purpose``; table -> rows removed."""
    return {t.table: repository.delete_location_rows(conn, t, student_keys) for t in tables_for(purpose)}


def erase_location_data(conn: psycopg.Connection, *, student_key: int) -> dict[str, int]:
    """Delete the student's rows from every location-tracking table; table -> rows removed (counts only)."""
    return erase_purpose_data(conn, student_keys=[student_key], purpose=Purpose.LOCATION_TRACKING)


def _action(purpose: str) -> str:
    return "erasure.location" if purpose == Purpose.LOCATION_TRACKING else "erasure.purpose"


def erase_withdrawn(
    conn: psycopg.Connection,
    *,
    students: Sequence[tuple[UUID, int]],
    purpose: str,
    now: datetime,
    recheck_s: float,
    actor: AuditActor = ERASURE_ACTOR,
) -> dict[str, int]:
    """After a withdrawal of ``purpose`` by (student id, student key)s: erase now, schedule the second pass.

    Does nothing for a purpose with no registered tables. Audited per student.
    """
    if not tables_for(purpose) or not students:
        return {}
    keys = [key for _, key in students]
    removed = erase_purpose_data(conn, student_keys=keys, purpose=purpose)
    repository.schedule_erasures(
        conn, keys, purpose=purpose, due_at=now + timedelta(seconds=recheck_s), reason="withdrawal"
    )
    if len(students) == 1:
        actor.record(
            conn,
            action=_action(purpose),
            student_id=students[0][0],
            detail={"purpose": purpose, "pass": "immediate", "rows": removed},
        )
    else:  # rows were counted for the group: each entry says only that the pass ran
        record_each(
            conn,
            actor=actor.name,
            actor_role=actor.role,
            action=_action(purpose),
            student_ids=[student_id for student_id, _ in students],
            detail={"purpose": purpose, "pass": "immediate"},
        )
    return removed


def run_pending_erasures(conn: psycopg.Connection, *, now: datetime) -> int:
    """Run every erasure pass due by ``now``; return how many ran. Safe to call from several processes.

    A pass whose student holds the purpose again (re-granted since) is
    dropped: the immediate pass already erased what was held before.
    """
    done = 0
    while True:
        with conn.transaction():
            due = repository.claim_due_erasures(conn, now, limit=PENDING_BATCH)
            for item in due:
                if item.purpose in repository.granted_purposes(conn, item.student_key):
                    continue
                removed = erase_purpose_data(conn, student_keys=[item.student_key], purpose=item.purpose)
                ERASURE_ACTOR.record(
                    conn,
                    action=_action(item.purpose),
                    student_id=item.student_id,
                    detail={
                        "purpose": item.purpose,
                        "pass": "recheck",
                        "reason": item.reason,
                        "rows": removed,
                    },
                )
            repository.delete_pending(conn, [item.id for item in due])
        done += len(due)
        if len(due) < PENDING_BATCH:
            return done


@dataclass(frozen=True, slots=True)
class LeaverReport:
    removed: dict[str, int]
    kept: dict[str, str]


def erase_student(
    conn: psycopg.Connection,
    *,
    student_id: UUID,
    actor: AuditActor,
    now: datetime,
    recheck_s: float,
    reason: str | None = None,
) -> LeaverReport:
    """Erase a leaver: every table the registry marks erase or shred; keep the rest, pseudonymous.

    The data key is destroyed (crypto-shredding), so the personal fields are
    unreadable in every backup too. Location passes are rescheduled, as for
    a withdrawal. Audited as ``erasure.student``.
    """
    with conn.transaction():
        row = _require_student(conn, student_id)
        if row.erased_at is not None:
            raise UnknownStudentError(f"student {student_id} was already erased")
        removed: dict[str, int] = {}
        kept: dict[str, str] = {}
        for table, rule in STUDENT_TABLES.items():
            if rule.action is LeaverAction.KEEP:
                kept[table] = rule.reason
                continue
            value: object = row.student_key if rule.column == "student_key" else student_id
            removed[table] = repository.delete_student_rows(conn, table, rule.column, value)
        for purpose in {t.purpose for t in LOCATION_TABLES}:
            repository.schedule_erasures(
                conn,
                [row.student_key],
                purpose=purpose,
                due_at=now + timedelta(seconds=recheck_s),
                reason="leaver",
            )
        repository.mark_erased(conn, student_id, now)
        actor.record(
            conn,
            action="erasure.student",
            student_id=student_id,
            purpose=reason,
            detail={"removed": removed, "kept": sorted(kept)},
        )
    return LeaverReport(removed, kept)


@dataclass(frozen=True, slots=True)
class TableCheck:
    table: str
    purpose: str
    rows: int
    consent_held: bool

    @property
    def ok(self) -> bool:
        return self.rows == 0 or self.consent_held


@dataclass(frozen=True, slots=True)
class ErasureCheck:
    tables: list[TableCheck]
    unregistered_location: dict[str, list[str]] = field(default_factory=dict)
    unregistered_student: dict[str, list[str]] = field(default_factory=dict)
    unredacted_dead_letters: int = 0
    pending: int = 0

    @property
    def ok(self) -> bool:
        return (
            all(t.ok for t in self.tables)
            and not self.unregistered_location
            and not self.unregistered_student
            and self.unredacted_dead_letters == 0
        )


def check_erasure(conn: psycopg.Connection, *, student_id: UUID) -> ErasureCheck:
    """For every registered table: the student's rows, allowed only under a purpose they still hold.

    Also fails if a table with a location or student column is in no
    registry, or a dead letter holds a payload that escaped redaction.
    """
    row = _require_student(conn, student_id)
    held = repository.granted_purposes(conn, row.student_key)
    tables = [
        TableCheck(
            t.table, t.purpose, repository.count_location_rows(conn, t, row.student_key), t.purpose in held
        )
        for t in LOCATION_TABLES
    ]
    columns = repository.public_columns(conn)
    unredacted = sum(
        1 for _, payload in repository.iter_dead_letter_payloads(conn) if not is_redacted(payload)
    )
    return ErasureCheck(
        tables,
        unregistered_location_tables(columns),
        unregistered_student_tables(columns),
        unredacted,
        repository.pending_for(conn, row.student_key),
    )
