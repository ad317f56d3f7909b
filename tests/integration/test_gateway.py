"""The real gateway end to end: simulated backend -> Gateway -> journal -> real broker -> real ingest.

Badge adverts become presence, a card tap becomes attendance evidence, the
journal is trimmed by ingest's committed acks, and nothing identifying (a
card number, a phone's or a badge's address) appears in anything published.
A gateway signing with another gateway's key, and a forged status, are
rejected by ingest.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as paho
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from campus import signing, topics, wire
from campus.mqtt import broker_address
from campus.settings import Settings
from gateway.backends.sim import SimulatedBackend
from gateway.frames import badge_advert
from gateway.journal import Journal
from gateway.models import Advert, CardRead
from gateway.runner import Gateway
from gateway.uplink import Uplink
from privacy.enrolment import issue_static_badge
from privacy.pseudonyms import site_badge_hash_key, static_badge_hash
from tests.builders import add_gateway, add_site, add_student, running_ingest, wait_for
from tests.integration.test_slice import publish_raw

pytestmark = pytest.mark.servers

CARD = "0009124672"
BADGE_MAC = "C0:FF:EE:12:34:56"
PHONE_MAC = "5A:3C:9E:AB:CD:EF"


class Spy:
    """Everything published under the site's topics, as a third party on the broker sees it."""

    def __init__(self, settings: Settings) -> None:
        self.payloads: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
        self._client.on_message = self._on_message
        self._client.connect(settings.mqtt_host, settings.mqtt_port)
        subscribed = threading.Event()
        self._client.on_subscribe = lambda *_: subscribed.set()
        self._client.loop_start()
        self._client.subscribe(f"{topics.PREFIX}/{settings.site_id}/#", qos=1)
        assert subscribed.wait(5), "spy did not subscribe"

    def _on_message(self, _client: object, _userdata: object, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.payloads.append((message.topic, bytes(message.payload)))

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()

    def seen(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.payloads)


@contextmanager
def running_gateway(
    settings: Settings,
    key: Ed25519PrivateKey,
    *,
    gateway_id: str,
    journal_path: Path,
    hash_key: bytes,
    resend_after_s: float = 10.0,
) -> Iterator[tuple[Gateway, SimulatedBackend, Uplink]]:
    journal = Journal(journal_path)
    uplink = Uplink(
        gateway_id=gateway_id,
        site=settings.site_id,
        key=key,
        journal=journal,
        address=broker_address(settings),
        firmware="campus-gateway/test",
        resend_after_s=resend_after_s,
    )
    backend = SimulatedBackend()
    gateway = Gateway(uplink=uplink, backend=backend, badge_hash_key=hash_key)
    gateway.start()
    try:
        assert uplink.link.wait_connected(10), "gateway did not connect to the broker"
        yield gateway, backend, uplink
    finally:
        gateway.close()
        journal.close()


def test_simulated_badges_and_taps_reach_ingest_and_no_identifier_is_published(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path
) -> None:
    site = settings.site_id
    add_site(conn, site)
    key = add_gateway(conn, site, gateway_id="gw-1", zone_id="room-1")
    alice = add_student(conn, settings)  # a rotating-id badge; location consent
    bob = add_student(conn, settings, consents=("automatic_attendance",))  # a card; attendance only
    hash_key = site_badge_hash_key(settings.master_key_bytes, site)
    issue_static_badge(
        conn,
        student=bob.student,
        kind="rfid",
        static_hash=static_badge_hash(hash_key, kind="rfid", identifier=CARD),
    )
    spy = Spy(settings)
    try:
        with (
            running_ingest(settings) as ingest,
            running_gateway(
                settings, key, gateway_id="gw-1", journal_path=tmp_path / "gw.journal", hash_key=hash_key
            ) as (gateway, backend, uplink),
        ):
            # The last 15 s, as the simulator would drive it: adverts every 100 ms, a poll per window.
            start_ms = (int(time.time() * 1000) - 16_500) // 1500 * 1500
            for step in range(150):
                at_ms = start_ms + step * 100
                broadcast = bytes.fromhex(alice.eid_at(at_ms / 1000))
                backend.push_advert(
                    badge_advert(eid=broadcast, received_ms=at_ms, address=BADGE_MAC, rssi=-55)
                )
                backend.push_advert(
                    Advert(
                        received_ms=at_ms,
                        address=PHONE_MAC,
                        rssi=-45,
                        manufacturer_data={0x004C: bytes.fromhex("1005031c7e0a11")},
                        service_data={},
                    )
                )
                gateway.poll(at_ms)
            backend.push_card(CardRead(received_ms=start_ms + 15_000, card=CARD))
            gateway.poll(start_ms + 15_000)

            assert wait_for(lambda: uplink.journal.depth() == 0), "the journal was never trimmed by acks"
            assert wait_for(lambda: ingest.stats.transitions >= 1)
            assert gateway.stats.taps == 1 and gateway.stats.non_badge_dropped == 150
            assert gateway.stats.sightings == 10  # one per 1.5 s window
            assert ingest.stats.unknown_badges == 0 and ingest.stats.rejected == {}
            assert ingest.stats.attendance_taps == 1
            current = conn.execute("SELECT student_key, zone_id FROM presence_current").fetchall()
            assert current == [(alice.student.student_key, "room-1")]
            taps = conn.execute("SELECT student_key, zone_id, gateway_id FROM attendance_taps").fetchall()
            assert taps == [(bob.student.student_key, "room-1", "gw-1")]
            # Same host, same clock: the estimate is the fastest ack's delivery time.
            assert uplink.stats.acked > 0
            assert 0 <= uplink.clock_offset_ms < 2_000
    finally:
        spy.close()

    published = spy.seen()
    sightings = [p for t, p in published if t.endswith("/sightings")]
    assert len(sightings) >= 11  # ten windows and a tap, each signed and sent
    everything = b"\n".join(p for _, p in published)
    for secret in (CARD, BADGE_MAC, PHONE_MAC, BADGE_MAC.replace(":", ""), PHONE_MAC.replace(":", "")):
        assert secret.encode() not in everything
        assert secret.lower().encode() not in everything


def test_foreign_key_batches_and_forged_status_are_rejected(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path
) -> None:
    site = settings.site_id
    add_site(conn, site)
    add_gateway(conn, site, gateway_id="gw-1", zone_id="room-1")
    other_key = add_gateway(conn, site, gateway_id="gw-2", zone_id="room-2")
    alice = add_student(conn, settings)
    hash_key = site_badge_hash_key(settings.master_key_bytes, site)

    status_topic = topics.status(site, "gw-1")

    def refused(topic: str) -> int:
        return conn.execute(
            "SELECT count(*) FROM dead_letters WHERE topic = %s AND reason = 'bad_signature'", (topic,)
        ).fetchone()[0]

    with running_ingest(settings) as ingest:
        # A gateway that claims to be gw-1 but holds gw-2's key: every batch and status it signs is refused.
        with running_gateway(
            settings,
            other_key,
            gateway_id="gw-1",
            journal_path=tmp_path / "impostor.journal",
            hash_key=hash_key,
            resend_after_s=120.0,
        ) as (gateway, backend, uplink):
            now_ms = int(time.time() * 1000)
            backend.push_advert(
                badge_advert(
                    eid=bytes.fromhex(alice.eid_at(now_ms / 1000)), received_ms=now_ms, address="x", rssi=-50
                )
            )
            assert gateway.poll(now_ms + 1500) == 1
            assert wait_for(lambda: refused(topics.sightings(site, "gw-1")) == 1)
            assert uplink.journal.depth() == 1  # never acknowledged, so kept
            assert uplink.stats.acked == 0
        assert wait_for(lambda: refused(status_topic) == 2)  # its online status, and offline at close

        # A status for gw-1 forged with gw-2's key, published directly.
        forged = wire.encode(
            wire.GatewayStatus(
                v=1,
                site=site,
                gateway="gw-1",
                state=wire.GatewayState.ONLINE,
                boot=99,
                sent_at_ms=int(time.time() * 1000),
                firmware="forged",
            )
        )
        publish_raw(
            settings, status_topic, forged, sig=signing.sign(other_key, topic=status_topic, payload=forged)
        )
        assert wait_for(lambda: refused(status_topic) == 3)
        assert ingest.stats.rejected == {"bad_signature": 4}

        # gw-2's own status, signed with its own key, is accepted.
        with running_gateway(
            settings, other_key, gateway_id="gw-2", journal_path=tmp_path / "gw2.journal", hash_key=hash_key
        ):
            assert wait_for(
                lambda: (
                    conn.execute("SELECT count(*) FROM gateway_status WHERE gateway_id = 'gw-2'").fetchone()[
                        0
                    ]
                    == 1
                )
            )
    rows = conn.execute("SELECT gateway_id, firmware FROM gateway_status ORDER BY gateway_id").fetchall()
    assert rows == [("gw-2", "campus-gateway/test")]  # nothing of gw-1's impostors was stored
    reasons = {r for (r,) in conn.execute("SELECT reason FROM dead_letters")}
    assert reasons == {"bad_signature"}


def _stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    out, err = process.communicate(timeout=30)
    return out + err


def test_campus_gateway_run_publishes_status_and_stops_cleanly(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path
) -> None:
    """``campus gateway run --config FILE`` as its own process, stopped with SIGTERM."""
    site = settings.site_id
    add_site(conn, site)
    key = add_gateway(conn, site, gateway_id="gw-cli")
    (tmp_path / "gw-cli.key").write_text(signing.private_key_bytes(key).hex())
    config = tmp_path / "gw-cli.toml"
    config.write_text(
        f'gateway_id = "gw-cli"\nsite = "{site}"\nprivate_key_file = "gw-cli.key"\n'
        f'badge_hash_key = "{"ab" * 32}"\n'
        f'[broker]\nhost = "{settings.mqtt_host}"\nport = {settings.mqtt_port}\n'
        '[journal]\npath = "gw-cli.journal"\n[scanner]\nkind = "sim"\n'
    )
    (tmp_path / "none.toml").write_text("")
    with running_ingest(settings):
        process = subprocess.Popen(
            [sys.executable, "-m", "campus.cli", "gateway", "run", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"CAMPUS_CONFIG": str(tmp_path / "none.toml"), "PATH": "/usr/bin:/bin"},
        )
        try:
            assert wait_for(
                lambda: (
                    conn.execute("SELECT state FROM gateway_status WHERE gateway_id = 'gw-cli'").fetchone()
                    == ("online",)
                )
            ), f"the gateway's signed online status never reached ingest: {_stop(process)}"
        finally:
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err
        assert "gateway gw-cli stopped" in out
        # A clean stop says "offline" itself (the last will fires only on an unclean one).
        assert wait_for(
            lambda: (
                conn.execute("SELECT state FROM gateway_status WHERE gateway_id = 'gw-cli'").fetchone()
                == ("offline",)
            )
        )
