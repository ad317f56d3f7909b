"""A student's record end to end: `campus student add|show|erase` and `campus export`, all audited."""

from __future__ import annotations

import csv
import json
import stat
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from campus.settings import Settings
from privacy import enrolment, erasure, personal
from privacy.errors import DataShreddedError
from tests.builders import add_site
from tests.integration.privacy_support import grant, keyring, run_cli

pytestmark = pytest.mark.servers


def enrol_by_command(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys) -> uuid.UUID:  # type: ignore[no-untyped-def]
    out = run_cli(
        settings,
        monkeypatch,
        capsys,
        "student",
        "add",
        "--name",
        "Grace Hopper",
        "--dob",
        "2013-12-09",
        "--year-group",
        "8",
        "--guardian",
        "Mary Hopper|mother|mary@example.org|+44 20 7946 0001",
        "--guardian",
        "Walter Hopper|father",
        "--actor",
        "office.smith",
        "--role",
        "front_office",
    )
    assert out.code == 0, out.err
    return uuid.UUID(out.out.strip())


def test_personal_fields_are_encrypted_and_reads_are_audited(
    conn: psycopg.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    add_site(conn, settings.site_id)
    sid = enrol_by_command(settings, monkeypatch, capsys)
    stored = b"".join(bytes(r[0]) for r in conn.execute("SELECT ciphertext FROM student_personal"))
    assert b"Grace" not in stored and b"2013-12-09" not in stored and b"mary@" not in stored
    out = run_cli(
        settings,
        monkeypatch,
        capsys,
        "student",
        "show",
        "--student",
        str(sid),
        "--json",
        "--actor",
        "office.smith",
        "--role",
        "front_office",
        "--purpose-of-access",
        "guardian phoned",
    )
    shown = out.json()
    assert (
        isinstance(shown, dict)
        and shown["full_name"] == "Grace Hopper"
        and shown["date_of_birth"] == "2013-12-09"
    )
    assert [g["name"] for g in shown["guardians"]] == ["Mary Hopper", "Walter Hopper"]
    rows = conn.execute(
        "SELECT actor, actor_role, action, purpose, detail FROM audit_log ORDER BY seq"
    ).fetchall()
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("office.smith", "front_office", "personal.create", None),
        ("office.smith", "front_office", "personal.read", "guardian phoned"),
    ]
    assert "Grace" not in json.dumps([r[4] for r in rows])
    out = run_cli(settings, monkeypatch, capsys, "student", "add", "--name", "X", "--site", "nowhere")
    assert out.code == 1 and "no site 'nowhere'" in out.err


def test_subject_access_export_json_and_csv(
    conn: psycopg.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path
) -> None:
    add_site(conn, settings.site_id)
    sid = enrol_by_command(settings, monkeypatch, capsys)
    student = personal.require_student(conn, sid)
    now = datetime.now(UTC)
    grant(conn, enrolment.EnrolledStudent(sid, student.student_key, settings.site_id, 8), "location_tracking")
    conn.execute(
        "INSERT INTO presence VALUES (%s, %s, %s, 'room-1', 'estimate', 0.9, NULL)",
        (now, settings.site_id, student.student_key),
    )

    out = run_cli(
        settings,
        monkeypatch,
        capsys,
        "export",
        "--student",
        str(sid),
        "--format",
        "json",
        "--out",
        str(tmp_path),
        "--actor",
        "dpo.jones",
        "--role",
        "dpo",
        "--purpose-of-access",
        "subject access request",
    )
    assert out.code == 0, out.err
    (directory,) = tmp_path.glob("subject-access-*")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    document = json.loads((directory / "subject-access.json").read_text())
    assert stat.S_IMODE((directory / "subject-access.json").stat().st_mode) == 0o600
    assert document["personal"] == [{"full_name": "Grace Hopper", "date_of_birth": "2013-12-09"}]
    assert document["guardians"][0]["email"] == "mary@example.org"
    assert [c["purpose"] for c in document["consents"] if c["granted"]] == ["location_tracking"]
    assert len(document["consent_history"]) == 1 and len(document["presence"]) == 1
    assert document["presence"][0]["zone_id"] == "room-1"
    # The audit section includes this export's own access record.
    assert [a["action"] for a in document["audit"]][-1] == "export.subject"
    assert document["audit"][-1]["actor"] == "dpo.jones"

    out = run_cli(
        settings,
        monkeypatch,
        capsys,
        "export",
        "--student",
        str(sid),
        "--format",
        "csv",
        "--out",
        str(tmp_path / "csv"),
    )
    assert out.code == 0, out.err
    (directory,) = (tmp_path / "csv").glob("subject-access-*")
    names = {p.name for p in directory.iterdir()}
    assert {
        "ABOUT.txt",
        "personal.csv",
        "guardians.csv",
        "presence.csv",
        "audit.csv",
        "consent_history.csv",
    } <= names
    with (directory / "audit.csv").open() as handle:
        actions = [row["action"] for row in csv.DictReader(handle)]
    assert actions.count("export.subject") == 2
    with (directory / "guardians.csv").open() as handle:
        assert [row["name"] for row in csv.DictReader(handle)] == ["Mary Hopper", "Walter Hopper"]
    out = run_cli(
        settings, monkeypatch, capsys, "export", "--student", str(uuid.uuid4()), "--out", str(tmp_path / "x")
    )
    assert out.code == 1 and "no student with id" in out.err
    assert not list((tmp_path / "x").glob("subject-access-*"))


def test_leaver_erasure_shreds_and_removes_but_keeps_what_law_requires(
    conn: psycopg.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    add_site(conn, settings.site_id)
    sid = enrol_by_command(settings, monkeypatch, capsys)
    row = personal.require_student(conn, sid)
    student = enrolment.EnrolledStudent(sid, row.student_key, settings.site_id, 8)
    enrolment.issue_eid_badge(conn, student=student, master_key=settings.master_key_bytes)
    grant(conn, student, "location_tracking", "automatic_attendance")
    now = datetime.now(UTC)
    conn.execute(
        "INSERT INTO presence VALUES (%s, %s, %s, 'room-1', 'estimate', 0.9, NULL)",
        (now, settings.site_id, row.student_key),
    )
    conn.execute(
        "INSERT INTO attendance_taps VALUES (%s, %s, %s, 'room-1', 'gw-door')",
        (now, settings.site_id, row.student_key),
    )
    # What an archive made before the erasure holds of the personal fields.
    archived = conn.execute("SELECT student_id, field, ciphertext FROM student_personal").fetchall()

    out = run_cli(settings, monkeypatch, capsys, "student", "erase", "--student", str(sid))
    assert out.code == 1 and "--yes" in out.err
    out = run_cli(
        settings,
        monkeypatch,
        capsys,
        "student",
        "erase",
        "--student",
        str(sid),
        "--yes",
        "--purpose-of-access",
        "left the school",
    )
    assert out.code == 0, out.err
    assert "removed student_data_keys  1" in out.out and "kept    audit_log" in out.out
    for table in ("student_data_keys", "student_personal", "badges", "consents"):
        assert conn.execute(f"SELECT count(*) FROM {table} WHERE student_id = %s", (sid,)).fetchone() == (
            0,
        ), table
    for table in ("presence", "attendance_taps"):
        assert conn.execute(
            f"SELECT count(*) FROM {table} WHERE student_key = %s", (row.student_key,)
        ).fetchone() == (0,)
    # Kept, pseudonymous: the enrolment row (marked erased), consent history, the audit log.
    assert personal.require_student(conn, sid).erased_at is not None
    assert conn.execute("SELECT count(*) FROM consent_events WHERE student_id = %s", (sid,)).fetchone() == (
        2,
    )
    assert conn.execute("SELECT action FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone() == (
        "erasure.student",
    )
    # Crypto-shredding: the archived ciphertexts, put back, can no longer be read by anyone.
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO student_personal (student_id, field, ciphertext) VALUES (%s, %s, %s)", archived
        )
    with pytest.raises(DataShreddedError):
        personal.decrypt_personal(conn, keyring=keyring(settings), student_id=sid)
    out = run_cli(settings, monkeypatch, capsys, "student", "show", "--student", str(sid))
    assert out.code == 1 and "erased" in out.err
    # Late rows from ingest are caught by the rescheduled passes; the check then holds.
    conn.execute(
        "INSERT INTO presence VALUES (%s, %s, %s, 'room-1', 'estimate', 0.9, NULL)",
        (now, settings.site_id, row.student_key),
    )
    assert not erasure.check_erasure(conn, student_id=sid).ok
    erasure.run_pending_erasures(conn, now=now + timedelta(seconds=settings.erasure_recheck_s + 1))
    assert erasure.check_erasure(conn, student_id=sid).ok
