"""Privacy's value types: roles, purposes, personal records, consent states, audit entries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

__all__ = [
    "AuditEntry",
    "ConsentEvent",
    "ConsentState",
    "DeciderRole",
    "Guardian",
    "LawfulBasis",
    "PersonalRecord",
    "Purpose",
    "PurposeInfo",
    "Role",
]


class Role(StrEnum):
    """Who acts, as written in the audit log (the API's roles, plus the student and the system)."""

    ADMIN = "admin"
    FRONT_OFFICE = "front_office"
    TEACHER = "teacher"
    FIRE_WARDEN = "fire_warden"
    PARENT = "parent"
    STUDENT = "student"
    AUDITOR = "auditor"
    DPO = "dpo"
    SYSTEM = "system"


class DeciderRole(StrEnum):
    """Who may make a consent decision: a guardian, the student (old enough), or an admin recording one."""

    GUARDIAN = "guardian"
    STUDENT = "student"
    ADMIN = "admin"

    @property
    def audit_role(self) -> Role:
        """The audit-log role of this decider (a guardian acts with the API's parent role)."""
        return {
            DeciderRole.GUARDIAN: Role.PARENT,
            DeciderRole.STUDENT: Role.STUDENT,
            DeciderRole.ADMIN: Role.ADMIN,
        }[self]


class Purpose(StrEnum):
    """The built-in purposes; a school may add its own (consent_purposes rows)."""

    LOCATION_TRACKING = "location_tracking"
    AUTOMATIC_ATTENDANCE = "automatic_attendance"


class LawfulBasis(StrEnum):
    """UK/EU GDPR Article 6(1) bases."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTERESTS = "legitimate_interests"


@dataclass(frozen=True, slots=True)
class Guardian:
    name: str
    relationship: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class PersonalRecord:
    """The encrypted personal fields of a student, in clear (only ever in memory)."""

    full_name: str
    date_of_birth: date | None = None
    guardians: tuple[Guardian, ...] = ()


@dataclass(frozen=True, slots=True)
class PurposeInfo:
    purpose: str
    description: str
    lawful_basis: str


@dataclass(frozen=True, slots=True)
class ConsentState:
    """The current decision for one purpose; ``granted`` is False when nobody has opted in."""

    purpose: str
    granted: bool
    updated_at: datetime | None
    description: str
    lawful_basis: str


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    purpose: str
    granted: bool
    actor: str
    actor_role: str
    recorded_at: datetime
    note: str | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the audit log."""

    seq: int
    at: datetime
    actor: str
    actor_role: str
    action: str
    purpose: str | None
    student_id: UUID | None
    subject_count: int
    detail: dict[str, Any]
    prev_hash: bytes
    hash: bytes
    # Students a bulk entry touched (audit_subjects), when the entry was read with them.
    subjects: Sequence[UUID] = ()
