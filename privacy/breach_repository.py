"""All SQL of breach support: reading the audit log for detection, findings (an outbox), breach records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg.rows import class_row

from privacy.breach import AccessEntry, BreachRecord, BreachStatus, Finding, Rule

__all__ = [
    "StoredFinding",
    "close_breach",
    "get_breach",
    "insert_findings",
    "known_findings",
    "list_breaches",
    "list_findings",
    "lock_scan_state",
    "mark_notified",
    "mark_published",
    "new_entries",
    "open_breach",
    "quiet_until",
    "save_scan_state",
    "unpublished_findings",
]

_SCAN = "breach"
_ENTRY_SQL = """SELECT a.seq, a.at, a.actor, a.actor_role, a.action, a.student_id, a.subject_count,
                       coalesce((SELECT array_agg(s.student_id) FROM audit_subjects s WHERE s.seq = a.seq), '{}')
                FROM audit_log a"""


def _entry(row: tuple[object, ...]) -> AccessEntry:
    seq, at, actor, role, action, student_id, count, subjects = row
    return AccessEntry(seq, at, actor, role, action, student_id, count, tuple(subjects))  # type: ignore[arg-type]


def lock_scan_state(conn: psycopg.Connection) -> int:
    """The last audit seq scanned, locked for this transaction (one scan at a time)."""
    conn.execute(
        "INSERT INTO privacy_scan_state (name, last_seq, scanned_at) VALUES (%s, 0, now()) ON CONFLICT DO NOTHING",
        (_SCAN,),
    )
    row = conn.execute(
        "SELECT last_seq FROM privacy_scan_state WHERE name = %s FOR UPDATE", (_SCAN,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def save_scan_state(conn: psycopg.Connection, *, last_seq: int, at: datetime) -> None:
    conn.execute(
        "UPDATE privacy_scan_state SET last_seq = %s, scanned_at = %s WHERE name = %s", (last_seq, at, _SCAN)
    )


def new_entries(
    conn: psycopg.Connection, *, after_seq: int, limit: int, context: timedelta
) -> tuple[list[AccessEntry], list[AccessEntry]]:
    """(entries after ``after_seq``, up to ``limit``; earlier entries within ``context`` of the first of them)."""
    new = [
        _entry(r)
        for r in conn.execute(f"{_ENTRY_SQL} WHERE a.seq > %s ORDER BY a.seq LIMIT %s", (after_seq, limit))
    ]
    if not new:
        return [], []
    since = min(e.at for e in new) - context
    earlier = [
        _entry(r)
        for r in conn.execute(
            f"{_ENTRY_SQL} WHERE a.seq <= %s AND a.at >= %s ORDER BY a.seq", (after_seq, since)
        )
    ]
    return new, earlier


def quiet_until(conn: psycopg.Connection, *, window: timedelta) -> dict[str, datetime]:
    """Per actor, the end of the latest bulk-read finding's quiet period."""
    rows = conn.execute(
        "SELECT actor, max(last_at) FROM privacy_findings WHERE rule = %s GROUP BY actor", (Rule.BULK_READ,)
    ).fetchall()
    return {actor: last + window for actor, last in rows}


def insert_findings(
    conn: psycopg.Connection, findings: Sequence[Finding], *, detected_at: datetime
) -> list[int]:
    """Store findings not seen before (same rule and key); returns the new ids."""
    ids = []
    for f in findings:
        row = conn.execute(
            """INSERT INTO privacy_findings (rule, dedupe_key, actor, actor_role, first_seq, last_seq, first_at, last_at,
                                             students, summary, detected_at)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (rule, dedupe_key) DO NOTHING RETURNING finding_id""",
            (
                f.rule,
                f.dedupe_key,
                f.actor,
                f.actor_role,
                f.first_seq,
                f.last_seq,
                f.first_at,
                f.last_at,
                f.students,
                f.summary,
                detected_at,
            ),
        ).fetchone()
        if row is not None:
            ids.append(int(row[0]))
    return ids


@dataclass(frozen=True, slots=True)
class StoredFinding:
    finding_id: int
    rule: str
    actor: str
    actor_role: str
    first_seq: int
    last_seq: int
    first_at: datetime
    last_at: datetime
    students: int
    summary: str
    detected_at: datetime
    published_at: datetime | None


_FINDING_COLUMNS = """finding_id, rule, actor, actor_role, first_seq, last_seq, first_at, last_at, students, summary,
                      detected_at, published_at"""


def unpublished_findings(conn: psycopg.Connection, *, limit: int) -> list[StoredFinding]:
    with conn.cursor(row_factory=class_row(StoredFinding)) as cur:
        cur.execute(
            f"SELECT {_FINDING_COLUMNS} FROM privacy_findings WHERE published_at IS NULL ORDER BY finding_id LIMIT %s",
            (limit,),
        )
        return cur.fetchall()


def list_findings(conn: psycopg.Connection, *, limit: int) -> list[StoredFinding]:
    with conn.cursor(row_factory=class_row(StoredFinding)) as cur:
        cur.execute(
            f"SELECT {_FINDING_COLUMNS} FROM privacy_findings ORDER BY finding_id DESC LIMIT %s", (limit,)
        )
        return cur.fetchall()


def mark_published(conn: psycopg.Connection, ids: Sequence[int], *, at: datetime) -> None:
    conn.execute("UPDATE privacy_findings SET published_at = %s WHERE finding_id = ANY(%s)", (at, list(ids)))


_BREACH_COLUMNS = """breach_id, summary, aware_at, opened_at, opened_by, finding_ids, regulator_deadline,
                     regulator_notified_at, families_notified_at, status, closed_at, closed_by, closing_note"""


def _breach(row: tuple[object, ...]) -> BreachRecord:
    values = list(row)
    values[5] = tuple(values[5])  # type: ignore[arg-type]
    values[9] = BreachStatus(str(values[9]))
    return BreachRecord(*values)  # type: ignore[arg-type]


def open_breach(
    conn: psycopg.Connection,
    *,
    summary: str,
    aware_at: datetime,
    opened_at: datetime,
    opened_by: str,
    finding_ids: Sequence[int],
    regulator_deadline: datetime,
) -> BreachRecord:
    row = conn.execute(
        f"""INSERT INTO breaches (summary, aware_at, opened_at, opened_by, finding_ids, regulator_deadline)
            VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_BREACH_COLUMNS}""",
        (summary, aware_at, opened_at, opened_by, list(finding_ids), regulator_deadline),
    ).fetchone()
    assert row is not None
    return _breach(row)


def known_findings(conn: psycopg.Connection, ids: Sequence[int]) -> set[int]:
    rows = conn.execute("SELECT finding_id FROM privacy_findings WHERE finding_id = ANY(%s)", (list(ids),))
    return {r[0] for r in rows}


def get_breach(conn: psycopg.Connection, breach_id: int, *, lock: bool = False) -> BreachRecord | None:
    query = f"SELECT {_BREACH_COLUMNS} FROM breaches WHERE breach_id = %s{' FOR UPDATE' if lock else ''}"
    row = conn.execute(query, (breach_id,)).fetchone()
    return _breach(row) if row else None


def list_breaches(conn: psycopg.Connection, *, include_closed: bool) -> list[BreachRecord]:
    query = f"SELECT {_BREACH_COLUMNS} FROM breaches"
    if not include_closed:
        query += " WHERE status = 'open'"
    return [_breach(r) for r in conn.execute(query + " ORDER BY breach_id")]


def mark_notified(
    conn: psycopg.Connection, breach_id: int, *, regulator_at: datetime | None, families_at: datetime | None
) -> None:
    conn.execute(
        """UPDATE breaches SET regulator_notified_at = coalesce(%s, regulator_notified_at),
                               families_notified_at = coalesce(%s, families_notified_at)
           WHERE breach_id = %s""",
        (regulator_at, families_at, breach_id),
    )


def close_breach(conn: psycopg.Connection, breach_id: int, *, at: datetime, by: str, note: str) -> None:
    conn.execute(
        """UPDATE breaches SET status = 'closed', closed_at = %s, closed_by = %s, closing_note = %s
           WHERE breach_id = %s""",
        (at, by, note, breach_id),
    )
