"""The thin end-to-end slice over the real broker and database.

An enrolled gateway publishes a signed batch; ingest verifies it, writes
presence rows and acknowledges the commit; the gateway trims its journal.
Forged, unknown and malformed messages write nothing, are counted with a
reason, and do not stop ingest.
"""

from __future__ import annotations

import time
from pathlib import Path

import paho.mqtt.client as paho
import psycopg
import pytest

from campus import signing, topics, wire
from campus.mqtt import user_properties
from campus.settings import Settings
from gateway.uplink import Uplink
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

pytestmark = pytest.mark.servers


def presence_rows(conn: psycopg.Connection) -> list[tuple[int, str | None, str, str]]:
    return conn.execute(
        "SELECT student_key, zone_id, source, gateway_id FROM presence ORDER BY time"
    ).fetchall()


def publish_raw(settings: Settings, topic: str, payload: bytes, *, sig: str | None) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    client.connect(settings.mqtt_host, settings.mqtt_port)
    client.loop_start()
    info = client.publish(topic, payload, qos=1, properties=user_properties({"sig": sig}) if sig else None)
    info.wait_for_publish(timeout=5)
    client.loop_stop()
    client.disconnect()


def signed_batch_payload(
    settings: Settings, *, gateway_id: str, seq: int, sightings: list[wire.Sighting]
) -> bytes:
    return wire.encode(
        wire.SightingBatch(
            v=1,
            site=settings.site_id,
            gateway=gateway_id,
            boot=1,
            seq=seq,
            sent_at_ms=int(time.time() * 1000),
            sightings=sightings,
        )
    )


def stream(
    uplink: Uplink, badges: list[BadgedStudent], *, seconds: int, rssi: int = -55, unknown: bool = False
) -> None:
    """A gateway's reports over the last ``seconds``: one batch per 1.5 s window."""
    now = time.time()
    for i in range(seconds * 2 // 3, 0, -1):
        at = now - i * 1.5
        batch = [ble_sighting(b.eid_at(at), at_s=at, rssi=rssi) for b in badges]
        if unknown:
            batch.append(ble_sighting("00112233445566ff", at_s=at))
        uplink.submit(batch)


def test_signed_batch_is_committed_and_acknowledged(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path
) -> None:
    add_site(conn, settings.site_id)
    key = add_gateway(conn, settings.site_id, gateway_id="gw-1", zone_id="room-1")
    alice = add_student(conn, settings)

    with (
        running_ingest(settings) as ingest,
        running_uplink(settings, key, journal_path=tmp_path / "gw.journal") as uplink,
    ):
        stream(uplink, [alice], seconds=15, unknown=True)
        assert wait_for(lambda: uplink.journal.depth() == 0), "the gateway never received the committed ack"
        assert wait_for(lambda: ingest.stats.transitions >= 1)
        assert ingest.stats.unknown_badges == ingest.stats.batches == 10
        assert uplink.stats.acked == 10
        progress = conn.execute("SELECT boot, hwm FROM gateway_progress WHERE gateway_id = 'gw-1'").fetchall()
        assert progress == [(uplink.journal.boot, 10)]
        transitions = conn.execute("SELECT student_key, from_zone, to_zone FROM zone_transitions").fetchall()
        assert transitions == [(alice.student.student_key, None, "room-1")]
        rows = presence_rows(conn)
        assert rows and all(r == (alice.student.student_key, "room-1", "estimate", None) for r in rows)
        # Far fewer rows than sightings: a row at the change and every 30 s after.
        assert len(rows) <= 2
        current = conn.execute("SELECT student_key, zone_id FROM presence_current").fetchall()
        assert current == [(alice.student.student_key, "room-1")]


def test_bad_messages_write_nothing_and_are_counted(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path
) -> None:
    add_site(conn, settings.site_id)
    key = add_gateway(conn, settings.site_id, gateway_id="gw-1")
    alice = add_student(conn, settings)
    topic = topics.sightings(settings.site_id, "gw-1")
    good = [ble_sighting(alice.eid_at(time.time()))]

    with running_ingest(settings) as ingest:
        # 1. Signed by another key.
        payload = signed_batch_payload(settings, gateway_id="gw-1", seq=1, sightings=good)
        publish_raw(
            settings,
            topic,
            payload,
            sig=signing.sign(signing.generate_private_key(), topic=topic, payload=payload),
        )
        # 2. A gateway nobody enrolled, signing with its own key.
        rogue_topic = topics.sightings(settings.site_id, "gw-rogue")
        rogue = signed_batch_payload(settings, gateway_id="gw-rogue", seq=1, sightings=good)
        publish_raw(
            settings,
            rogue_topic,
            rogue,
            sig=signing.sign(signing.generate_private_key(), topic=rogue_topic, payload=rogue),
        )
        # 3. Correctly signed, but not a valid body.
        malformed = b'{"v":1,"site":"x","gateway":'
        publish_raw(settings, topic, malformed, sig=signing.sign(key, topic=topic, payload=malformed))
        # 4. No signature at all.
        publish_raw(settings, topic, payload, sig=None)

        assert wait_for(lambda: sum(ingest.stats.rejected.values()) == 4)
        assert dict(ingest.stats.rejected) == {
            "bad_signature": 1,
            "unknown_gateway": 1,
            "malformed": 1,
            "unsigned": 1,
        }
        assert wait_for(lambda: conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 4)
        reasons = sorted(r for (r,) in conn.execute("SELECT reason FROM dead_letters"))
        assert reasons == ["bad_signature", "malformed", "unknown_gateway", "unsigned"]
        assert presence_rows(conn) == []
        assert conn.execute("SELECT count(*) FROM ingest_batches").fetchone()[0] == 0

        # Ingest is still running and accepts a good batch afterwards.
        good_payload = signed_batch_payload(settings, gateway_id="gw-1", seq=1, sightings=good)
        publish_raw(settings, topic, good_payload, sig=signing.sign(key, topic=topic, payload=good_payload))
        assert wait_for(lambda: ingest.stats.batches == 1)
        assert wait_for(lambda: conn.execute("SELECT count(*) FROM ingest_batches").fetchone()[0] == 1)
        # The same batch again is absorbed as a duplicate, not committed twice.
        publish_raw(settings, topic, good_payload, sig=signing.sign(key, topic=topic, payload=good_payload))
        assert wait_for(lambda: ingest.stats.duplicates == 1)
        assert ingest.stats.batches == 1


def test_student_without_consent_is_not_stored(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path
) -> None:
    add_site(conn, settings.site_id)
    key = add_gateway(conn, settings.site_id)
    bob = add_student(conn, settings, consents=())
    with (
        running_ingest(settings) as ingest,
        running_uplink(settings, key, journal_path=tmp_path / "gw.journal") as uplink,
    ):
        uplink.submit([ble_sighting(bob.eid_at(time.time()))])
        assert wait_for(lambda: uplink.journal.depth() == 0)
        assert ingest.stats.consent_drops == 1
        assert presence_rows(conn) == []
