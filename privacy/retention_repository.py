"""All SQL of retention: table inventory, chunk facts, bounded deletes, drop_chunks, sweep records.

Identifiers come only from the retention schedule (code), never from input,
and are quoted with :mod:`psycopg.sql` all the same.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

from privacy.retention import Chunk

__all__ = [
    "Overdue",
    "chunk_interval",
    "delete_batch",
    "drop_chunks",
    "ensure_retention_policy",
    "hypertables",
    "list_chunks",
    "list_tables",
    "overdue_rows",
    "recent_runs",
    "record_run",
    "timescaledb_license",
]

# Schemas that belong to PostgreSQL or TimescaleDB itself, not to the product.
_SYSTEM_SCHEMAS = (
    "pg_catalog",
    "information_schema",
    "pg_toast",
    "_timescaledb_catalog",
    "_timescaledb_internal",
    "_timescaledb_cache",
    "_timescaledb_config",
    "_timescaledb_functions",
    "_timescaledb_debug",
    "timescaledb_information",
    "timescaledb_experimental",
    "toolkit_experimental",
)
# A sweep never queues for a lock longer than this: a waiting exclusive lock
# request would block every later reader of the table behind it.
LOCK_TIMEOUT = "5s"

# Extra conditions for tables whose rows expire on more than their own age.
# consent_events: the whole history of a (student, purpose) goes only once the
# consent is no longer granted and its last change is past the window.
_EXTRA_CONDITIONS: Mapping[str, sql.Composable] = {
    "consent_events": sql.SQL(
        """NOT EXISTS (SELECT 1 FROM consents c WHERE c.student_id = t.student_id
                          AND c.purpose = t.purpose AND c.granted)
           AND NOT EXISTS (SELECT 1 FROM consent_events l WHERE l.student_id = t.student_id
                          AND l.purpose = t.purpose AND l.recorded_at >= %(before)s)"""
    ),
}


def _condition(table: str, column: str) -> sql.Composable:
    base = sql.SQL("t.{} < %(before)s").format(sql.Identifier(column))
    extra = _EXTRA_CONDITIONS.get(table)
    return base if extra is None else sql.SQL("{} AND {}").format(base, extra)


def list_tables(conn: psycopg.Connection) -> list[str]:
    """Every base table of the product (``schema.table`` outside ``public``)."""
    rows = conn.execute(
        """SELECT CASE WHEN table_schema = 'public' THEN table_name ELSE table_schema || '.' || table_name END
           FROM information_schema.tables
           WHERE table_type = 'BASE TABLE' AND NOT (table_schema = ANY(%s))""",
        (list(_SYSTEM_SCHEMAS),),
    ).fetchall()
    return sorted(r[0] for r in rows)


def timescaledb_license(conn: psycopg.Connection) -> str | None:
    row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    return row[0] if row else None


def hypertables(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT hypertable_name FROM timescaledb_information.hypertables WHERE hypertable_schema = 'public'"
    ).fetchall()
    return {r[0] for r in rows}


def chunk_interval(conn: psycopg.Connection, table: str) -> timedelta | None:
    """The time dimension's chunk interval of a hypertable (``None`` if it is not one)."""
    row = conn.execute(
        """SELECT time_interval FROM timescaledb_information.dimensions
           WHERE hypertable_schema = 'public' AND hypertable_name = %s AND dimension_number = 1""",
        (table,),
    ).fetchone()
    return row[0] if row else None


def list_chunks(conn: psycopg.Connection, table: str) -> list[Chunk]:
    rows = conn.execute(
        """SELECT chunk_schema || '.' || chunk_name, range_start, range_end
           FROM timescaledb_information.chunks
           WHERE hypertable_schema = 'public' AND hypertable_name = %s ORDER BY range_start""",
        (table,),
    ).fetchall()
    return [Chunk(name, start, end) for name, start, end in rows]


def drop_chunks(conn: psycopg.Connection, *, table: str, column: str, chunks: Sequence[Chunk]) -> int:
    """Drop the given (expired) chunks in one short transaction; returns the rows they held."""
    if not chunks:
        return 0
    limit = max(c.end for c in chunks)
    with conn.transaction():
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE {} < %s").format(
                sql.Identifier(table), sql.Identifier(column)
            ),
            (limit,),
        ).fetchone()
        conn.execute("SELECT drop_chunks(%s::regclass, older_than => %s)", (table, limit))
    return int(row[0]) if row else 0


def ensure_retention_policy(conn: psycopg.Connection, *, table: str, window: timedelta) -> None:
    """TimescaleDB's own retention job (licence ``timescale`` only), replaced when the window changed."""
    with conn.transaction():
        row = conn.execute(
            """SELECT job_id, config->>'drop_after' FROM timescaledb_information.jobs
               WHERE proc_name = 'policy_retention' AND hypertable_schema = 'public' AND hypertable_name = %s""",
            (table,),
        ).fetchone()
        if row is not None:
            current = conn.execute("SELECT %s::interval", (row[1],)).fetchone()
            if current is not None and current[0] == window:
                return
            conn.execute("SELECT remove_retention_policy(%s::regclass)", (table,))
        conn.execute("SELECT add_retention_policy(%s::regclass, drop_after => %s)", (table, window))


def delete_batch(conn: psycopg.Connection, *, table: str, column: str, before: datetime, limit: int) -> int:
    """Delete at most ``limit`` expired rows in one short transaction; returns how many went."""
    query = sql.SQL(
        """DELETE FROM {table} WHERE ctid = ANY(ARRAY(
               SELECT t.ctid FROM {table} AS t WHERE {condition} LIMIT %(limit)s))"""
    ).format(table=sql.Identifier(table), condition=_condition(table, column))
    with conn.transaction():
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
        return conn.execute(query, {"before": before, "limit": limit}).rowcount


@dataclass(frozen=True, slots=True)
class Overdue:
    table: str
    rows: int
    oldest: datetime


def overdue_rows(conn: psycopg.Connection, *, table: str, column: str, before: datetime) -> Overdue | None:
    """Rows past ``before`` that the schedule says must be gone (``None`` if there are none)."""
    query = sql.SQL("SELECT count(*), min(t.{column}) FROM {table} AS t WHERE {condition}").format(
        column=sql.Identifier(column), table=sql.Identifier(table), condition=_condition(table, column)
    )
    row = conn.execute(query, {"before": before}).fetchone()
    if row is None or not row[0]:
        return None
    return Overdue(table, int(row[0]), row[1])


def record_run(
    conn: psycopg.Connection,
    *,
    started_at: datetime,
    finished_at: datetime,
    trigger: str,
    removed: Mapping[str, int],
    unfinished: Sequence[str],
    skipped: Mapping[str, str],
    error: str | None,
) -> int:
    with conn.transaction():
        row = conn.execute(
            """INSERT INTO retention_runs (started_at, finished_at, trigger, removed, unfinished, skipped, error)
               VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING run_id""",
            (
                started_at,
                finished_at,
                trigger,
                json.dumps(dict(removed)),
                json.dumps(list(unfinished)),
                json.dumps(dict(skipped)),
                error,
            ),
        ).fetchone()
    assert row is not None
    return int(row[0])


def recent_runs(conn: psycopg.Connection, *, limit: int) -> list[tuple[int, datetime, str, dict[str, int]]]:
    """The latest sweeps, newest first: (run id, start, trigger, rows removed per table)."""
    rows = conn.execute(
        "SELECT run_id, started_at, trigger, removed FROM retention_runs ORDER BY run_id DESC LIMIT %s",
        (limit,),
    ).fetchall()
    return [(r[0], r[1], r[2], dict(r[3])) for r in rows]
