"""The retention schedule, one for every kind of data, and its arithmetic (pure).

:func:`schedule` turns the live :class:`~campus.settings.Settings` into one
:class:`RetentionRule` per kind of data: the table it lives in, how long it is
kept, what its age is measured from, and how it is removed. ``campus
retention schedule``, ``campus retention check``, the sweeper and the data
document (``campus privacy report``) all read this one schedule.

Every table of the database is either under a rule here or listed in
:data:`CONFIG_TABLES` with the reason it holds no data that ages; ``campus
retention check`` fails on any other table, so a table added later cannot be
forgotten.

How late a row can outlive its window: a hypertable loses whole chunks, so a
row can stay up to one chunk interval past its window; every table is swept
every ``retention_sweep_interval_s``. :func:`max_lateness` adds the two, and
``campus retention check`` fails only on rows older than window + lateness.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from campus.settings import Settings

__all__ = [
    "CONFIG_TABLES",
    "DAYS_PER_YEAR",
    "PRESENCE_CHUNK_INTERVAL",
    "Chunk",
    "Method",
    "RetentionRule",
    "cutoff",
    "droppable_chunks",
    "humanize",
    "max_lateness",
    "overdue_before",
    "rule_for",
    "schedule",
    "unregistered_tables",
]

DAYS_PER_YEAR: Final = 365
# The presence hypertable's chunk interval, set by the foundation migration and
# verified against the database by `campus retention check`: it bounds how long
# a raw presence row can outlive its window.
PRESENCE_CHUNK_INTERVAL: Final = timedelta(hours=1)


class Method(StrEnum):
    """How expired rows leave a table."""

    DROP_CHUNKS = "drop_chunks"  # hypertable: whole chunks entirely older than the cutoff
    BATCHED_DELETE = "batched_delete"  # bounded DELETE batches, each its own short transaction
    AUDIT_PREFIX = "audit_prefix"  # the audit log's anchored removal of an old prefix of its chain
    LIFETIME = "lifetime"  # kept while the record it belongs to exists; goes with erasure


@dataclass(frozen=True, slots=True)
class RetentionRule:
    """How long one kind of data is kept, and where it lives.

    ``table`` is ``None`` for a kind of data whose table does not exist yet
    (its window is already settled and published). ``age_column`` names the
    column the age is measured from; ``window`` is ``None`` for
    :attr:`Method.LIFETIME` rules.
    """

    kind: str
    table: str | None
    method: Method
    window: timedelta | None
    age_column: str | None
    measured_from: str
    setting: str | None
    reason: str


# Tables that hold configuration or a single piece of process state, never a
# history that ages: they are exempt from retention, each for the reason given.
CONFIG_TABLES: Final[dict[str, str]] = {
    "alembic_version": "the applied schema revision",
    "sites": "the schools served (configuration)",
    "zones": "the geofences of each site (configuration)",
    "gateways": "enrolled reader gateways and their public keys (configuration)",
    "zone_schedules": "when each zone is allowed or restricted (configuration)",
    "site_georeferences": "where each site's local frame sits on the globe (configuration)",
    "consent_purposes": "the purposes families can consent to, with their lawful basis (configuration)",
    "audit_chain": "the audit log's chain head: last sequence number and hash (one row)",
    "privacy_scan_state": "where the breach scan stopped in the audit log (one row)",
}


def _days(settings: Settings, name: str) -> timedelta:
    value = getattr(settings, name)
    if not isinstance(value, int):
        raise TypeError(f"setting {name} is not a number of days")
    return timedelta(days=value)


def schedule(settings: Settings) -> tuple[RetentionRule, ...]:
    """The retention schedule for these settings, one rule per kind of data."""

    def timed(  # noqa: PLR0917 - the schedule below reads as a table, one rule per row
        kind: str, table: str | None, method: Method, column: str, setting: str, measured: str, reason: str
    ) -> RetentionRule:
        return RetentionRule(kind, table, method, _days(settings, setting), column, measured, setting, reason)

    def lifetime(
        kind: str, table: str, reason: str, kept_while: str = "the student is enrolled"
    ) -> RetentionRule:
        return RetentionRule(kind, table, Method.LIFETIME, None, None, kept_while, None, reason)

    drop, delete = Method.DROP_CHUNKS, Method.BATCHED_DELETE
    return (
        timed("raw presence samples", "presence", drop, "time", "retention_presence_days", "sample time",
              "live rosters and short look-backs only"),
        timed("current whereabouts", "presence_current", delete, "updated_at", "retention_presence_days",
              "last change", "never kept longer than the raw samples it summarises"),
        timed("zone transitions", "zone_transitions", delete, "time", "retention_transitions_days",
              "transition time", "incident review and attendance corrections"),
        timed("door taps (attendance evidence)", "attendance_taps", delete, "time",
              "retention_attendance_taps_days", "tap time", "evidence while marks can still be corrected"),
        timed("attendance marks", None, delete, "time", "retention_attendance_days", "session date",
              "statutory attendance register"),
        timed("alerts", None, delete, "time", "retention_alerts_days", "alert time",
              "safeguarding review of the school year"),
        timed("evacuation reports", None, delete, "time", "retention_evacuation_days", "evacuation time",
              "fire-safety inspections"),
        RetentionRule("audit log", "audit_log", Method.AUDIT_PREFIX, _days(settings, "retention_audit_days"),
                      "at", "entry time", "retention_audit_days",
                      "answer families and regulators within the limitation period"),
        timed("consent history", "consent_events", delete, "recorded_at", "retention_consent_history_days",
              "end of the consent", "proof of consent while a claim is possible"),
        lifetime("current consent", "consents", "needed while the student is enrolled; erased with the student"),
        timed("students (pseudonymous)", "students", delete, "erased_at", "retention_consent_history_days",
              "erasure (enrolled students are kept)",
              "after erasure, the pseudonymous anchor of records kept by law, as long as the longest of them"),
        timed("badges", "badges", delete, "revoked_at", "retention_operations_days",
              "revocation (issued badges are kept)", "explains late sightings of a revoked badge"),
        lifetime("personal fields (encrypted)", "student_personal",
                 "name, date of birth and guardians' contacts while enrolled; erased with the student"),
        lifetime("student data keys", "student_data_keys",
                 "open the personal fields; destroyed on erasure (crypto-shredding), never in archives"),
        lifetime("pending erasures", "pending_erasures",
                 "erasure work queue: each entry is removed when its erasure has run",
                 "the erasure is pending"),
        lifetime("audit log subjects", "audit_subjects",
                 "the students a bulk audit entry touched; removed with their entry",
                 "its audit entry is kept"),
        lifetime("audit log anchors", "audit_anchors",
                 "one row per removal of old audit entries: proof the chain was shortened, not cut",
                 "the audit log is kept"),
        timed("rejected messages", "dead_letters", delete, "received_at", "retention_dead_letters_days",
              "receipt", "diagnosis of faulty gateways"),
        timed("ingest ledger", "ingest_batches", delete, "committed_at", "retention_operations_days",
              "commit", "de-duplication of late redeliveries"),
        timed("gateway progress", "gateway_progress", delete, "updated_at", "retention_operations_days",
              "last update", "acknowledgement state of each gateway boot"),
        timed("site progress", "site_progress", delete, "updated_at", "retention_operations_days",
              "last update", "resumption point of each site's tracker"),
        timed("gateway status", "gateway_status", delete, "received_at", "retention_operations_days",
              "last status", "operational status of gateways"),
        timed("service heartbeats", "service_heartbeats", delete, "seen_at", "retention_operations_days",
              "last heartbeat", "operational status of services"),
        timed("retention sweep records", "retention_runs", delete, "started_at", "retention_records_days",
              "sweep time", "proof that sweeps ran and what they removed (counts only)"),
        timed("breach detection findings", "privacy_findings", delete, "detected_at",
              "retention_records_days", "detection", "investigation of unusual access"),
        timed("breach records", "breaches", delete, "closed_at", "retention_breaches_days", "closure",
              "accountability for breaches and their handling"),
    )  # fmt: skip


def rule_for(rules: Iterable[RetentionRule], table: str) -> RetentionRule | None:
    """The rule governing ``table``, or ``None`` if no rule names it."""
    return next((r for r in rules if r.table == table), None)


def unregistered_tables(tables: Iterable[str], rules: Iterable[RetentionRule]) -> list[str]:
    """Tables that are neither under a rule nor documented configuration, sorted."""
    known = {r.table for r in rules if r.table is not None} | set(CONFIG_TABLES)
    return sorted(set(tables) - known)


def cutoff(now: datetime, window: timedelta) -> datetime:
    """Rows older than this (strictly earlier) are past their window."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if window <= timedelta(0):
        raise ValueError("a retention window must be positive")
    return now - window


@dataclass(frozen=True, slots=True)
class Chunk:
    """One hypertable chunk: it holds rows with ``start <= time < end``."""

    name: str
    start: datetime
    end: datetime


def droppable_chunks(chunks: Sequence[Chunk], limit: datetime) -> list[Chunk]:
    """Chunks whose every row is older than ``limit`` (``drop_chunks(older_than => limit)``)."""
    return [c for c in chunks if c.end <= limit]


def max_lateness(*, chunk_interval: timedelta | None, sweep_interval: timedelta) -> timedelta:
    """How long past its window a row can survive: one chunk (if chunked) plus one sweep interval."""
    return (chunk_interval or timedelta(0)) + sweep_interval


def overdue_before(now: datetime, window: timedelta, lateness: timedelta) -> datetime:
    """Rows earlier than this break the schedule's promise (``campus retention check`` fails)."""
    return cutoff(now, window) - lateness


_UNITS: Final = (
    (timedelta(days=DAYS_PER_YEAR), "year"),
    (timedelta(weeks=1), "week"),
    (timedelta(days=1), "day"),
    (timedelta(hours=1), "hour"),
    (timedelta(minutes=1), "minute"),
    (timedelta(seconds=1), "second"),
)


def humanize(span: timedelta) -> str:
    """``7 days``, ``4 weeks``, ``6 years``, ``1 hour 15 minutes``: exact, largest units first."""
    if span < timedelta(0):
        raise ValueError("a span must not be negative")
    if span == timedelta(0):
        return "0 seconds"
    # A span that is a whole number of days is shown in one unit (years, weeks or days).
    if span % timedelta(days=1) == timedelta(0):
        for unit, name in _UNITS[:3]:
            if span % unit == timedelta(0):
                count = span // unit
                return f"{count} {name}{'s' if count != 1 else ''}"
    parts = []
    rest = span
    for unit, name in _UNITS[2:]:
        count, rest = divmod(rest, unit)
        if count:
            parts.append(f"{count} {name}{'s' if count != 1 else ''}")
    return " ".join(parts) if parts else "less than a second"
