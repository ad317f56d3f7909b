"""Consent: purposes, a person's decision (checked, recorded, audited, erasing on withdrawal), audited reads.

Consent is off until someone entitled opts in (:mod:`privacy.consent_rules`).
Every decision goes to ``consent_events`` (the history) and ``consents``
(the current state) in one transaction with its audit entry; the database
then notifies ingest (``campus_consent``), which applies it within about a
second. A withdrawal erases the purpose's data in the same transaction and
schedules the second pass (:mod:`privacy.erasure`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import UUID

import psycopg

from privacy import consent_rules, enrolment, repository
from privacy.audit import AuditActor
from privacy.errors import DataShreddedError, InvalidInputError, UnknownPurposeError
from privacy.keyring import MasterKeyring
from privacy.models import ConsentEvent, ConsentState, DeciderRole, LawfulBasis, PurposeInfo
from privacy.personal import decrypt_personal, require_student

__all__ = ["Decision", "add_purpose", "decide", "history", "list_purposes", "show"]

_PURPOSE_NAME: Final = re.compile(r"^[a-z][a-z0-9_]{1,47}$")
MIN_DESCRIPTION_CHARS: Final = 10
MAX_NOTE_CHARS: Final = 500


@dataclass(frozen=True, slots=True)
class Decision:
    purpose: str
    granted: bool
    was_granted: bool
    erased: dict[str, int]
    age: int | None


def list_purposes(conn: psycopg.Connection) -> list[PurposeInfo]:
    """The purposes families are asked about (not personal data: not audited)."""
    return repository.purposes(conn)


def add_purpose(conn: psycopg.Connection, *, info: PurposeInfo, actor: AuditActor) -> None:
    """Add a purpose a school asks consent for; off for every student until someone opts in."""
    if not _PURPOSE_NAME.match(info.purpose):
        raise InvalidInputError(
            "purpose: 2 to 48 characters, lower-case letters, digits and _, starting with a letter"
        )
    if len(info.description.strip()) < MIN_DESCRIPTION_CHARS:
        raise InvalidInputError("description: say in plain language what the data is used for")
    if info.lawful_basis not in set(LawfulBasis):
        raise InvalidInputError(f"lawful basis: one of {', '.join(LawfulBasis)}")
    with conn.transaction():
        if not repository.add_purpose(conn, info):
            raise InvalidInputError(
                f"purpose {info.purpose} exists; a purpose is never redefined under given consent"
            )
        actor.record(conn, action="consent.purpose_added", subject_count=0, detail={"purpose": info.purpose})


def decide(
    conn: psycopg.Connection,
    *,
    keyring: MasterKeyring,
    student_id: UUID,
    purpose: str,
    granted: bool,
    actor_name: str,
    role: DeciderRole,
    now: datetime,
    self_consent_age: int,
    recheck_s: float,
    note: str | None = None,
) -> Decision:
    """A person's decision for one student and purpose: checked, recorded, audited; erasing on withdrawal."""
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise InvalidInputError(f"note: at most {MAX_NOTE_CHARS} characters")
    with conn.transaction():
        row = require_student(conn, student_id)
        if row.erased_at is not None:
            raise DataShreddedError("this student was erased: there is nothing to consent to")
        states = {s.purpose: s for s in repository.consent_states(conn, student_id)}
        if purpose not in states:
            raise UnknownPurposeError(f"no purpose {purpose!r}: see `campus consent purposes`")
        dob = None
        if role is DeciderRole.STUDENT:
            record = decrypt_personal(conn, keyring=keyring, student_id=student_id)
            dob = record.date_of_birth if record else None
        age = consent_rules.check_decider(
            role, date_of_birth=dob, decided_on=now.date(), self_consent_age=self_consent_age
        )
        erased = enrolment.record_consent(
            conn,
            student_ids=[student_id],
            purpose=purpose,
            granted=granted,
            actor=actor_name,
            actor_role=role.value,
            note=note,
            now=now,
            recheck_s=recheck_s,
            # Only the fact that the age was checked goes in the log, never the age or the date.
            audit_detail={"self_consent_age_checked": role is DeciderRole.STUDENT},
        )
    return Decision(purpose, granted, states[purpose].granted, erased, age)


def show(
    conn: psycopg.Connection, *, student_id: UUID, actor: AuditActor, purpose: str | None = None
) -> list[ConsentState]:
    """The student's current decision for every purpose; audited as ``consent.read``."""
    with conn.transaction():
        require_student(conn, student_id)
        states = repository.consent_states(conn, student_id)
        actor.record(
            conn, action="consent.read", student_id=student_id, purpose=purpose, detail={"what": "current"}
        )
    return states


def history(
    conn: psycopg.Connection, *, student_id: UUID, actor: AuditActor, purpose: str | None = None
) -> list[ConsentEvent]:
    """Every decision about the student, oldest first; audited as ``consent.read``."""
    with conn.transaction():
        require_student(conn, student_id)
        events = repository.consent_history(conn, student_id)
        actor.record(
            conn, action="consent.read", student_id=student_id, purpose=purpose, detail={"what": "history"}
        )
    return events
