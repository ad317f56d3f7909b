"""All SQL of privacy's students, personal fields, keys, consent and erasure (the audit log's is in audit_repository).

Table names that appear in f-strings come only from :mod:`privacy.registry`,
never from input.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import class_row

from privacy.models import ConsentEvent, ConsentState, PurposeInfo
from privacy.registry import LocationTable

__all__ = [
    "DueErasure",
    "StudentRow",
    "WrappedKey",
    "add_purpose",
    "badges_of",
    "claim_due_erasures",
    "consent_history",
    "consent_states",
    "count_location_rows",
    "delete_badges",
    "delete_consents",
    "delete_data_key",
    "delete_location_rows",
    "delete_pending",
    "delete_personal",
    "delete_student_rows",
    "granted_purposes",
    "iter_dead_letter_payloads",
    "load_data_key",
    "load_personal",
    "location_rows",
    "lock_stale_wrapped",
    "mark_erased",
    "pending_for",
    "public_columns",
    "purposes",
    "schedule_erasures",
    "store_data_key",
    "store_personal",
    "store_rewrapped",
    "student",
    "wrapped_keys_by_master",
]


@dataclass(frozen=True, slots=True)
class StudentRow:
    student_id: UUID
    site_id: str
    student_key: int
    year_group: int | None
    created_at: datetime
    erased_at: datetime | None


@dataclass(frozen=True, slots=True)
class WrappedKey:
    ref: str  # student id or badge id
    wrapped: bytes
    master_key_id: str | None


@dataclass(frozen=True, slots=True)
class DueErasure:
    id: int
    student_key: int
    purpose: str
    reason: str
    student_id: UUID | None


# -- students ----------------------------------------------------------------
def student(conn: psycopg.Connection, student_id: UUID) -> StudentRow | None:
    with conn.cursor(row_factory=class_row(StudentRow)) as cur:
        cur.execute(
            """SELECT student_id, site_id, student_key, year_group, created_at, erased_at
               FROM students WHERE student_id = %s""",
            (student_id,),
        )
        return cur.fetchone()


def mark_erased(conn: psycopg.Connection, student_id: UUID, at: datetime) -> None:
    conn.execute("UPDATE students SET erased_at = %s WHERE student_id = %s", (at, student_id))


def delete_badges(conn: psycopg.Connection, student_id: UUID) -> int:
    return conn.execute("DELETE FROM badges WHERE student_id = %s", (student_id,)).rowcount


# -- data keys and personal fields --------------------------------------------
def store_data_key(conn: psycopg.Connection, student_id: UUID, wrapped: bytes, master_key_id: str) -> None:
    conn.execute(
        "INSERT INTO student_data_keys (student_id, wrapped, master_key_id) VALUES (%s, %s, %s)",
        (student_id, wrapped, master_key_id),
    )


def load_data_key(conn: psycopg.Connection, student_id: UUID) -> WrappedKey | None:
    row = conn.execute(
        "SELECT wrapped, master_key_id FROM student_data_keys WHERE student_id = %s", (student_id,)
    ).fetchone()
    return WrappedKey(str(student_id), bytes(row[0]), row[1]) if row else None


def delete_data_key(conn: psycopg.Connection, student_id: UUID) -> int:
    return conn.execute("DELETE FROM student_data_keys WHERE student_id = %s", (student_id,)).rowcount


def store_personal(conn: psycopg.Connection, student_id: UUID, fields: dict[str, bytes]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO student_personal (student_id, field, ciphertext) VALUES (%s, %s, %s)
               ON CONFLICT (student_id, field) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, updated_at = now()""",
            [(student_id, field, ciphertext) for field, ciphertext in fields.items()],
        )


def load_personal(conn: psycopg.Connection, student_id: UUID) -> dict[str, bytes]:
    rows = conn.execute(
        "SELECT field, ciphertext FROM student_personal WHERE student_id = %s", (student_id,)
    ).fetchall()
    return {field: bytes(ciphertext) for field, ciphertext in rows}


def delete_personal(conn: psycopg.Connection, student_id: UUID) -> int:
    return conn.execute("DELETE FROM student_personal WHERE student_id = %s", (student_id,)).rowcount


# -- key rotation -------------------------------------------------------------
# (table, reference column, wrapped column, key id column, extra condition)
_WRAPPED = {
    "student_data_keys": ("student_id", "wrapped", "master_key_id", "TRUE"),
    "badges": ("badge_id", "eid_key_wrapped", "eid_key_master_id", "eid_key_wrapped IS NOT NULL"),
}


def wrapped_keys_by_master(conn: psycopg.Connection) -> dict[str, dict[str | None, int]]:
    """Per table, how many wrapped keys each master key id holds (None: written before ids)."""
    out: dict[str, dict[str | None, int]] = {}
    for table, (_, _, id_column, condition) in _WRAPPED.items():
        rows = conn.execute(
            f"SELECT {id_column}, count(*) FROM {table} WHERE {condition} GROUP BY 1"
        ).fetchall()
        out[table] = dict(rows)
    return out


def lock_stale_wrapped(
    conn: psycopg.Connection, table: str, *, current_id: str, skip: Sequence[str], limit: int
) -> list[WrappedKey]:
    """A batch of keys not wrapped by the current master key, locked (others' locks skipped)."""
    ref, wrapped, id_column, condition = _WRAPPED[table]
    rows = conn.execute(
        f"""SELECT {ref}::text, {wrapped}, {id_column} FROM {table}
            WHERE {condition} AND {id_column} IS DISTINCT FROM %s AND NOT ({ref}::text = ANY(%s))
            ORDER BY {ref} LIMIT %s FOR UPDATE SKIP LOCKED""",
        (current_id, list(skip), limit),
    ).fetchall()
    return [WrappedKey(r, bytes(w), k) for r, w, k in rows]


def store_rewrapped(conn: psycopg.Connection, table: str, rows: Sequence[tuple[str, bytes, str]]) -> None:
    ref, wrapped, id_column, _ = _WRAPPED[table]
    stamp = ", rewrapped_at = now()" if table == "student_data_keys" else ""
    conn.execute(
        f"""UPDATE {table} t SET {wrapped} = u.wrapped, {id_column} = u.key_id{stamp}
            FROM unnest(%s::text[], %s::bytea[], %s::text[]) AS u(ref, wrapped, key_id)
            WHERE t.{ref}::text = u.ref""",
        ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]),
    )


# -- consent ------------------------------------------------------------------
def purposes(conn: psycopg.Connection) -> list[PurposeInfo]:
    with conn.cursor(row_factory=class_row(PurposeInfo)) as cur:
        cur.execute("SELECT purpose, description, lawful_basis FROM consent_purposes ORDER BY purpose")
        return cur.fetchall()


def add_purpose(conn: psycopg.Connection, info: PurposeInfo) -> bool:
    """Add a purpose; False if one with that name exists (it is never redefined under people's consent)."""
    cur = conn.execute(
        """INSERT INTO consent_purposes (purpose, description, lawful_basis) VALUES (%s, %s, %s)
           ON CONFLICT (purpose) DO NOTHING""",
        (info.purpose, info.description, info.lawful_basis),
    )
    return cur.rowcount == 1


def consent_states(conn: psycopg.Connection, student_id: UUID) -> list[ConsentState]:
    """Every purpose, with this student's current decision (off when none was ever made)."""
    with conn.cursor(row_factory=class_row(ConsentState)) as cur:
        cur.execute(
            """SELECT p.purpose, coalesce(c.granted, false) AS granted, c.updated_at, p.description, p.lawful_basis
               FROM consent_purposes p LEFT JOIN consents c ON c.purpose = p.purpose AND c.student_id = %s
               ORDER BY p.purpose""",
            (student_id,),
        )
        return cur.fetchall()


def consent_history(conn: psycopg.Connection, student_id: UUID) -> list[ConsentEvent]:
    with conn.cursor(row_factory=class_row(ConsentEvent)) as cur:
        cur.execute(
            """SELECT purpose, granted, actor, actor_role, recorded_at, note FROM consent_events
               WHERE student_id = %s ORDER BY recorded_at, event_id""",
            (student_id,),
        )
        return cur.fetchall()


def granted_purposes(conn: psycopg.Connection, student_key: int) -> set[str]:
    rows = conn.execute(
        """SELECT c.purpose FROM consents c JOIN students s USING (student_id)
           WHERE s.student_key = %s AND c.granted""",
        (student_key,),
    ).fetchall()
    return {r[0] for r in rows}


def delete_consents(conn: psycopg.Connection, student_id: UUID) -> int:
    return conn.execute("DELETE FROM consents WHERE student_id = %s", (student_id,)).rowcount


# -- erasure ------------------------------------------------------------------
def delete_location_rows(conn: psycopg.Connection, table: LocationTable, student_keys: Sequence[int]) -> int:
    cur = conn.execute(
        f"DELETE FROM {table.table} WHERE {table.student_column} = ANY(%s::bigint[])", (list(student_keys),)
    )
    return cur.rowcount


def count_location_rows(conn: psycopg.Connection, table: LocationTable, student_key: int) -> int:
    row = conn.execute(
        f"SELECT count(*) FROM {table.table} WHERE {table.student_column} = %s", (student_key,)
    ).fetchone()
    return int(row[0]) if row else 0


def location_rows(
    conn: psycopg.Connection, table: LocationTable, student_key: int
) -> Iterator[dict[str, Any]]:
    """A student's rows of one registered table (for a subject access export), oldest first where timed."""
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(f"SELECT * FROM {table.table} WHERE {table.student_column} = %s", (student_key,))
        yield from cur


def schedule_erasures(
    conn: psycopg.Connection, student_keys: Sequence[int], *, purpose: str, due_at: datetime, reason: str
) -> None:
    conn.execute(
        """INSERT INTO pending_erasures (student_key, purpose, due_at, reason)
           SELECT k, %s, %s, %s FROM unnest(%s::bigint[]) AS k""",
        (purpose, due_at, reason, list(student_keys)),
    )


def claim_due_erasures(conn: psycopg.Connection, now: datetime, *, limit: int) -> list[DueErasure]:
    """Due erasures, locked for this transaction (another runner skips them)."""
    with conn.cursor(row_factory=class_row(DueErasure)) as cur:
        cur.execute(
            """SELECT p.id, p.student_key, p.purpose, p.reason, s.student_id
               FROM pending_erasures p LEFT JOIN students s USING (student_key)
               WHERE p.due_at <= %s ORDER BY p.due_at LIMIT %s FOR UPDATE OF p SKIP LOCKED""",
            (now, limit),
        )
        return cur.fetchall()


def delete_pending(conn: psycopg.Connection, ids: Sequence[int]) -> None:
    conn.execute("DELETE FROM pending_erasures WHERE id = ANY(%s::bigint[])", (list(ids),))


def public_columns(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """(table, column) of every base table in the public schema (hypertable chunks live elsewhere)."""
    rows = conn.execute(
        """SELECT c.table_name, c.column_name FROM information_schema.columns c
           JOIN information_schema.tables t USING (table_schema, table_name)
           WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
           ORDER BY 1, 2"""
    ).fetchall()
    return [(t, c) for t, c in rows]


def iter_dead_letter_payloads(conn: psycopg.Connection) -> Iterator[tuple[int, bytes | None]]:
    for dead_id, payload in conn.execute("SELECT id, payload FROM dead_letters"):
        yield dead_id, bytes(payload) if payload is not None else None


def delete_student_rows(conn: psycopg.Connection, table: str, column: str, value: object) -> int:
    """Delete one student's rows from a table named by :data:`privacy.registry.STUDENT_TABLES`."""
    return conn.execute(f"DELETE FROM {table} WHERE {column} = %s", (value,)).rowcount


def pending_for(conn: psycopg.Connection, student_key: int) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pending_erasures WHERE student_key = %s", (student_key,)
    ).fetchone()
    return int(row[0]) if row else 0


def badges_of(conn: psycopg.Connection, student_id: UUID) -> list[dict[str, Any]]:
    """What a family may see of their child's badges: kind and dates (never keys or card hashes)."""
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(
            """SELECT kind, issued_at, revoked_at, rotation_s FROM badges
               WHERE student_id = %s ORDER BY issued_at""",
            (student_id,),
        )
        return cur.fetchall()
