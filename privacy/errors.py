"""Privacy's exception tree. Every message is one readable sentence, with no name or identifier of a person.

- :class:`PrivacyError` — base of everything below.
  - :class:`UnknownStudentError` — no student with that id (or the student was erased).
  - :class:`UnknownPurposeError` — no consent purpose with that name.
  - :class:`ConsentRefusedError` — this actor may not make this decision (e.g. a student under the age).
  - :class:`InvalidInputError` — a value given by a person is not acceptable (names the field).
  - :class:`KeyUnavailableError` — a wrapped key cannot be opened with the configured master keys.
  - :class:`DataShreddedError` — the student's data key was destroyed: their fields are unreadable.
  - :class:`AuditError` — an audit entry cannot be written as given.
"""

from __future__ import annotations

__all__ = [
    "AuditError",
    "ConsentRefusedError",
    "DataShreddedError",
    "InvalidInputError",
    "KeyUnavailableError",
    "PrivacyError",
    "UnknownPurposeError",
    "UnknownStudentError",
]


class PrivacyError(Exception):
    """Base of privacy's expected failures."""


class UnknownStudentError(PrivacyError):
    pass


class UnknownPurposeError(PrivacyError):
    pass


class ConsentRefusedError(PrivacyError):
    pass


class InvalidInputError(PrivacyError):
    pass


class KeyUnavailableError(PrivacyError):
    pass


class DataShreddedError(PrivacyError):
    pass


class AuditError(PrivacyError):
    pass
