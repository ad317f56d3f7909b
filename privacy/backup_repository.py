"""All SQL of backups: consistent snapshots, table digests, emptiness, TimescaleDB restore mode, scratch databases."""

from __future__ import annotations

import psycopg
from psycopg import sql

from privacy.backup_manifest import TableDigest

__all__ = [
    "available_timescaledb_versions",
    "create_database",
    "data_key_fingerprint",
    "data_key_rows",
    "drop_database",
    "export_snapshot",
    "foreign_relations",
    "insert_data_keys",
    "normalise_session",
    "post_restore",
    "pre_restore",
    "prepare_timescaledb",
    "schema_revision",
    "server_major",
    "students_without_keys",
    "table_digests",
    "timescaledb_version",
]

# Schemas of PostgreSQL itself and of TimescaleDB's catalog: present in any
# database with the extension, so they do not make a database "non-empty".
_SYSTEM_SCHEMA_PATTERN = r"^(pg_.*|information_schema|_timescaledb_.*|timescaledb_.*|toolkit_experimental)$"


def normalise_session(conn: psycopg.Connection) -> None:
    """Fix every setting that changes a row's text form, so digests compare across servers."""
    for statement in (
        "SET TIME ZONE 'UTC'",
        "SET DateStyle = 'ISO, YMD'",
        "SET IntervalStyle = 'postgres'",
        "SET extra_float_digits = 3",
        "SET bytea_output = 'hex'",
    ):
        conn.execute(statement)


def export_snapshot(conn: psycopg.Connection) -> str:
    """Start a read-only repeatable-read transaction and export its snapshot for ``pg_dump --snapshot``."""
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    row = conn.execute("SELECT pg_export_snapshot()").fetchone()
    assert row is not None
    return str(row[0])


def server_major(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT current_setting('server_version_num')::int / 10000").fetchone()
    assert row is not None
    return int(row[0])


def timescaledb_version(conn: psycopg.Connection) -> str | None:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    return str(row[0]) if row else None


def schema_revision(conn: psycopg.Connection) -> str | None:
    exists = conn.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else None


def table_digests(conn: psycopg.Connection, tables: list[str]) -> dict[str, TableDigest]:
    """Row count and order-independent content checksum of each table (a full scan of each)."""
    out: dict[str, TableDigest] = {}
    for name in tables:
        schema, _, table = name.rpartition(".")
        ident = sql.Identifier(schema or "public", table)
        row = conn.execute(
            sql.SQL(
                """SELECT count(*),
                          coalesce(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint::numeric), 0)::text
                   FROM {} AS t"""
            ).format(ident)
        ).fetchone()
        assert row is not None
        out[name] = TableDigest(int(row[0]), str(row[1]))
    return out


def foreign_relations(conn: psycopg.Connection) -> list[str]:
    """Tables, views and sequences outside system schemas that no extension owns (empty: an empty database)."""
    rows = conn.execute(
        """SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname !~ %s
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                             AND d.objid = c.oid AND d.deptype = 'e')
           ORDER BY 1""",
        (_SYSTEM_SCHEMA_PATTERN,),
    ).fetchall()
    return [r[0] for r in rows]


def available_timescaledb_versions(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT version FROM pg_available_extension_versions WHERE name = 'timescaledb'"
    ).fetchall()
    return {r[0] for r in rows}


def prepare_timescaledb(conn: psycopg.Connection, version: str) -> None:
    """Create the extension at exactly ``version`` (an archive restores only into the version that made it)."""
    conn.execute(
        sql.SQL("CREATE EXTENSION IF NOT EXISTS timescaledb VERSION {}").format(sql.Literal(version))
    )


def pre_restore(conn: psycopg.Connection) -> None:
    conn.execute("SELECT timescaledb_pre_restore()")


def post_restore(conn: psycopg.Connection) -> None:
    conn.execute("SELECT timescaledb_post_restore()")


def create_database(conn: psycopg.Connection, name: str) -> None:
    """An empty database (from template0, so nothing from template1 comes with it)."""
    conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))


def drop_database(conn: psycopg.Connection, name: str) -> None:
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _has_table(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"public.{name}",)).fetchone()
    return bool(row and row[0])


def data_key_fingerprint(conn: psycopg.Connection) -> str:
    """Changes whenever a data key is added, destroyed or re-wrapped."""
    if not _has_table(conn, "student_data_keys"):
        return "absent"
    row = conn.execute(
        """SELECT count(*) || ':' || coalesce(md5(string_agg(
                  student_id::text || ':' || encode(wrapped, 'hex') || ':' || master_key_id, ',' ORDER BY student_id)), '')
           FROM student_data_keys"""
    ).fetchone()
    assert row is not None
    return str(row[0])


def data_key_rows(conn: psycopg.Connection) -> list[dict[str, str | None]]:
    if not _has_table(conn, "student_data_keys"):
        return []
    rows = conn.execute(
        """SELECT student_id::text, encode(wrapped, 'hex'), master_key_id, created_at, rewrapped_at
           FROM student_data_keys ORDER BY student_id"""
    ).fetchall()
    return [
        {
            "student_id": sid,
            "wrapped": wrapped,
            "master_key_id": master,
            "created_at": created.isoformat(),
            "rewrapped_at": rewrapped.isoformat() if rewrapped else None,
        }
        for sid, wrapped, master, created, rewrapped in rows
    ]


def insert_data_keys(conn: psycopg.Connection, rows: list[dict[str, str | None]]) -> int:
    """Put stored keys back for the students the restored database has; returns how many."""
    if not rows or not _has_table(conn, "student_data_keys"):
        return 0
    cur = conn.execute(
        """INSERT INTO student_data_keys (student_id, wrapped, master_key_id, created_at, rewrapped_at)
           SELECT k.student_id, decode(k.wrapped, 'hex'), k.master_key_id, k.created_at, k.rewrapped_at
           FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::timestamptz[], %s::timestamptz[])
                AS k(student_id, wrapped, master_key_id, created_at, rewrapped_at)
           WHERE EXISTS (SELECT 1 FROM students s WHERE s.student_id = k.student_id)
           ON CONFLICT (student_id) DO NOTHING""",
        (
            [r["student_id"] for r in rows],
            [r["wrapped"] for r in rows],
            [r["master_key_id"] for r in rows],
            [r["created_at"] for r in rows],
            [r["rewrapped_at"] for r in rows],
        ),
    )
    return cur.rowcount


def students_without_keys(conn: psycopg.Connection) -> int:
    """Students whose encrypted fields have no data key (shredded): those fields can never be read."""
    if not _has_table(conn, "student_personal"):
        return 0
    row = conn.execute(
        """SELECT count(DISTINCT p.student_id) FROM student_personal p
           WHERE NOT EXISTS (SELECT 1 FROM student_data_keys k WHERE k.student_id = p.student_id)"""
    ).fetchone()
    return int(row[0]) if row else 0
