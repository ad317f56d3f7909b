"""Retention sweeps and the retention check (orchestration over :mod:`privacy.retention_repository`).

- :func:`sweep` removes what the schedule says has expired: ``drop_chunks`` on
  hypertables (whole chunks; TimescaleDB's own ``add_retention_policy`` is
  also registered where ``timescaledb.license`` is ``timescale``: the Apache
  build has no job scheduler policies), bounded ``DELETE`` batches elsewhere,
  each in its own short transaction with a lock timeout, and at most
  :data:`MAX_BATCHES_PER_TABLE` per table per sweep. Each sweep is recorded in
  ``retention_runs`` as counts per table, never content.
- :func:`check` proves the schedule holds: it fails on any row older than its
  window plus the stated lateness, on any table without a rule, and on a
  hypertable whose chunks are larger than the published bound.
- :func:`run_sweeper` is the long-running loop ``campus up`` runs: pending
  erasures (part A's ``privacy.erasure.run_pending_erasures``) and the
  data-key store refresh every ``erasure_poll_interval_s``, a sweep every
  ``retention_sweep_interval_s``, a breach scan every
  ``breach_scan_interval_s``; a database outage is logged and retried with
  backoff, never fatal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import psycopg

from campus import db
from campus.logs import get_logger
from campus.mqtt import Backoff
from campus.settings import Settings
from privacy import audit, erasure
from privacy import retention_repository as repo
from privacy.backup_keys import refresh_data_keys
from privacy.retention import (
    PRESENCE_CHUNK_INTERVAL,
    Method,
    RetentionRule,
    cutoff,
    droppable_chunks,
    humanize,
    max_lateness,
    overdue_before,
    schedule,
    unregistered_tables,
)

__all__ = [
    "MAX_BATCHES_PER_TABLE",
    "CheckReport",
    "SweepReport",
    "Trigger",
    "check",
    "run_sweeper",
    "sweep",
]

log = get_logger(__name__)

# A sweep ends in bounded time even after a long outage; what is left is
# recorded as unfinished and goes in the next sweep.
MAX_BATCHES_PER_TABLE = 200


class Trigger(StrEnum):
    COMMAND = "command"
    SCHEDULER = "scheduler"


@dataclass(frozen=True, slots=True)
class SweepReport:
    run_id: int
    started_at: datetime
    finished_at: datetime
    removed: dict[str, int]
    unfinished: tuple[str, ...]
    skipped: dict[str, str]

    @property
    def failed(self) -> tuple[str, ...]:
        """Tables the sweep could not sweep because of a database error (not a lock wait)."""
        return tuple(sorted(t for t, why in self.skipped.items() if why.startswith("failed")))

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "removed": self.removed,
            "unfinished": list(self.unfinished),
            "skipped": self.skipped,
        }


def _lateness(settings: Settings, chunk: timedelta | None) -> timedelta:
    return max_lateness(
        chunk_interval=chunk, sweep_interval=timedelta(seconds=settings.retention_sweep_interval_s)
    )


def _sweep_chunks(conn: psycopg.Connection, rule: RetentionRule, limit: datetime, licence: str | None) -> int:
    assert rule.table is not None and rule.age_column is not None and rule.window is not None
    if licence == "timescale":
        repo.ensure_retention_policy(conn, table=rule.table, window=rule.window)
    expired = droppable_chunks(repo.list_chunks(conn, rule.table), limit)
    return repo.drop_chunks(conn, table=rule.table, column=rule.age_column, chunks=expired)


def _sweep_rows(
    conn: psycopg.Connection, rule: RetentionRule, limit: datetime, *, batch: int, max_batches: int
) -> tuple[int, bool]:
    """Bounded batches; returns (rows removed, whether expired rows are left)."""
    assert rule.table is not None and rule.age_column is not None
    total = 0
    for _ in range(max_batches):
        n = repo.delete_batch(conn, table=rule.table, column=rule.age_column, before=limit, limit=batch)
        total += n
        if n < batch:
            return total, False
    return total, True


def sweep(
    conn: psycopg.Connection,
    *,
    settings: Settings,
    now: datetime,
    trigger: Trigger = Trigger.COMMAND,
    max_batches: int = MAX_BATCHES_PER_TABLE,
) -> SweepReport:
    """Remove every expired row once and record the run. ``conn`` must be in autocommit mode.

    At most ``max_batches`` batches of ``retention_batch_rows`` per table: what
    is left is listed in ``unfinished`` and goes in the next sweep.
    """
    started = datetime.now(UTC)
    tables = set(repo.list_tables(conn))
    chunked = repo.hypertables(conn)
    licence = repo.timescaledb_license(conn)
    removed: dict[str, int] = {}
    unfinished: list[str] = []
    skipped: dict[str, str] = {}
    for rule in schedule(settings):
        if rule.table is None or rule.window is None or rule.method is Method.LIFETIME:
            continue
        if rule.table not in tables:
            skipped[rule.table] = "table does not exist"
            continue
        limit = cutoff(now, rule.window)
        try:
            if rule.method is Method.AUDIT_PREFIX:
                # Append-only by trigger: old entries leave only through part
                # A's audit_remove_prefix(), which records the new anchor.
                removed[rule.table] = audit.remove_prefix(conn, before=limit)
            elif rule.method is Method.DROP_CHUNKS and rule.table in chunked:
                removed[rule.table] = _sweep_chunks(conn, rule, limit, licence)
            else:
                count, left = _sweep_rows(
                    conn, rule, limit, batch=settings.retention_batch_rows, max_batches=max_batches
                )
                removed[rule.table] = count
                if left:
                    unfinished.append(rule.table)
        except psycopg.errors.LockNotAvailable:
            skipped[rule.table] = f"lock not granted within {repo.LOCK_TIMEOUT}; retried next sweep"
        except psycopg.OperationalError:
            raise  # the connection is gone: the caller retries the whole sweep
        except psycopg.DatabaseError as exc:
            # One table's failure (a changed schema, say) must not stop the others; SQLSTATE only,
            # since a database message can quote row values.
            skipped[rule.table] = f"failed (SQLSTATE {exc.sqlstate})"
    failed = sorted(t for t, why in skipped.items() if why.startswith("failed"))
    finished = datetime.now(UTC)
    run_id = repo.record_run(
        conn,
        started_at=started,
        finished_at=finished,
        trigger=trigger,
        removed=removed,
        unfinished=unfinished,
        skipped=skipped,
        error=f"failed: {', '.join(failed)}" if failed else None,
    )
    log.info(
        "retention.swept",
        run_id=run_id,
        rows=sum(removed.values()),
        tables=len(removed),
        unfinished=len(unfinished),
        ms=int((finished - started).total_seconds() * 1000),
    )
    return SweepReport(run_id, started, finished, removed, tuple(unfinished), skipped)


@dataclass(frozen=True, slots=True)
class TableStatus:
    """One rule's standing: its window, the lateness allowed, and rows past both."""

    kind: str
    table: str | None
    window: timedelta | None
    lateness: timedelta | None
    overdue_rows: int = 0
    oldest_age: timedelta | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class CheckReport:
    statuses: tuple[TableStatus, ...]
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": list(self.problems),
            "tables": [
                {
                    "kind": s.kind,
                    "table": s.table,
                    "window_s": s.window.total_seconds() if s.window else None,
                    "lateness_s": s.lateness.total_seconds() if s.lateness else None,
                    "overdue_rows": s.overdue_rows,
                    "oldest_age_s": s.oldest_age.total_seconds() if s.oldest_age else None,
                    "note": s.note,
                }
                for s in self.statuses
            ],
        }


def _check_rule(
    conn: psycopg.Connection, rule: RetentionRule, *, settings: Settings, now: datetime, chunked: set[str]
) -> tuple[TableStatus, list[str]]:
    assert rule.table is not None and rule.window is not None and rule.age_column is not None
    problems: list[str] = []
    chunk = None
    if rule.method is Method.DROP_CHUNKS:
        chunk = repo.chunk_interval(conn, rule.table) if rule.table in chunked else None
        if chunk is None:
            problems.append(f"{rule.table}: not a hypertable, so drop_chunks cannot remove it")
        elif chunk > PRESENCE_CHUNK_INTERVAL:
            problems.append(
                f"{rule.table}: chunk interval {humanize(chunk)} exceeds the published bound "
                f"{humanize(PRESENCE_CHUNK_INTERVAL)}; rows could outlive their window by that much"
            )
    lateness = _lateness(settings, chunk)
    found = repo.overdue_rows(
        conn, table=rule.table, column=rule.age_column, before=overdue_before(now, rule.window, lateness)
    )
    if found is None:
        return TableStatus(rule.kind, rule.table, rule.window, lateness), problems
    age = now - found.oldest
    problems.append(
        f"{rule.table}: {found.rows} rows older than {humanize(rule.window)} + {humanize(lateness)}; "
        f"oldest is {_age(age)} old"
    )
    return TableStatus(rule.kind, rule.table, rule.window, lateness, found.rows, age), problems


def _age(age: timedelta) -> str:
    """An age to read at a glance: whole days past two days, else whole minutes."""
    if age >= timedelta(days=2):
        return humanize(timedelta(days=age.days))
    return humanize(timedelta(minutes=int(age.total_seconds() // 60)))


def check(conn: psycopg.Connection, *, settings: Settings, now: datetime) -> CheckReport:
    """Whether every table keeps to the schedule; ``problems`` names each table that does not."""
    rules = schedule(settings)
    tables = repo.list_tables(conn)
    present = set(tables)
    chunked = repo.hypertables(conn)
    statuses: list[TableStatus] = []
    problems = [
        f"{t}: no retention rule (add one to privacy.retention.schedule, or list it in CONFIG_TABLES)"
        for t in unregistered_tables(tables, rules)
    ]
    for rule in rules:
        if rule.table is None:
            statuses.append(TableStatus(rule.kind, None, rule.window, None, note="no table yet"))
        elif rule.table not in present:
            statuses.append(
                TableStatus(rule.kind, rule.table, rule.window, None, note="table does not exist")
            )
        elif rule.method is Method.LIFETIME or rule.window is None:
            statuses.append(
                TableStatus(rule.kind, rule.table, None, None, note="kept for the record's lifetime")
            )
        else:
            status, found = _check_rule(conn, rule, settings=settings, now=now, chunked=chunked)
            statuses.append(status)
            problems.extend(found)
    return CheckReport(tuple(statuses), tuple(problems))


def _breach_scan(settings: Settings, conn: psycopg.Connection, now: datetime) -> None:
    from privacy import breach_service

    breach_service.scan_and_publish(conn, settings=settings, now=now)


def _tasks(settings: Settings) -> list[tuple[str, float, Callable[[psycopg.Connection, datetime], object]]]:
    """(name, interval in seconds, task) for everything the sweeper runs."""
    return [
        # Part A's second erasure passes after a withdrawal (stated target: 15 minutes).
        (
            "erasure",
            settings.erasure_poll_interval_s,
            lambda c, now: erasure.run_pending_erasures(c, now=now),
        ),
        # Shredded data keys leave the data-key store too (see privacy.backup_keys).
        ("data_keys", settings.erasure_poll_interval_s, lambda c, _now: refresh_data_keys(c, settings)),
        (
            "sweep",
            settings.retention_sweep_interval_s,
            lambda c, now: sweep(c, settings=settings, now=now, trigger=Trigger.SCHEDULER),
        ),
        ("breach_scan", settings.breach_scan_interval_s, lambda c, now: _breach_scan(settings, c, now)),
    ]


def run_sweeper(settings: Settings, stop: threading.Event) -> None:
    """Erasures, retention sweeps and breach scans on their own intervals until ``stop`` is set.

    A database outage is retried with jittered backoff. A task that fails
    otherwise is logged and retried at its next interval; it never stops the
    other tasks or the loop.
    """
    tasks = _tasks(settings)
    due = dict.fromkeys((name for name, _, _ in tasks), 0.0)
    backoff = Backoff(base_s=1.0, cap_s=60.0)
    log.info("retention.sweeper_started", every_s=settings.retention_sweep_interval_s)
    while not stop.is_set():
        try:
            with db.connect(settings.dsn, autocommit=True, application_name="campus-retention") as conn:
                for name, interval, task in tasks:
                    if stop.is_set() or time.monotonic() < due[name]:
                        continue
                    due[name] = time.monotonic() + interval
                    try:
                        task(conn, datetime.now(UTC))
                    except (db.DatabaseError, psycopg.OperationalError):
                        raise
                    except Exception as exc:  # noqa: BLE001 - one failing task must not stop the others
                        # Type only: a database message or traceback can quote row values (student ids).
                        log.error("retention.task_failed", task=name, error=type(exc).__name__)  # noqa: TRY400
            backoff.reset()
            wait = max(0.1, min(due.values()) - time.monotonic())
        except (db.DatabaseError, psycopg.OperationalError) as exc:
            wait = backoff.next()
            log.warning("retention.sweeper_failed", error=type(exc).__name__, retry_s=round(wait, 1))
        stop.wait(wait)
    log.info("retention.sweeper_stopped")
