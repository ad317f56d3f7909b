"""Retention on the real TimescaleDB: the check fails on data older than its windows, a sweep fixes it."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from campus.cli import main
from campus.settings import Settings
from privacy import audit
from privacy.sweeper import check, run_sweeper, sweep
from tests.builders import add_site, wait_for

pytestmark = pytest.mark.servers

NOW = datetime.now(UTC)


def ago(**kw: float) -> datetime:
    return NOW - timedelta(**kw)


def add_student_row(conn: psycopg.Connection, site_id: str) -> uuid.UUID:
    sid = uuid.uuid4()
    conn.execute(
        "INSERT INTO students (student_id, site_id, student_key) VALUES (%s, %s, %s)",
        (sid, site_id, uuid.uuid4().int >> 65),
    )
    return sid


def consent_history(conn: psycopg.Connection, sid: uuid.UUID, events: list[tuple[bool, datetime]]) -> None:
    for granted, at in events:
        conn.execute(
            """INSERT INTO consent_events (student_id, purpose, granted, actor, actor_role, recorded_at)
               VALUES (%s, 'location_tracking', %s, 'guardian-x', 'guardian', %s)""",
            (sid, granted, at),
        )
    conn.execute(
        "INSERT INTO consents (student_id, purpose, granted, updated_at) VALUES (%s, 'location_tracking', %s, %s)",
        (sid, events[-1][0], events[-1][1]),
    )


def fill(conn: psycopg.Connection, site_id: str) -> dict[str, int]:
    """Rows on both sides of every default window; returns the expired rows per table."""
    add_site(conn, site_id)
    # presence: every 6 hours for 10 days (one chunk each); the window is 7 days
    presence = [ago(hours=6 * i) for i in range(40)]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO presence VALUES (%s, %s, 42, 'r1', 'ble', 0.9, 'gw-1')",
            [(t, site_id) for t in presence],
        )
        cur.executemany(
            "INSERT INTO zone_transitions (time, site_id, student_key, from_zone, to_zone, confidence) "
            "VALUES (%s, %s, 42, 'r1', 'r2', 0.9)",
            [(ago(days=d), site_id) for d in (1, 20, 29, 40)],
        )
        cur.executemany(
            "INSERT INTO attendance_taps VALUES (%s, %s, 42, 'r1', 'gw-1')",
            [(ago(days=d), site_id) for d in (1, 60)],
        )
        cur.executemany(
            "INSERT INTO dead_letters (received_at, topic, reason, detail) VALUES (%s, 't', 'bad', 'x')",
            [(ago(days=d),) for d in (1, 2, 8, 9, 10)],
        )
        cur.executemany(
            "INSERT INTO ingest_batches (gateway_id, boot, seq, committed_at) VALUES ('gw-1', 1, %s, %s)",
            [(i, ago(days=d)) for i, d in enumerate((1, 31, 45))],
        )
        cur.executemany(
            "INSERT INTO presence_current (student_key, site_id, zone_id, since, confidence, updated_at) "
            "VALUES (%s, %s, 'r1', %s, 0.9, %s)",
            [(k, site_id, ago(days=d), ago(days=d)) for k, d in ((1, 1), (2, 9))],
        )
        cur.executemany(
            "INSERT INTO service_heartbeats VALUES (%s, 'i', %s, %s, '{}')",
            [(name, ago(days=d), ago(days=d)) for name, d in (("ingest", 0), ("old-ingest", 40))],
        )
    # consent history: kept while granted, and for 6 years after it ends
    consent_history(conn, add_student_row(conn, site_id), [(True, ago(days=3000))])
    consent_history(conn, add_student_row(conn, site_id), [(True, ago(days=3000)), (False, ago(days=2500))])
    consent_history(conn, add_student_row(conn, site_id), [(True, ago(days=3000)), (False, ago(days=300))])
    # audit log: two entries older than 6 years, one recent
    for at in (ago(days=2500), ago(days=2400), ago(days=1)):
        audit.record(
            conn, actor="a.admin", actor_role="admin", action="personal.read", subject_count=0, at=at
        )
    expired_presence = sum(1 for t in presence if t < ago(days=7))
    return {
        "presence": expired_presence,
        "zone_transitions": 2,
        "attendance_taps": 1,
        "dead_letters": 3,
        "ingest_batches": 2,
        "presence_current": 1,
        "service_heartbeats": 1,
        "consent_events": 2,
        "audit_log": 2,
    }


def count(conn: psycopg.Connection, table: str) -> int:
    row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_check_fails_before_a_sweep_and_passes_after(
    conn: psycopg.Connection, settings: Settings, site_id: str
) -> None:
    expired = fill(conn, site_id)
    before = {t: count(conn, t) for t in expired}

    report = check(conn, settings=settings, now=NOW)
    assert not report.ok
    failing = {p.split(":")[0] for p in report.problems}
    # presence rows within one chunk + one sweep past the window are not yet a failure
    assert failing == set(expired)
    assert any(p.startswith("presence: ") and "oldest is" in p for p in report.problems)

    result = sweep(conn, settings=settings, now=NOW)
    # Whole chunks: presence loses every expired row except the boundary chunk's.
    assert expired["presence"] - 1 <= result.removed["presence"] <= expired["presence"]
    for table, n in expired.items():
        if table != "presence":
            assert result.removed[table] == n, table
        assert count(conn, table) == before[table] - result.removed[table] + (
            1 if table == "audit_log" else 0
        )
    assert check(conn, settings=settings, now=NOW).ok

    # What the sweep removed is on record, as counts only.
    removed, trigger = conn.execute(
        "SELECT removed, trigger FROM retention_runs WHERE run_id = %s", (result.run_id,)
    ).fetchone()  # type: ignore[misc]
    assert trigger == "command" and removed == result.removed
    # The audit chain was shortened through its anchored prefix removal and still verifies.
    assert audit.verify(conn).ok
    # Recent rows are untouched; nothing newer than a window was removed.
    rows = conn.execute("SELECT min(time) FROM presence").fetchone()
    assert rows is not None and rows[0] >= ago(days=7, hours=1)
    assert conn.execute(
        "SELECT count(*) FROM consent_events e JOIN consents c USING (student_id, purpose) WHERE c.granted"
    ).fetchone() == (1,)


def test_a_table_without_a_rule_fails_the_check(conn: psycopg.Connection, settings: Settings) -> None:
    assert check(conn, settings=settings, now=NOW).ok
    conn.execute("CREATE TABLE visitor_log (visitor text, seen_at timestamptz)")
    report = check(conn, settings=settings, now=NOW)
    assert [p for p in report.problems if p.startswith("visitor_log:")] == [
        "visitor_log: no retention rule (add one to privacy.retention.schedule, or list it in CONFIG_TABLES)"
    ]


def test_presence_chunks_are_one_hour_and_larger_chunks_fail_the_check(
    conn: psycopg.Connection, settings: Settings
) -> None:
    assert check(conn, settings=settings, now=NOW).ok
    conn.execute("SELECT set_chunk_time_interval('presence', INTERVAL '1 day')")
    report = check(conn, settings=settings, now=NOW)
    assert report.problems == (
        "presence: chunk interval 1 day exceeds the published bound 1 hour; "
        "rows could outlive their window by that much",
    )


def test_deletes_run_in_bounded_batches_and_leave_the_rest_for_the_next_sweep(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path
) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO dead_letters (received_at, topic, reason, detail) VALUES (%s, 't', 'bad', 'x')",
            [(ago(days=30),)] * 10,
        )
    small = settings.model_copy(update={"retention_batch_rows": 3})
    first = sweep(conn, settings=small, now=NOW, max_batches=2)
    assert first.removed["dead_letters"] == 6 and "dead_letters" in first.unfinished
    assert not check(conn, settings=small, now=NOW).ok
    second = sweep(conn, settings=small, now=NOW, max_batches=2)
    assert second.removed["dead_letters"] == 4 and not second.unfinished
    assert check(conn, settings=small, now=NOW).ok


def test_the_sweeper_loop_sweeps_on_its_own_and_stops(conn: psycopg.Connection, settings: Settings) -> None:
    conn.execute(
        "INSERT INTO dead_letters (received_at, topic, reason, detail) VALUES (%s, 't', 'bad', 'x')",
        (ago(days=30),),
    )
    stop = threading.Event()
    thread = threading.Thread(target=run_sweeper, args=(settings, stop), daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: count(conn, "retention_runs") == 1, timeout=20)
        assert conn.execute("SELECT trigger, removed->'dead_letters' FROM retention_runs").fetchall() == [
            ("scheduler", 1)
        ]
        assert count(conn, "dead_letters") == 0
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive()


def test_campus_retention_check_exits_non_zero_until_swept(
    conn: psycopg.Connection,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CAMPUS_DATABASE_URL", settings.dsn)
    monkeypatch.setenv("CAMPUS_ENVIRONMENT", "test")
    conn.execute(
        "INSERT INTO zone_transitions (time, site_id, student_key, from_zone, to_zone, confidence) "
        "VALUES (%s, 's', 1, 'a', 'b', 1)",
        (ago(days=60),),
    )
    assert main(["retention", "check"]) == 1
    assert "zone_transitions: 1 rows older than 4 weeks + 15 minutes; oldest is 60 days old" in (
        capsys.readouterr().out
    )
    assert main(["retention", "sweep"]) == 0
    assert "zone_transitions       1 rows removed" in capsys.readouterr().out
    assert main(["retention", "check"]) == 0
    assert "retention holds" in capsys.readouterr().out
