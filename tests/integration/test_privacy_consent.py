"""Consent decisions and erasure on the real database, through the service and `campus consent ...`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from campus.settings import Settings
from privacy import consent, erasure
from privacy.errors import ConsentRefusedError, UnknownPurposeError
from privacy.models import DeciderRole
from privacy.registry import LOCATION_TABLES
from tests.builders import add_site
from tests.conftest import make_settings
from tests.integration.privacy_support import ADMIN, add_person, grant, keyring, run_cli

pytestmark = pytest.mark.servers

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def location_rows(conn: psycopg.Connection, student_key: int) -> dict[str, int]:
    out = {}
    for t in LOCATION_TABLES:
        row = conn.execute(
            f"SELECT count(*) FROM {t.table} WHERE student_key = %s", (student_key,)
        ).fetchone()
        out[t.table] = row[0] if row else 0
    return out


def seed_location(conn: psycopg.Connection, site_id: str, student_key: int, *, at: datetime) -> None:
    conn.execute(
        "INSERT INTO presence VALUES (%s, %s, %s, 'room-1', 'estimate', 0.9, NULL)",
        (at, site_id, student_key),
    )
    conn.execute(
        "INSERT INTO zone_transitions (time, site_id, student_key, from_zone, to_zone, confidence) VALUES (%s, %s, %s, NULL, 'room-1', 0.9)",
        (at, site_id, student_key),
    )
    conn.execute(
        """INSERT INTO presence_current (student_key, site_id, zone_id, since, confidence)
           VALUES (%s, %s, 'room-1', %s, 0.9) ON CONFLICT DO NOTHING""",
        (student_key, site_id, at),
    )
    conn.execute(
        "INSERT INTO attendance_taps VALUES (%s, %s, %s, 'room-1', 'gw-door')", (at, site_id, student_key)
    )


def decide(
    conn: psycopg.Connection,
    settings: Settings,
    student_id,
    purpose: str,
    granted: bool,
    role: DeciderRole,
    *,
    now: datetime = NOW,
):  # type: ignore[no-untyped-def]
    return consent.decide(
        conn,
        keyring=keyring(settings),
        student_id=student_id,
        purpose=purpose,
        granted=granted,
        actor_name="Anne Isabella",
        role=role,
        now=now,
        self_consent_age=settings.self_consent_age,
        recheck_s=settings.erasure_recheck_s,
    )


def test_consent_is_off_until_opted_in_and_history_is_kept(
    conn: psycopg.Connection, settings: Settings
) -> None:
    add_site(conn, settings.site_id)
    ada = add_person(conn, settings)
    states = consent.show(conn, student_id=ada.student_id, actor=ADMIN)
    assert {s.purpose: s.granted for s in states} == {
        "automatic_attendance": False,
        "location_tracking": False,
    }
    decide(conn, settings, ada.student_id, "location_tracking", True, DeciderRole.GUARDIAN)
    decide(conn, settings, ada.student_id, "location_tracking", False, DeciderRole.ADMIN)
    events = consent.history(conn, student_id=ada.student_id, actor=ADMIN)
    assert [(e.granted, e.actor_role) for e in events] == [(True, "guardian"), (False, "admin")]
    actions = [
        r[0]
        for r in conn.execute(
            "SELECT action FROM audit_log WHERE student_id = %s ORDER BY seq", (ada.student_id,)
        )
    ]
    assert actions == [
        "personal.create",
        "consent.read",
        "consent.change",
        "consent.change",
        "erasure.location",
        "consent.read",
    ]


def test_a_student_decides_alone_only_from_the_configured_age(
    conn: psycopg.Connection, settings: Settings
) -> None:
    add_site(conn, settings.site_id)
    young = add_person(conn, settings, dob=date(2014, 1, 1))
    nodob = add_person(conn, settings, dob=None)
    older = add_person(conn, settings, dob=date(2012, 11, 23))  # 14 on NOW
    with pytest.raises(ConsentRefusedError, match="this student is 12"):
        decide(conn, settings, young.student_id, "location_tracking", True, DeciderRole.STUDENT)
    with pytest.raises(ConsentRefusedError, match="no date of birth"):
        decide(conn, settings, nodob.student_id, "location_tracking", True, DeciderRole.STUDENT)
    assert decide(conn, settings, older.student_id, "location_tracking", True, DeciderRole.STUDENT).age == 14
    # The age threshold is a setting.
    strict = settings.model_copy(update={"self_consent_age": 16})
    with pytest.raises(ConsentRefusedError, match="from age 16"):
        decide(conn, strict, older.student_id, "location_tracking", False, DeciderRole.STUDENT)
    with pytest.raises(UnknownPurposeError):
        decide(conn, settings, young.student_id, "marketing", True, DeciderRole.GUARDIAN)
    refused = conn.execute(
        "SELECT count(*) FROM consent_events WHERE student_id = %s", (young.student_id,)
    ).fetchone()
    assert refused == (0,)


def test_withdrawal_erases_location_now_and_again_later(conn: psycopg.Connection, settings: Settings) -> None:
    add_site(conn, settings.site_id)
    ada = add_person(conn, settings)
    grant(conn, ada, "location_tracking", "automatic_attendance")
    seed_location(conn, settings.site_id, ada.student_key, at=NOW - timedelta(hours=1))
    decision = decide(conn, settings, ada.student_id, "location_tracking", False, DeciderRole.GUARDIAN)
    assert decision.erased == {"presence": 1, "zone_transitions": 1, "presence_current": 1}
    # Door taps are attendance evidence, held under the attendance consent, which still stands.
    assert location_rows(conn, ada.student_key) == {
        "presence": 0,
        "zone_transitions": 0,
        "presence_current": 0,
        "attendance_taps": 1,
    }
    assert erasure.check_erasure(conn, student_id=ada.student_id).ok
    # A row committed by an ingest worker that had not yet heard of the withdrawal...
    seed_location(conn, settings.site_id, ada.student_key, at=NOW)
    assert not erasure.check_erasure(conn, student_id=ada.student_id).ok
    # ...is removed by the second pass, not before it is due.
    assert erasure.run_pending_erasures(conn, now=NOW) == 0
    assert erasure.run_pending_erasures(conn, now=NOW + timedelta(seconds=settings.erasure_recheck_s)) == 1
    check = erasure.check_erasure(conn, student_id=ada.student_id)
    assert check.ok and check.pending == 0
    assert location_rows(conn, ada.student_key)["presence"] == 0


def test_regranted_consent_cancels_the_second_pass(conn: psycopg.Connection, settings: Settings) -> None:
    add_site(conn, settings.site_id)
    ada = add_person(conn, settings)
    grant(conn, ada, "location_tracking")
    decide(conn, settings, ada.student_id, "location_tracking", False, DeciderRole.GUARDIAN)
    decide(
        conn,
        settings,
        ada.student_id,
        "location_tracking",
        True,
        DeciderRole.GUARDIAN,
        now=NOW + timedelta(seconds=5),
    )
    seed_location(conn, settings.site_id, ada.student_key, at=NOW + timedelta(seconds=10))
    erasure.run_pending_erasures(conn, now=NOW + timedelta(minutes=5))
    assert location_rows(conn, ada.student_key)["presence"] == 1


def test_withdrawing_attendance_erases_door_taps(conn: psycopg.Connection, settings: Settings) -> None:
    add_site(conn, settings.site_id)
    ada = add_person(conn, settings)
    grant(conn, ada, "automatic_attendance")
    seed_location(conn, settings.site_id, ada.student_key, at=NOW)
    decide(conn, settings, ada.student_id, "automatic_attendance", False, DeciderRole.GUARDIAN)
    assert location_rows(conn, ada.student_key)["attendance_taps"] == 0
    # Location rows without location consent make the check fail, whatever put them there.
    check = erasure.check_erasure(conn, student_id=ada.student_id)
    assert not check.ok and {t.table for t in check.tables if not t.ok} == {
        "presence",
        "zone_transitions",
        "presence_current",
    }


def test_consent_commands(
    conn: psycopg.Connection, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    add_site(conn, settings.site_id)
    # The command reads the real clock: a date of birth that makes her 11 today.
    ada = add_person(conn, settings, dob=date.today() - timedelta(days=12 * 365))
    sid = str(ada.student_id)
    cli = lambda *argv: run_cli(settings, monkeypatch, capsys, *argv)  # noqa: E731

    out = cli("consent", "purposes")
    assert out.code == 0 and "location_tracking (lawful basis: consent)" in out.out
    out = cli(
        "consent",
        "purpose",
        "add",
        "trip_tracking",
        "--description",
        "Where your child is on a school trip.",
        "--lawful-basis",
        "consent",
        "--actor",
        "dpo.jones",
        "--role",
        "dpo",
    )
    assert out.code == 0
    out = cli(
        "consent",
        "purpose",
        "add",
        "trip_tracking",
        "--description",
        "Again, redefined.",
        "--lawful-basis",
        "consent",
    )
    assert out.code == 1 and "never redefined" in out.err

    out = cli(
        "consent",
        "grant",
        "--student",
        sid,
        "--purpose",
        "location_tracking",
        "--actor",
        "Anne",
        "--role",
        "guardian",
    )
    assert out.code == 0 and "granted (was off)" in out.out
    out = cli(
        "consent",
        "grant",
        "--student",
        sid,
        "--purpose",
        "automatic_attendance",
        "--actor",
        "Anne",
        "--role",
        "guardian",
        "--note",
        "paper form",
    )
    assert out.code == 0
    out = cli(
        "consent",
        "grant",
        "--student",
        sid,
        "--purpose",
        "trip_tracking",
        "--actor",
        "Ada",
        "--role",
        "student",
    )
    assert out.code == 1 and "from age 13; this student is 11" in out.err

    seed_location(conn, settings.site_id, ada.student_key, at=NOW)
    out = cli(
        "consent",
        "withdraw",
        "--student",
        sid,
        "--purpose",
        "location_tracking",
        "--actor",
        "Anne",
        "--role",
        "guardian",
    )
    assert out.code == 0 and "presence 1" in out.out

    out = cli("consent", "show", "--student", sid, "--json")
    states = out.json()
    assert isinstance(states, list)
    assert {s["purpose"]: s["granted"] for s in states} == {
        "automatic_attendance": True,
        "location_tracking": False,
        "trip_tracking": False,
    }
    out = cli("consent", "history", "--student", sid)
    assert out.code == 0 and len(out.out.splitlines()) == 3 and "withdrawn by Anne (guardian)" in out.out
    assert "(paper form)" in out.out

    out = cli("consent", "verify-erasure", "--student", sid)
    assert out.code == 0, out.out
    seed_location(conn, settings.site_id, ada.student_key, at=NOW + timedelta(seconds=1))
    out = cli("consent", "verify-erasure", "--student", sid)
    assert out.code == 1 and "FAIL presence" in out.out
    out = cli(
        "consent", "grant", "--student", "not-a-uuid", "--purpose", "x", "--actor", "a", "--role", "admin"
    )
    assert out.code == 2 and "'not-a-uuid' is not a student id" in out.err


def test_unregistered_location_table_fails_the_erasure_check(
    conn: psycopg.Connection, settings: Settings
) -> None:
    """A table added later that places students, but that erasure does not know, cannot go unnoticed."""
    add_site(conn, settings.site_id)
    ada = add_person(conn, settings)
    assert erasure.check_erasure(conn, student_id=ada.student_id).ok
    conn.execute("CREATE TABLE muster_marks (student_key bigint, assembly_zone text)")
    check = erasure.check_erasure(conn, student_id=ada.student_id)
    assert not check.ok and check.unregistered_location == {"muster_marks": ["assembly_zone"]}
    assert check.unregistered_student == {"muster_marks": ["student_key"]}


def test_every_table_of_the_schema_is_registered(conn: psycopg.Connection) -> None:
    """The migrated schema itself: every location or student column belongs to a registered table."""
    from privacy import repository
    from privacy.registry import unregistered_location_tables, unregistered_student_tables

    columns = repository.public_columns(conn)
    assert unregistered_location_tables(columns) == {}
    assert unregistered_student_tables(columns) == {}


def test_settings_bound_the_erasure_delay(database_url: str, broker, site_id: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="erasure_recheck_s"):
        make_settings(
            database_url=database_url,
            broker=broker,
            site_id=site_id,
            data_dir=tmp_path,
            erasure_recheck_s=3600,
        )
