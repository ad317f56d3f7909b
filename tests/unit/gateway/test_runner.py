"""The gateway's aggregation loop with the simulated backend and a fake uplink (no servers).

The fake stands in for :class:`gateway.uplink.Uplink` through the small
``BatchUplink`` protocol; it keeps what would be journalled, encoded exactly
as the real uplink encodes it, so the tests can look for identifiers in it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from campus import wire
from gateway import frames
from gateway.backends.sim import SimulatedBackend
from gateway.errors import BackendError
from gateway.models import Advert, CardRead
from gateway.runner import MAX_SIGHTINGS_PER_MESSAGE, Gateway
from gateway.uplink import encode_body
from privacy.pseudonyms import static_badge_hash

HASH_KEY = bytes(range(32))
T0 = 1_795_339_200_000  # a window boundary for 1,500 ms windows
PHONE_MAC = "5A:3C:11:22:33:44"


class FakeUplink:
    gateway_id = "gw-test"

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.batches: list[list[wire.Sighting]] = []
        self.started = self.closed = False
        self.scan_rate: Callable[[], float] = lambda: 0.0

    def start(self) -> None:
        self.started = True

    def close(self) -> None:
        self.closed = True

    def submit(self, sightings: list[wire.Sighting]) -> None:
        self.batches.append(sightings)
        self.bodies.append(encode_body(sightings))

    def set_scan_rate(self, source: Callable[[], float]) -> None:
        self.scan_rate = source


def make(window_ms: int = 1500) -> tuple[Gateway, SimulatedBackend, FakeUplink]:
    uplink, backend = FakeUplink(), SimulatedBackend()
    gateway = Gateway(uplink=uplink, backend=backend, badge_hash_key=HASH_KEY, window_ms=window_ms)
    gateway.start()
    return gateway, backend, uplink


def phone(at_ms: int) -> Advert:
    return Advert(
        received_ms=at_ms,
        address=PHONE_MAC,
        rssi=-40,
        manufacturer_data={0x004C: bytes.fromhex("1005031c7e0a11")},
        service_data={},
    )


def test_badges_are_aggregated_per_window_and_phones_dropped() -> None:
    gateway, backend, uplink = make()
    assert uplink.started
    for i in range(30):  # 3 s of adverts every 100 ms from two badges, and a phone
        at = T0 + i * 100
        backend.push_advert(
            frames.badge_advert(
                eid=b"\x01" * 8, received_ms=at, address="C0:00:00:00:00:01", rssi=-60 - i % 3
            )
        )
        backend.push_advert(
            frames.badge_advert(eid=b"\x02" * 8, received_ms=at, address="C0:00:00:00:00:02", rssi=-75)
        )
        backend.push_advert(phone(at))
    assert gateway.poll(T0 + 1499) == 0
    assert uplink.batches == []
    assert gateway.poll(T0 + 3000) == 4  # two windows x two badges, one batch
    assert len(uplink.batches) == 1
    first = uplink.batches[0][0]
    assert (first.id, first.first_ms, first.last_ms, first.count) == ("01" * 8, T0, T0 + 1400, 15)
    assert (first.rssi_max, first.rssi_median) == (-60, -61)
    stats = gateway.stats
    assert (stats.adverts, stats.non_badge_dropped, stats.sightings, stats.batches) == (90, 30, 4, 1)
    assert not any(PHONE_MAC.encode() in body or b"C0:00" in body for body in uplink.bodies)


def test_poll_reads_no_clock_simulated_time_drives_everything() -> None:
    gateway, backend, uplink = make()
    hour_ago = T0 - 3_600_000
    backend.push_advert(frames.badge_advert(eid=b"\x03" * 8, received_ms=hour_ago, address="a", rssi=-60))
    assert gateway.poll(hour_ago + 1500) == 1
    assert uplink.batches[0][0].last_ms == hour_ago


def test_a_tap_goes_out_at_once_hashed_and_a_held_card_once() -> None:
    gateway, backend, uplink = make()
    backend.push_card(CardRead(received_ms=T0, card="0009124672"))
    assert len(uplink.batches) == 1  # no poll needed
    (tap,) = uplink.batches[0]
    expected = static_badge_hash(HASH_KEY, kind="rfid", identifier="0009124672").hex()
    assert (tap.kind, tap.id, tap.first_ms, tap.last_ms, tap.count, tap.rssi_max) == (
        wire.SightingKind.RFID,
        expected,
        T0,
        T0,
        1,
        None,
    )
    backend.push_card(CardRead(received_ms=T0 + 200, card="0009124672"))  # the reader repeats it
    backend.push_card(CardRead(received_ms=T0 + 300, card="---"))
    assert len(uplink.batches) == 1
    assert (gateway.stats.taps, gateway.stats.repeat_taps, gateway.stats.bad_cards) == (1, 1, 1)
    assert not any(b"0009124672" in body or b"9124672" in body for body in uplink.bodies)


def test_bad_clock_and_malformed_frames_are_counted_not_sent() -> None:
    gateway, backend, uplink = make()
    backend.push_advert(
        frames.badge_advert(eid=b"\x04" * 8, received_ms=5_000, address="a", rssi=-60)
    )  # 1970
    backend.push_card(CardRead(received_ms=5_000, card="0009124672"))
    broken = Advert(
        received_ms=T0,
        address="b",
        rssi=-60,
        manufacturer_data={},
        service_data={frames.BADGE_SERVICE_UUID: b"\x01"},
    )
    backend.push_advert(broken)
    assert gateway.poll(T0 + 10_000) == 0
    assert uplink.batches == []
    assert (gateway.stats.bad_clock, gateway.stats.malformed, gateway.stats.adverts) == (2, 1, 2)


def test_a_crowd_is_split_into_messages_ingest_accepts() -> None:
    gateway, backend, uplink = make()
    crowd = MAX_SIGHTINGS_PER_MESSAGE + 5
    for i in range(crowd):
        backend.push_advert(
            frames.badge_advert(eid=i.to_bytes(8, "big"), received_ms=T0 + 1, address="a", rssi=-60)
        )
    assert gateway.poll(T0 + 1500) == crowd
    assert [len(b) for b in uplink.batches] == [MAX_SIGHTINGS_PER_MESSAGE, 5]
    assert max(len(body) for body in uplink.bodies) < 200 * 1024
    assert gateway.stats.batches == 2


def test_close_flushes_open_windows_and_stops_everything() -> None:
    gateway, backend, uplink = make()
    backend.push_advert(frames.badge_advert(eid=b"\x05" * 8, received_ms=T0 + 10, address="a", rssi=-60))
    gateway.close()
    assert [s.id for s in uplink.batches[0]] == ["05" * 8]
    assert uplink.closed
    with pytest.raises(BackendError):  # the backend is stopped: nothing more is taken in
        backend.push_advert(phone(T0))
    gateway.close()  # idempotent
    assert len(uplink.batches) == 1


def test_scan_rate_is_measured_on_event_time() -> None:
    gateway, backend, uplink = make()
    gateway.poll(T0)
    for i in range(100):
        backend.push_advert(phone(T0 + i * 50))  # 20 adverts per second, for 5 s
    gateway.poll(T0 + 5_000)
    assert uplink.scan_rate() == pytest.approx(20.0)


def test_run_polls_on_the_clock_until_stopped() -> None:
    gateway, backend, uplink = make(window_ms=200)
    stop = threading.Event()
    now_ms = int(time.time() * 1000)
    backend.push_advert(frames.badge_advert(eid=b"\x06" * 8, received_ms=now_ms, address="a", rssi=-60))
    runner = threading.Thread(target=gateway.run, args=(stop,), daemon=True)
    runner.start()
    deadline = time.monotonic() + 5
    while not uplink.batches and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    runner.join(timeout=2)
    assert not runner.is_alive()
    assert [s.id for s in uplink.batches[0]] == ["06" * 8]
