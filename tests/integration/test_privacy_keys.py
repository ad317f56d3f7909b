"""Master key rotation on the real database: every record stays readable, during and after."""

from __future__ import annotations

import secrets

import psycopg
import pytest

from campus.settings import Settings
from ingest import repository as ingest_repository
from privacy import enrolment, keys, personal
from privacy.keyring import MasterKeyring, key_id
from tests.builders import add_site, add_student
from tests.integration.privacy_support import ADMIN, add_person, keyring, run_cli

pytestmark = pytest.mark.servers


def rotated(settings: Settings) -> Settings:
    """The settings after an operator put a new master key in place and kept the old one readable."""
    return settings.model_copy(
        update={
            "master_key": type(settings.master_key)(secrets.token_hex(32)),
            "previous_master_keys": (settings.master_key,),
        }
    )


def read_all(conn: psycopg.Connection, ring: MasterKeyring, people: list) -> list[str]:  # type: ignore[type-arg]
    return [
        record.full_name
        for p in people
        if (record := personal.decrypt_personal(conn, keyring=ring, student_id=p.student_id)) is not None
    ]


def test_rotation_rewraps_everything_and_keeps_it_readable(
    conn: psycopg.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    add_site(conn, settings.site_id)
    people = [add_person(conn, settings, name=f"Student {i}") for i in range(7)]
    badged = [add_student(conn, settings) for _ in range(5)]
    # A badge key wrapped before key ids were recorded.
    conn.execute(
        "UPDATE badges SET eid_key_master_id = NULL WHERE badge_id = (SELECT min(badge_id::text)::uuid FROM badges)"
    )
    badge_keys = {b.student.student_key: b.badge_key for b in badged}
    names = [f"Student {i}" for i in range(7)]

    new = rotated(settings)
    ring = keyring(new)
    # During the rotation: readers with the new settings open old wraps.
    assert read_all(conn, ring, people) == names
    before = keys.status(conn, keyring=ring)
    assert before.counts["student_data_keys"] == {"current": 0, "previous": 7, "unknown": 0}
    assert before.counts["badges"] == {"current": 0, "previous": 5, "unknown": 0}

    out = run_cli(new, monkeypatch, capsys, "keys", "status")
    assert out.code == 1 and "12 key(s) left to re-wrap" in out.out
    report = keys.rotate(conn, keyring=ring, actor=ADMIN, batch=3)  # several batches
    assert report.ok and report.rewrapped == {"student_data_keys": 7, "badges": 5}
    assert keys.status(conn, keyring=ring).left == 0
    assert run_cli(new, monkeypatch, capsys, "keys", "status").code == 0

    # After: the old key can be dropped; everything opens with the new one alone.
    only_new = MasterKeyring(new.master_key_bytes)
    assert read_all(conn, only_new, people) == names
    loaded = ingest_repository.load_badges(conn, [settings.site_id], master_key=new.master_key_bytes)
    assert {b.student_key: b.eid_key for b in loaded} == badge_keys
    # And the old key alone opens nothing any more.
    with pytest.raises(Exception, match="neither the current nor a previous"):
        personal.decrypt_personal(
            conn, keyring=MasterKeyring(settings.master_key_bytes), student_id=people[0].student_id
        )
    entry = conn.execute("SELECT actor, detail FROM audit_log WHERE action = 'keys.rotate'").fetchone()
    assert entry is not None and entry[1]["rewrapped"] == {"student_data_keys": 7, "badges": 5}


def test_keys_under_an_unknown_master_key_are_reported_not_lost(
    conn: psycopg.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    add_site(conn, settings.site_id)
    add_person(conn, settings)
    stranger = add_student(
        conn, settings.model_copy(update={"master_key": type(settings.master_key)(secrets.token_hex(32))})
    )
    mine = add_student(conn, settings)
    out = run_cli(settings, monkeypatch, capsys, "keys", "rotate")
    assert out.code == 1 and "1 open with no configured master key" in out.out
    # Ingest still loads every badge it can open, and says (in its log) that one could not be.
    loaded = ingest_repository.load_badges(conn, [settings.site_id], master_key=settings.master_key_bytes)
    assert {b.student_key for b in loaded} == {mine.student.student_key}
    assert stranger.student.student_key not in {b.student_key for b in loaded}


def test_new_badges_record_their_master_key(conn: psycopg.Connection, settings: Settings) -> None:
    add_site(conn, settings.site_id)
    student = enrolment.enrol_student(
        conn, site_id=settings.site_id, pseudonym_key=settings.pseudonym_key_bytes
    )
    enrolment.issue_eid_badge(conn, student=student, master_key=settings.master_key_bytes)
    row = conn.execute("SELECT eid_key_master_id FROM badges").fetchone()
    assert row == (key_id(settings.master_key_bytes),)
