"""Consent in the data path, through the real ingest, broker and database.

- With consent off, a simulated school day of sightings (badges and door
  taps, through several readers) writes no row that identifies the student
  in any table; a student with attendance consent only leaves door taps.
- A withdrawal takes effect in ingest within seconds, ingest forgets the
  student's live state, and every location table holds 0 rows for them once
  the second erasure pass has run.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from campus import signing, topics, wire
from campus.settings import Settings
from gateway.enrollment import GatewayPlacementSpec, register_public_key
from ingest import service
from ingest.directory import Purpose
from privacy import consent, enrolment, erasure, pseudonyms
from privacy.models import DeciderRole
from privacy.registry import LOCATION_TABLES
from tests.builders import (
    BadgedStudent,
    add_gateway,
    add_site,
    add_student,
    ble_sighting,
    running_ingest,
    running_uplink,
    wait_for,
)
from tests.integration.privacy_support import keyring, run_cli
from tests.integration.test_slice import publish_raw, signed_batch_payload

pytestmark = [pytest.mark.servers, pytest.mark.slow]

ROOMS = ("gate", "room-1", "room-2")
WINDOW_S = 1.5


def identifying_rows(
    conn: psycopg.Connection, *, keys: list[int], ids: list[str], hashes: list[bytes], eids: list[str]
) -> dict[str, int]:
    """Per public table, the rows in which any of these students' identifiers appears, in any column."""
    pattern = "|".join([*ids, *eids, *(str(k) for k in keys)])
    columns = conn.execute(
        """SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
           JOIN information_schema.tables t USING (table_schema, table_name)
           WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"""
    ).fetchall()
    tests: dict[str, list[str]] = {}
    for table, column, data_type in columns:
        col = f'"{column}"'
        if data_type == "bigint":
            tests.setdefault(table, []).append(f"{col} = ANY(%(keys)s)")
        elif data_type == "uuid":
            tests.setdefault(table, []).append(f"{col} = ANY(%(ids)s::uuid[])")
        elif data_type == "bytea":
            tests.setdefault(table, []).append(
                f"({col} = ANY(%(hashes)s) OR encode({col}, 'escape') ~ %(pattern)s)"
            )
        elif data_type in ("text", "jsonb", "character varying", "ARRAY"):
            tests.setdefault(table, []).append(f"{col}::text ~ %(pattern)s")
    params = {"keys": keys, "ids": ids, "hashes": hashes, "pattern": pattern}
    counts = {}
    for table, conditions in tests.items():
        row = conn.execute(
            f'SELECT count(*) FROM "{table}" WHERE {" OR ".join(conditions)}', params
        ).fetchone()
        counts[table] = row[0] if row else 0
    return counts


def test_a_day_without_consent_stores_nothing_about_the_student(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path
) -> None:
    add_site(conn, settings.site_id)
    readers = {
        zone: add_gateway(conn, settings.site_id, gateway_id=f"gw-{zone}", zone_id=zone) for zone in ROOMS
    }
    door = signing.generate_private_key()
    register_public_key(
        conn,
        gateway_id="gw-door",
        site_id=settings.site_id,
        public_key=signing.public_key_bytes(door),
        placement=GatewayPlacementSpec(kind="rfid", zone_id="room-1"),
    )
    control = add_student(conn, settings, consents=("location_tracking", "automatic_attendance"))
    tess = add_student(conn, settings, consents=("automatic_attendance",))  # attendance only
    refusers = [add_student(conn, settings, consents=()) for _ in range(20)]
    hash_key = pseudonyms.site_badge_hash_key(settings.master_key_bytes, settings.site_id)
    cards: dict[int, bytes] = {}
    for n, person in enumerate([control, tess, *refusers]):
        cards[person.student.student_key] = pseudonyms.static_badge_hash(
            hash_key, kind="rfid", identifier=f"04A1B2{n:04X}"
        )
        enrolment.issue_static_badge(
            conn, student=person.student, kind="rfid", static_hash=cards[person.student.student_key]
        )
    everyone = [control, tess, *refusers]

    def ids_of(people: list[BadgedStudent], start: float, end: float) -> dict[str, object]:
        eids = sorted({p.eid_at(t) for p in people for t in (start - 600, start, end, end + 600)})
        return {
            "keys": [p.student.student_key for p in people],
            "ids": [str(p.student.student_id) for p in people],
            "hashes": [cards[p.student.student_key] for p in people],
            "eids": eids,
        }

    start = time.time() - 62
    before = identifying_rows(conn, **ids_of(refusers, start, start + 62))  # type: ignore[arg-type]

    # The day, compressed into the last minute: arrival at the gate, two lessons (a door tap
    # each), a move through the school, leaving by the gate. Every student follows it.
    phases = [("gate", 6), ("room-1", 14), ("room-2", 14), ("gate", 6)]  # 1.5 s windows: a minute
    uplinks = {}
    with running_ingest(settings) as ingest:
        with (
            running_uplink(
                settings, readers["gate"], gateway_id="gw-gate", journal_path=tmp_path / "g.j"
            ) as gate,
            running_uplink(
                settings, readers["room-1"], gateway_id="gw-room-1", journal_path=tmp_path / "r1.j"
            ) as r1,
            running_uplink(
                settings, readers["room-2"], gateway_id="gw-room-2", journal_path=tmp_path / "r2.j"
            ) as r2,
            running_uplink(settings, door, gateway_id="gw-door", journal_path=tmp_path / "d.j") as tap,
        ):
            uplinks = {"gate": gate, "room-1": r1, "room-2": r2}
            at, sent = start, 0
            for zone, windows in phases:
                if zone.startswith("room"):
                    tap.submit(
                        [
                            wire.Sighting(
                                kind=wire.SightingKind.RFID,
                                id=cards[p.student.student_key].hex(),
                                first_ms=int(at * 1000),
                                last_ms=int(at * 1000),
                            )
                            for p in everyone
                        ]
                    )
                    sent += len(everyone)
                for _ in range(windows):
                    for other, uplink in uplinks.items():
                        rssi = -58 if other == zone else -90
                        uplink.submit([ble_sighting(p.eid_at(at), at_s=at, rssi=rssi) for p in everyone])
                        sent += len(everyone)
                    at += WINDOW_S
            assert sent > 2000
            # A forged batch carrying a refuser's badge id ends in the dead letters.
            topic = topics.sightings(settings.site_id, "gw-gate")
            forged = signed_batch_payload(
                settings,
                gateway_id="gw-gate",
                seq=99_999,
                sightings=[ble_sighting(refusers[0].eid_at(time.time()))],
            )
            publish_raw(
                settings,
                topic,
                forged,
                sig=signing.sign(signing.generate_private_key(), topic=topic, payload=forged),
            )
            assert wait_for(lambda: all(u.journal.depth() == 0 for u in (gate, r1, r2, tap)), timeout=30)
            assert wait_for(lambda: ingest.stats.rejected.get("bad_signature", 0) == 1)
            assert wait_for(
                lambda: (
                    conn.execute(
                        "SELECT count(DISTINCT to_zone) FROM zone_transitions WHERE student_key = %s",
                        (control.student.student_key,),
                    ).fetchone()[0]
                    >= 2
                ),
                timeout=20,
            ), "the control student was never tracked: the test would prove nothing"
            assert wait_for(lambda: conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 1)
        assert ingest.stats.consent_drops > 1000

    after = identifying_rows(conn, **ids_of(refusers, start, start + 62))  # type: ignore[arg-type]
    assert after == before, {t: (before.get(t), n) for t, n in after.items() if before.get(t) != n}
    refuser_keys = [p.student.student_key for p in refusers]
    for table in LOCATION_TABLES:
        row = conn.execute(
            f"SELECT count(*) FROM {table.table} WHERE student_key = ANY(%s)", (refuser_keys,)
        ).fetchone()
        assert row == (0,), table.table
    # Attendance only: the door taps are kept (two lessons), nothing else places her.
    tess_rows = {
        t.table: conn.execute(
            f"SELECT count(*) FROM {t.table} WHERE student_key = %s", (tess.student.student_key,)
        ).fetchone()[0]
        for t in LOCATION_TABLES
    }
    assert tess_rows == {"presence": 0, "zone_transitions": 0, "presence_current": 0, "attendance_taps": 2}
    assert conn.execute(
        "SELECT count(*) FROM attendance_taps WHERE student_key = %s", (control.student.student_key,)
    ).fetchone() == (2,)

    # The scan can see such rows (it is not vacuously empty): plant one of each kind and look again.
    victim = refusers[0]
    conn.execute(
        "INSERT INTO dead_letters (topic, reason, detail, payload) VALUES ('t', 'x', 'y', %s)",
        (f'{{"id": "{victim.eid_at(start + 30)}"}}'.encode(),),
    )
    conn.execute(
        "INSERT INTO presence VALUES (now(), %s, %s, 'room-1', 'estimate', 1, NULL)",
        (settings.site_id, victim.student.student_key),
    )
    planted = identifying_rows(conn, **ids_of(refusers, start, start + 62))  # type: ignore[arg-type]
    assert (
        planted["dead_letters"] == after["dead_letters"] + 1 and planted["presence"] == after["presence"] + 1
    )


def test_withdrawal_reaches_ingest_in_seconds_and_leaves_no_location_rows(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(service, "ERASURE_CHECK_S", 0.5)
    settings = settings.model_copy(update={"erasure_recheck_s": 2})
    add_site(conn, settings.site_id)
    key = add_gateway(conn, settings.site_id, gateway_id="gw-1", zone_id="room-1")
    wanda = add_student(conn, settings, consents=("location_tracking",))
    other = add_student(conn, settings, consents=("location_tracking",))
    wanda_key = wanda.student.student_key
    stop = threading.Event()

    def rows_of(student_key: int) -> dict[str, int]:
        return {
            t.table: conn.execute(
                f"SELECT count(*) FROM {t.table} WHERE student_key = %s", (student_key,)
            ).fetchone()[0]
            for t in LOCATION_TABLES
        }

    with (
        running_ingest(settings) as ingest,
        running_uplink(settings, key, journal_path=tmp_path / "gw.j") as uplink,
    ):

        def stream() -> None:
            while not stop.is_set():
                now = time.time()
                uplink.submit([ble_sighting(p.eid_at(now), at_s=now, rssi=-58) for p in (wanda, other)])
                stop.wait(0.5)

        streamer = threading.Thread(target=stream, daemon=True)
        streamer.start()
        try:
            assert wait_for(lambda: rows_of(wanda_key)["presence_current"] == 1, timeout=20)
            withdrawn_at = time.monotonic()
            consent.decide(
                conn,
                keyring=keyring(settings),
                student_id=wanda.student.student_id,
                purpose="location_tracking",
                granted=False,
                actor_name="Wanda's father",
                role=DeciderRole.GUARDIAN,
                now=datetime.now(UTC),
                self_consent_age=settings.self_consent_age,
                recheck_s=settings.erasure_recheck_s,
            )
            assert wait_for(
                lambda: not ingest._consents.allows(wanda_key, Purpose.LOCATION_TRACKING), timeout=5
            )
            latency = time.monotonic() - withdrawn_at
            assert latency < 5, f"ingest took {latency:.1f} s to apply the withdrawal"
            # Ingest forgot her live state, and drops her new sightings.
            assert wait_for(lambda: all(wanda_key not in s._students for s in ingest._site_state.values()))
            drops = ingest.stats.consent_drops
            assert wait_for(lambda: ingest.stats.consent_drops >= drops + 3)
            # The second pass has run (ingest's writer runs due passes) and nothing came back.
            assert wait_for(
                lambda: conn.execute("SELECT count(*) FROM pending_erasures").fetchone() == (0,), timeout=15
            )
            time.sleep(1.0)
            assert rows_of(wanda_key) == {
                "presence": 0,
                "zone_transitions": 0,
                "presence_current": 0,
                "attendance_taps": 0,
            }
            assert (
                rows_of(other.student.student_key)["presence_current"] == 1
            )  # the other student is still tracked
        finally:
            stop.set()
            streamer.join(timeout=5)
    assert erasure.check_erasure(conn, student_id=wanda.student.student_id).ok
    out = run_cli(
        settings, monkeypatch, capsys, "consent", "verify-erasure", "--student", str(wanda.student.student_id)
    )
    assert out.code == 0, out.out
    passes = conn.execute(
        "SELECT actor, detail->>'pass' FROM audit_log WHERE action = 'erasure.location' ORDER BY seq"
    ).fetchall()
    assert passes == [("campus-erasure", "immediate"), ("campus-erasure", "recheck")]
