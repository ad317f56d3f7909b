"""Breach support (orchestration): scan the audit log, publish findings after commit, keep breach records.

:func:`scan` reads the audit entries written since the last scan (with one
bulk window of earlier entries as context), runs :func:`privacy.breach.detect`
and stores new findings, all in one transaction that also advances the scan
position. Findings are an outbox: :func:`publish_pending` publishes every
finding not yet published on ``campus/v1/{site}/alerts/privacy`` (QoS 1) and
marks it published only once the broker has acknowledged it, so a broker
outage delays an alert but never loses it.

Opening, notifying and closing a breach are audited (``breach.*`` actions).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg

from campus import topics
from campus.logs import get_logger
from campus.mqtt import MqttLink, broker_address
from campus.settings import Settings
from privacy import audit
from privacy import breach_repository as repo
from privacy.breach import BreachRecord, BreachStatus, DetectionPolicy, detect, regulator_deadline
from privacy.breach_repository import StoredFinding
from privacy.ops_errors import BreachError

__all__ = [
    "FINDING_EVENT",
    "close_breach",
    "finding_event",
    "open_breach",
    "policy_of",
    "publish_pending",
    "record_notification",
    "scan",
    "scan_and_publish",
]

log = get_logger(__name__)

FINDING_EVENT: Final = "privacy.finding"
# Entries read per transaction: a scan after a long pause catches up in
# bounded steps instead of one huge read.
SCAN_BATCH: Final = 20_000
# How long to wait for the broker before leaving findings for the next scan.
PUBLISH_TIMEOUT_S: Final = 5.0
_PUBLISH_BATCH: Final = 500


def policy_of(settings: Settings) -> DetectionPolicy:
    return DetectionPolicy.of(
        bulk_students=settings.breach_bulk_students,
        bulk_window_minutes=settings.breach_bulk_window_minutes,
        office_hours=settings.breach_office_hours,
        office_days=settings.breach_office_days,
        timezone=settings.breach_timezone,
    )


def scan(conn: psycopg.Connection, *, settings: Settings, now: datetime) -> list[int]:
    """Run detection over audit entries not scanned yet; returns the ids of new findings."""
    try:
        policy = policy_of(settings)
    except ValueError as exc:
        raise BreachError(f"breach detection settings: {exc}") from exc
    found: list[int] = []
    while True:
        with conn.transaction():
            after = repo.lock_scan_state(conn)
            new, earlier = repo.new_entries(
                conn, after_seq=after, limit=SCAN_BATCH, context=policy.bulk_window
            )
            if not new:
                break
            quiet = repo.quiet_until(conn, window=policy.bulk_window)
            findings = detect([*earlier, *new], policy, after_seq=after, quiet_until=quiet)
            found += repo.insert_findings(conn, findings, detected_at=now)
            repo.save_scan_state(conn, last_seq=max(e.seq for e in new), at=now)
        if len(new) < SCAN_BATCH:
            break
    if found:
        log.warning("breach.findings", new=len(found))
    return found


def finding_event(finding: StoredFinding, *, site: str) -> bytes:
    """The alert published for a finding: counts, sequence numbers and the staff actor, never a student."""
    body: dict[str, Any] = {
        "v": 1,
        "event": FINDING_EVENT,
        "site": site,
        "finding_id": finding.finding_id,
        "rule": finding.rule,
        "actor": finding.actor,
        "actor_role": finding.actor_role,
        "students": finding.students,
        "first_seq": finding.first_seq,
        "last_seq": finding.last_seq,
        "first_at": finding.first_at.isoformat(),
        "last_at": finding.last_at.isoformat(),
        "summary": finding.summary,
    }
    return json.dumps(body, sort_keys=True).encode()


def publish_pending(
    conn: psycopg.Connection, *, settings: Settings, now: datetime, timeout_s: float = PUBLISH_TIMEOUT_S
) -> int:
    """Publish unpublished findings (after their commit); returns how many the broker acknowledged."""
    pending = repo.unpublished_findings(conn, limit=_PUBLISH_BATCH)
    if not pending:
        return 0
    topic = topics.alerts(settings.site_id, "privacy")
    link = MqttLink(broker_address(settings), client_id=f"campus-privacy-{os.getpid()}-{os.urandom(3).hex()}")
    acknowledged: list[int] = []
    with link:
        if not link.wait_connected(timeout_s):
            log.warning("breach.publish_deferred", pending=len(pending), reason="broker unreachable")
            return 0
        infos = [
            (f.finding_id, link.publish(topic, finding_event(f, site=settings.site_id), qos=1))
            for f in pending
        ]
        for finding_id, info in infos:
            try:
                info.wait_for_publish(timeout=timeout_s)
            except (RuntimeError, ValueError):
                continue
            if info.is_published():
                acknowledged.append(finding_id)
    with conn.transaction():
        repo.mark_published(conn, acknowledged, at=now)
    log.info("breach.published", findings=len(acknowledged), pending=len(pending) - len(acknowledged))
    return len(acknowledged)


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    new_findings: tuple[int, ...]
    published: int


def scan_and_publish(
    conn: psycopg.Connection, *, settings: Settings, now: datetime, timeout_s: float = PUBLISH_TIMEOUT_S
) -> ScanOutcome:
    """:func:`scan`, then :func:`publish_pending` (waiting at most ``timeout_s`` for the broker)."""
    found = scan(conn, settings=settings, now=now)
    return ScanOutcome(tuple(found), publish_pending(conn, settings=settings, now=now, timeout_s=timeout_s))


def open_breach(
    conn: psycopg.Connection,
    *,
    summary: str,
    aware_at: datetime,
    now: datetime,
    actor: str,
    actor_role: str,
    finding_ids: Sequence[int] = (),
) -> BreachRecord:
    """Record a breach; the regulator's 72-hour clock runs from ``aware_at``."""
    if not summary.strip():
        raise BreachError("a breach needs a summary of what happened")
    if aware_at > now:
        raise BreachError("the time of awareness cannot be in the future")
    with conn.transaction():
        unknown = set(finding_ids) - repo.known_findings(conn, finding_ids)
        if unknown:
            raise BreachError(f"no finding {min(unknown)}; see `campus breach findings`")
        record = repo.open_breach(
            conn,
            summary=summary.strip(),
            aware_at=aware_at,
            opened_at=now,
            opened_by=actor,
            finding_ids=finding_ids,
            regulator_deadline=regulator_deadline(aware_at),
        )
        audit.record(
            conn,
            actor=actor,
            actor_role=actor_role,
            action="breach.open",
            subject_count=0,
            detail={"breach_id": record.breach_id, "findings": len(finding_ids)},
        )
    log.warning("breach.opened", breach_id=record.breach_id, deadline=record.regulator_deadline.isoformat())
    return record


def _open_record(conn: psycopg.Connection, breach_id: int) -> BreachRecord:
    record = repo.get_breach(conn, breach_id, lock=True)
    if record is None:
        raise BreachError(f"no breach {breach_id}")
    if record.status is BreachStatus.CLOSED:
        raise BreachError(f"breach {breach_id} is already closed")
    return record


def record_notification(
    conn: psycopg.Connection,
    *,
    breach_id: int,
    regulator: bool,
    families: bool,
    at: datetime,
    actor: str,
    actor_role: str,
) -> BreachRecord:
    """Record that the regulator and/or the families were notified at ``at``."""
    if not (regulator or families):
        raise BreachError("say who was notified: the regulator, the families, or both")
    with conn.transaction():
        _open_record(conn, breach_id)
        repo.mark_notified(
            conn, breach_id, regulator_at=at if regulator else None, families_at=at if families else None
        )
        audit.record(
            conn,
            actor=actor,
            actor_role=actor_role,
            action="breach.notify",
            subject_count=0,
            detail={"breach_id": breach_id, "regulator": regulator, "families": families},
        )
        record = repo.get_breach(conn, breach_id)
    assert record is not None
    return record


def close_breach(
    conn: psycopg.Connection, *, breach_id: int, note: str, now: datetime, actor: str, actor_role: str
) -> BreachRecord:
    """Close a breach with a note of how it was handled."""
    if not note.strip():
        raise BreachError("closing a breach needs a note of how it was handled")
    with conn.transaction():
        _open_record(conn, breach_id)
        repo.close_breach(conn, breach_id, at=now, by=actor, note=note.strip())
        audit.record(
            conn,
            actor=actor,
            actor_role=actor_role,
            action="breach.close",
            subject_count=0,
            detail={"breach_id": breach_id},
        )
        record = repo.get_breach(conn, breach_id)
    assert record is not None
    log.info("breach.closed", breach_id=breach_id)
    return record
