"""The audit log: one mechanism for every read and change of personal data (CLI now, the API later).

    seq = audit.record(conn, actor="j.smith", actor_role="front_office", action="personal.read",
                       student_id=sid, purpose="phone call from guardian")

or, with the actor bound once (what a CLI command or an API request holds)::

    who = AuditActor("j.smith", Role.FRONT_OFFICE)
    who.record(conn, action="presence.roster_read", subjects=student_ids)

An entry is written in the caller's transaction, so it commits (or rolls
back) with the read or change it records. Appends are serialised on the
chain head row; keep transactions that audit short. ``detail`` carries small
facts (counts, field names, formats), never names, card numbers or content.

Actions in use (dotted, ``domain.verb``): ``personal.create``,
``personal.read``, ``consent.change``, ``consent.read``, ``erasure.location``,
``erasure.purpose``, ``erasure.student``, ``export.subject``, ``audit.read``,
``audit.prefix_removed``, ``keys.rotate``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import psycopg

from privacy import audit_repository as repo
from privacy.audit_chain import (
    GENESIS_HASH,
    ChainLink,
    VerifyResult,
    canonical,
    check_detail,
    entry_hash,
    verify_links,
)
from privacy.errors import AuditError
from privacy.models import AuditEntry, Role

__all__ = ["AuditActor", "VerifyResult", "record", "remove_prefix", "verify", "who_accessed"]

_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
MAX_ACTOR_CHARS: Final = 200
MAX_PURPOSE_CHARS: Final = 500
# The detail key under which a bulk entry commits to its list of students.
SUBJECTS_KEY: Final = "subjects"


def _subjects_digest(subjects: Sequence[UUID]) -> str:
    return hashlib.sha256(b"".join(s.bytes for s in sorted(set(subjects)))).hexdigest()


def _prepare(
    *,
    actor: str,
    actor_role: str,
    action: str,
    student_id: UUID | None,
    subject_count: int | None,
    purpose: str | None,
    detail: Mapping[str, Any] | None,
    subjects: Sequence[UUID],
) -> tuple[dict[str, Any], int, tuple[UUID, ...]]:
    if not actor.strip() or len(actor) > MAX_ACTOR_CHARS or "\x00" in actor:
        raise AuditError(f"the actor must be 1 to {MAX_ACTOR_CHARS} characters")
    if actor_role not in set(Role):
        raise AuditError(f"unknown actor role {actor_role!r}: one of {', '.join(Role)}")
    if not _ACTION.match(action):
        raise AuditError(f"action {action!r} is not dotted lower-case (like personal.read)")
    if purpose is not None and (len(purpose) > MAX_PURPOSE_CHARS or "\x00" in purpose):
        raise AuditError(f"the purpose must be at most {MAX_PURPOSE_CHARS} characters")
    body = dict(detail or {})
    if SUBJECTS_KEY in body:
        raise AuditError(f"detail key {SUBJECTS_KEY!r} is reserved for the subjects list")
    try:
        check_detail(body)
    except (TypeError, ValueError) as exc:
        raise AuditError(str(exc)) from exc
    unique = tuple(sorted(set(subjects)))
    if unique:
        body[SUBJECTS_KEY] = {"count": len(unique), "sha256": _subjects_digest(unique)}
    count = subject_count if subject_count is not None else (len(unique) or 1)
    if count < 0:
        raise AuditError("subject_count cannot be negative")
    return body, count, unique


def record(
    conn: psycopg.Connection,
    *,
    actor: str,
    actor_role: str,
    action: str,
    student_id: UUID | None = None,
    subject_count: int | None = None,
    purpose: str | None = None,
    detail: Mapping[str, Any] | None = None,
    at: datetime | None = None,
    subjects: Sequence[UUID] = (),
) -> int:
    """Append one entry in the caller's transaction; return its seq.

    ``subjects`` lists the students a bulk action touched (each then finds it
    in :func:`who_accessed`); ``subject_count`` defaults to their number, or 1.
    ``at`` defaults to the database's clock.
    """
    body, count, unique = _prepare(
        actor=actor,
        actor_role=actor_role,
        action=action,
        student_id=student_id,
        subject_count=subject_count,
        purpose=purpose,
        detail=detail,
        subjects=subjects,
    )
    if at is not None and at.tzinfo is None:
        raise AuditError("audit times must be timezone-aware")
    with conn.transaction():
        last_seq, last_hash, db_now = repo.lock_head(conn)
        when = at or db_now
        seq = last_seq + 1
        digest = entry_hash(
            last_hash,
            canonical(
                seq=seq,
                at=when,
                actor=actor,
                actor_role=str(actor_role),
                action=action,
                purpose=purpose,
                student_id=student_id,
                subject_count=count,
                detail=body,
            ),
        )
        repo.insert(
            conn,
            [
                AuditEntry(
                    seq,
                    when,
                    actor,
                    str(actor_role),
                    action,
                    purpose,
                    student_id,
                    count,
                    body,
                    last_hash,
                    digest,
                    unique,
                )
            ],
        )
    return seq


def record_each(
    conn: psycopg.Connection,
    *,
    actor: str,
    actor_role: str,
    action: str,
    student_ids: Sequence[UUID],
    purpose: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> list[int]:
    """One entry per student (a change made to each, e.g. bulk consent provisioning); one round trip each way."""
    body, _, _ = _prepare(
        actor=actor,
        actor_role=actor_role,
        action=action,
        student_id=None,
        subject_count=1,
        purpose=purpose,
        detail=detail,
        subjects=(),
    )
    if not student_ids:
        return []
    with conn.transaction():
        last_seq, last_hash, when = repo.lock_head(conn)
        rows = []
        for offset, student_id in enumerate(student_ids, start=1):
            seq = last_seq + offset
            digest = entry_hash(
                last_hash,
                canonical(
                    seq=seq,
                    at=when,
                    actor=actor,
                    actor_role=str(actor_role),
                    action=action,
                    purpose=purpose,
                    student_id=student_id,
                    subject_count=1,
                    detail=body,
                ),
            )
            rows.append(
                AuditEntry(
                    seq, when, actor, str(actor_role), action, purpose, student_id, 1, body, last_hash, digest
                )
            )
            last_hash = digest
        repo.insert(conn, rows)
    return [r.seq for r in rows]


@dataclass(frozen=True, slots=True)
class AuditActor:
    """Who is acting (a CLI user, an API session, a service), bound once and passed down."""

    name: str
    role: Role

    def record(
        self,
        conn: psycopg.Connection,
        *,
        action: str,
        student_id: UUID | None = None,
        subject_count: int | None = None,
        purpose: str | None = None,
        detail: Mapping[str, Any] | None = None,
        subjects: Sequence[UUID] = (),
    ) -> int:
        return record(
            conn,
            actor=self.name,
            actor_role=self.role,
            action=action,
            student_id=student_id,
            subject_count=subject_count,
            purpose=purpose,
            detail=detail,
            subjects=subjects,
        )


def _link(row: AuditEntry) -> ChainLink:
    text = canonical(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        actor_role=row.actor_role,
        action=row.action,
        purpose=row.purpose,
        student_id=row.student_id,
        subject_count=row.subject_count,
        detail=row.detail,
    )
    claimed = row.detail.get(SUBJECTS_KEY) if isinstance(row.detail, dict) else None
    stored = list(row.subjects)
    if claimed is None:
        subjects_ok = not stored
    else:
        subjects_ok = (
            isinstance(claimed, dict)
            and claimed.get("count") == len(stored)
            and claimed.get("sha256") == _subjects_digest(stored)
        )
    return ChainLink(row.seq, text, bytes(row.prev_hash), bytes(row.hash), subjects_ok)


def verify(conn: psycopg.Connection) -> VerifyResult:
    """Check the whole chain, from the latest anchor to the head, in one consistent snapshot."""
    fresh = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with conn.transaction():
        if fresh:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        head_seq, head_hash = repo.head(conn)
        anchor_seq, anchor_hash = repo.anchor(conn)
        # In our own snapshot every row counts (one past the head is tampering); inside a
        # caller's transaction, rows appended since the head was read are not ours to judge.
        rows = repo.iter_rows(conn, upto_seq=None if fresh else head_seq)
        links = (_link(row) for row in rows)
        return verify_links(
            links,
            anchor_seq=anchor_seq,
            anchor_hash=anchor_hash if anchor_hash is not None else GENESIS_HASH,
            head_seq=head_seq,
            head_hash=head_hash,
        )


def who_accessed(conn: psycopg.Connection, *, student_id: UUID) -> list[AuditEntry]:
    """Every entry about this student (alone or in a bulk read), oldest first. The caller audits this read."""
    return repo.entries_for_student(conn, student_id)


def remove_prefix(
    conn: psycopg.Connection,
    *,
    before: datetime,
    actor: str = "campus-retention",
    actor_role: Role = Role.SYSTEM,
) -> int:
    """Retention's only way to shorten the log: remove entries older than ``before`` up to the first newer one.

    Records the new anchor (database) and an ``audit.prefix_removed`` entry;
    returns the number of entries removed.
    """
    with conn.transaction():
        removed, anchor_seq = repo.remove_prefix(conn, before)
        if removed:
            record(
                conn,
                actor=actor,
                actor_role=actor_role,
                action="audit.prefix_removed",
                subject_count=0,
                detail={"removed": removed, "anchor_seq": anchor_seq, "before": before.isoformat()},
            )
    return removed
