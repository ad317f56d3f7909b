"""Helpers for the privacy integration tests: run `campus ...` in-process against the test settings."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date

import psycopg
import pytest

from campus import cli
from campus.settings import Settings
from privacy import enrolment, personal
from privacy.audit import AuditActor
from privacy.enrolment import EnrolledStudent
from privacy.keyring import MasterKeyring
from privacy.models import Guardian, PersonalRecord, Role

ADMIN = AuditActor("test-admin", Role.ADMIN)


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


def run_cli(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str
) -> CliResult:
    """``campus <argv>`` with the test's settings (through CAMPUS_* variables, as a shell would)."""
    env = {
        "CAMPUS_ENVIRONMENT": "test",
        "CAMPUS_DATABASE_URL": settings.dsn,
        "CAMPUS_PSEUDONYM_KEY": settings.pseudonym_key.get_secret_value(),
        "CAMPUS_MASTER_KEY": settings.master_key.get_secret_value(),
        "CAMPUS_PREVIOUS_MASTER_KEYS": json.dumps(
            [k.get_secret_value() for k in settings.previous_master_keys]
        ),
        "CAMPUS_SITE_ID": settings.site_id,
        "CAMPUS_ERASURE_RECHECK_S": str(settings.erasure_recheck_s),
        "CAMPUS_SELF_CONSENT_AGE": str(settings.self_consent_age),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    capsys.readouterr()
    try:
        code = cli.main(["--log-level", "WARNING", *argv])
    except SystemExit as exc:  # argparse's usage errors
        code = int(exc.code or 0)
    finally:
        root.handlers[:] = handlers  # campus.cli.main configures logging for the process
        root.setLevel(level)
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def keyring(settings: Settings) -> MasterKeyring:
    return MasterKeyring.of(settings.master_key_bytes, settings.previous_master_key_bytes)


def add_person(
    conn: psycopg.Connection,
    settings: Settings,
    *,
    name: str = "Ada Lovelace",
    dob: date | None = date(2012, 12, 10),
    guardians: tuple[Guardian, ...] = (
        Guardian("Anne Isabella", "mother", "anne@example.org", "+44 20 7946 0000"),
    ),
    year_group: int = 8,
) -> EnrolledStudent:
    """A student with encrypted personal fields (no badge, no consent)."""
    return personal.add_student(
        conn,
        keyring=keyring(settings),
        pseudonym_key=settings.pseudonym_key_bytes,
        site_id=settings.site_id,
        record=PersonalRecord(name, dob, guardians),
        year_group=year_group,
        actor=ADMIN,
    )


def grant(conn: psycopg.Connection, student: EnrolledStudent, *purposes: str) -> None:
    for purpose in purposes:
        enrolment.record_consent(
            conn,
            student_ids=[student.student_id],
            purpose=purpose,
            granted=True,
            actor="guardian-test",
            actor_role="guardian",
        )
