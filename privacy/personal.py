"""Students' personal fields (name, date of birth, guardians' contacts): encrypted writes, audited reads.

Every function that returns personal data in clear takes an
:class:`~privacy.audit.AuditActor` and writes an audit entry in the same
transaction, so a read that commits is a read that was recorded.
"""

from __future__ import annotations

from uuid import UUID

import psycopg

from privacy import enrolment, fields, repository
from privacy.audit import AuditActor
from privacy.enrolment import EnrolledStudent
from privacy.errors import DataShreddedError, UnknownStudentError
from privacy.keyring import MasterKeyring
from privacy.models import PersonalRecord

__all__ = ["add_student", "decrypt_personal", "read_personal", "require_student", "set_personal"]


def require_student(conn: psycopg.Connection, student_id: UUID) -> repository.StudentRow:
    row = repository.student(conn, student_id)
    if row is None:
        raise UnknownStudentError(f"no student with id {student_id}")
    return row


def _data_key(
    conn: psycopg.Connection, keyring: MasterKeyring, student_id: UUID, *, create: bool
) -> bytes | None:
    stored = repository.load_data_key(conn, student_id)
    if stored is not None:
        return keyring.unwrap(
            stored.wrapped, purpose=fields.DATA_KEY_PURPOSE, wrapped_by=stored.master_key_id
        )
    if not create:
        return None
    key = fields.new_data_key()
    wrapped, key_id = keyring.wrap(key, purpose=fields.DATA_KEY_PURPOSE)
    repository.store_data_key(conn, student_id, wrapped, key_id)
    return key


def add_student(
    conn: psycopg.Connection,
    *,
    keyring: MasterKeyring,
    pseudonym_key: bytes,
    site_id: str,
    record: PersonalRecord,
    year_group: int | None,
    actor: AuditActor,
) -> EnrolledStudent:
    """Enrol a student with their personal fields encrypted; audited as ``personal.create``."""
    with conn.transaction():
        student = enrolment.enrol_student(
            conn, site_id=site_id, pseudonym_key=pseudonym_key, year_group=year_group
        )
        _write(conn, keyring, student.student_id, record)
        actor.record(
            conn,
            action="personal.create",
            student_id=student.student_id,
            detail={"fields": list(fields.FIELDS), "guardians": len(record.guardians)},
        )
    return student


def set_personal(
    conn: psycopg.Connection,
    *,
    keyring: MasterKeyring,
    student_id: UUID,
    record: PersonalRecord,
    actor: AuditActor,
) -> None:
    """Replace a student's personal fields; audited as ``personal.update``."""
    with conn.transaction():
        row = require_student(conn, student_id)
        if row.erased_at is not None:
            raise DataShreddedError("this student was erased: no personal data can be stored for them")
        _write(conn, keyring, student_id, record)
        actor.record(
            conn, action="personal.update", student_id=student_id, detail={"fields": list(fields.FIELDS)}
        )


def _write(
    conn: psycopg.Connection, keyring: MasterKeyring, student_id: UUID, record: PersonalRecord
) -> None:
    key = _data_key(conn, keyring, student_id, create=True)
    assert key is not None
    repository.store_personal(
        conn, student_id, fields.encrypt_record(key, student_id=student_id, record=record)
    )


def decrypt_personal(
    conn: psycopg.Connection, *, keyring: MasterKeyring, student_id: UUID
) -> PersonalRecord | None:
    """The fields in clear, or None if none were stored. Not audited: callers audit what they do with it."""
    stored = repository.load_personal(conn, student_id)
    key = _data_key(conn, keyring, student_id, create=False)
    if key is None:
        if stored:
            raise DataShreddedError("this student's data key was destroyed: their fields cannot be read")
        return None
    if not stored:
        return None
    return fields.decrypt_record(key, student_id=student_id, stored=stored)


def read_personal(
    conn: psycopg.Connection,
    *,
    keyring: MasterKeyring,
    student_id: UUID,
    actor: AuditActor,
    purpose: str | None = None,
) -> PersonalRecord | None:
    """A student's personal fields in clear; audited as ``personal.read`` in the same transaction."""
    with conn.transaction():
        row = require_student(conn, student_id)
        if row.erased_at is not None:
            raise DataShreddedError("this student was erased: their personal data no longer exists")
        record = decrypt_personal(conn, keyring=keyring, student_id=student_id)
        actor.record(
            conn,
            action="personal.read",
            student_id=student_id,
            purpose=purpose,
            detail={"fields": list(fields.FIELDS) if record else []},
        )
    return record
