"""All SQL of the audit log (kept apart from :mod:`privacy.repository`, which is long enough).

The database enforces the chain's shape (gapless seq, each entry after the
head, no update or delete, no truncate: migration 0006); the hashes are
computed and checked by :mod:`privacy.audit_chain`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from privacy.models import AuditEntry

__all__ = [
    "anchor",
    "entries_for_student",
    "head",
    "insert",
    "iter_rows",
    "lock_head",
    "remove_prefix",
]

_COLUMNS = "seq, at, actor, actor_role, action, purpose, student_id, subject_count, detail, prev_hash, hash"


def lock_head(conn: psycopg.Connection) -> tuple[int, bytes, datetime]:
    """Lock the chain head for this transaction; (last seq, last hash, the database's clock)."""
    row = conn.execute("SELECT last_seq, last_hash, clock_timestamp() FROM audit_chain FOR UPDATE").fetchone()
    assert row is not None, "migration 0006 creates the chain head"
    return row[0], bytes(row[1]), row[2]


def head(conn: psycopg.Connection) -> tuple[int, bytes]:
    row = conn.execute("SELECT last_seq, last_hash FROM audit_chain").fetchone()
    assert row is not None, "migration 0006 creates the chain head"
    return row[0], bytes(row[1])


def anchor(conn: psycopg.Connection) -> tuple[int, bytes | None]:
    """The latest anchor (seq, hash), or (0, None) if no prefix was ever removed."""
    row = conn.execute(
        "SELECT anchor_seq, anchor_hash FROM audit_anchors ORDER BY anchor_seq DESC LIMIT 1"
    ).fetchone()
    return (row[0], bytes(row[1])) if row else (0, None)


def insert(conn: psycopg.Connection, rows: Sequence[AuditEntry]) -> None:
    """Append rows (already chained, in seq order), each followed by its subjects.

    Subjects are accepted only while their entry is the chain head, so an
    entry with subjects is written on its own; runs without are batched.
    """
    batch: list[AuditEntry] = []
    for row in rows:
        batch.append(row)
        if row.subjects:
            _insert_rows(conn, batch)
            conn.execute(
                "INSERT INTO audit_subjects (seq, student_id) SELECT %s, unnest(%s::uuid[])",
                (row.seq, list(row.subjects)),
            )
            batch = []
    if batch:
        _insert_rows(conn, batch)


def _insert_rows(conn: psycopg.Connection, rows: Sequence[AuditEntry]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO audit_log ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)",
            [
                (
                    r.seq,
                    r.at,
                    r.actor,
                    r.actor_role,
                    r.action,
                    r.purpose,
                    r.student_id,
                    r.subject_count,
                    json.dumps(r.detail, ensure_ascii=False),
                    r.prev_hash,
                    r.hash,
                )
                for r in rows
            ],
        )


def iter_rows(conn: psycopg.Connection, *, upto_seq: int | None) -> Iterator[AuditEntry]:
    """Every entry (up to ``upto_seq``), in seq order, with its subject list; a server-side cursor."""
    with conn.cursor(name="campus_audit_verify", row_factory=class_row(AuditEntry)) as cur:
        cur.itersize = 2000
        cur.execute(
            f"""SELECT {", ".join("a." + c for c in _COLUMNS.split(", "))},
                       COALESCE((SELECT array_agg(s.student_id ORDER BY s.student_id) FROM audit_subjects s
                                 WHERE s.seq = a.seq), '{{}}') AS subjects
                FROM audit_log a WHERE %s::bigint IS NULL OR a.seq <= %s ORDER BY a.seq""",
            (upto_seq, upto_seq),
        )
        yield from cur


def entries_for_student(conn: psycopg.Connection, student_id: UUID) -> list[AuditEntry]:
    """Entries about the student alone, and bulk entries that included them, oldest first."""
    with conn.cursor(row_factory=class_row(AuditEntry)) as cur:
        cur.execute(
            f"""SELECT {_COLUMNS} FROM audit_log
                WHERE student_id = %s OR seq IN (SELECT seq FROM audit_subjects WHERE student_id = %s)
                ORDER BY seq""",
            (student_id, student_id),
        )
        return cur.fetchall()


def remove_prefix(conn: psycopg.Connection, cutoff: datetime) -> tuple[int, int]:
    """Remove entries before the first one at or after ``cutoff``; (entries removed, new anchor seq)."""
    row = conn.execute("SELECT audit_remove_prefix(%s)", (cutoff,)).fetchone()
    removed = int(row[0]) if row else 0
    anchor_seq, _ = anchor(conn)
    return removed, anchor_seq
