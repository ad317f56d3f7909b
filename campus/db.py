"""Database connections and migrations.

The application speaks psycopg 3 directly; SQL lives in each package's
``repository.py``. Schema changes are Alembic migrations under
``campus/migrations/versions`` (timestamped, plain SQL through ``op.execute``,
which is how TimescaleDB DDL such as ``create_hypertable`` is written).
Alembic was chosen because it is the maintained standard for PostgreSQL
schemas in Python, records the applied revision in the database, and runs the
same migrations in tests, set-up and production.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

__all__ = ["DatabaseError", "MigrationStatus", "connect", "migrate", "migration_status", "timescaledb_info"]

_MIGRATIONS = Path(__file__).with_name("migrations")


class DatabaseError(RuntimeError):
    """The database cannot be reached or is not in the state the platform needs."""


def connect(dsn: str, *, autocommit: bool = False, application_name: str = "campus") -> psycopg.Connection:
    """Open a connection, mapping connection failures to :class:`DatabaseError`."""
    try:
        return psycopg.connect(
            dsn, autocommit=autocommit, application_name=application_name, connect_timeout=5
        )
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot connect to the database: {str(exc).strip().splitlines()[0]}") from exc


def _alembic_config(dsn: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    # '%' is an interpolation character in Alembic's config parser.
    config.set_main_option("sqlalchemy.url", _sqlalchemy_url(dsn).replace("%", "%%"))
    return config


def _sqlalchemy_url(dsn: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql+psycopg://" + dsn[len(prefix) :]
    raise DatabaseError("database_url must be a postgresql:// URL")


def migrate(dsn: str, *, revision: str = "head") -> None:
    """Apply every migration up to ``revision``."""
    command.upgrade(_alembic_config(dsn), revision)


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    current: str | None
    head: str
    pending: tuple[str, ...]

    @property
    def up_to_date(self) -> bool:
        return not self.pending


def migration_status(dsn: str) -> MigrationStatus:
    config = _alembic_config(dsn)
    scripts = ScriptDirectory.from_config(config)
    head = scripts.get_current_head()
    if head is None:
        raise DatabaseError("no migrations found")
    engine = create_engine(_sqlalchemy_url(dsn))
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except Exception as exc:
        raise DatabaseError(f"cannot read the migration state: {exc}") from exc
    finally:
        engine.dispose()
    pending = tuple(
        rev.revision for rev in reversed(list(scripts.iterate_revisions(head, current or "base")))
    )
    return MigrationStatus(current=current, head=head, pending=pending)


def timescaledb_info(conn: psycopg.Connection) -> tuple[str | None, str | None]:
    """Return (installed extension version, licence edition), each ``None`` if absent."""
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    if row is None:
        return None, None
    license_row = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    return row[0], license_row[0] if license_row else None
