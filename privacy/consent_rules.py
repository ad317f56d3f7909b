"""Who may make a consent decision. Pure: the decision's date is passed in.

- A guardian may decide for their child at any age.
- An admin may record a decision made on paper or by phone; the decision
  is the family's, the admin's name goes in the history and the audit log.
- A student decides for themselves only from ``self_consent_age`` (whole
  years on the day of the decision, from the encrypted date of birth). With
  no date of birth on file a student cannot decide: the age cannot be shown.

Whoever may decide, the latest decision stands; consent is off until
someone entitled opts in.
"""

from __future__ import annotations

from datetime import date

from privacy.errors import ConsentRefusedError
from privacy.models import DeciderRole

__all__ = ["age_on", "check_decider"]


def age_on(date_of_birth: date, day: date) -> int:
    """Age in whole years on ``day`` (a 29 February birthday counts from 1 March in other years)."""
    years = day.year - date_of_birth.year
    if (day.month, day.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


def check_decider(
    role: DeciderRole, *, date_of_birth: date | None, decided_on: date, self_consent_age: int
) -> int | None:
    """Raise :class:`ConsentRefusedError` unless ``role`` may decide; return the student's age if known."""
    age = age_on(date_of_birth, decided_on) if date_of_birth is not None else None
    if age is not None and age < 0:
        raise ConsentRefusedError("the date of birth on file is after the decision date")
    if role is DeciderRole.STUDENT:
        if age is None:
            raise ConsentRefusedError(
                "a student can decide only when their age is known: no date of birth is on file"
            )
        if age < self_consent_age:
            raise ConsentRefusedError(
                f"a student decides alone from age {self_consent_age}; this student is {age}: "
                "a parent or guardian must decide"
            )
    return age
