"""Builders with keyword defaults for test data, and a running ingest worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from campus import signing, wire
from campus.mqtt import broker_address
from campus.settings import Settings
from gateway.enrollment import GatewayPlacementSpec, register_public_key
from gateway.journal import Journal
from gateway.uplink import Uplink
from ingest.service import IngestService
from privacy import eid, enrolment
from privacy.enrolment import EnrolledStudent


def add_site(conn: psycopg.Connection, site_id: str, *, name: str = "Test School") -> None:
    conn.execute("INSERT INTO sites (site_id, name) VALUES (%s, %s) ON CONFLICT DO NOTHING", (site_id, name))


def add_gateway(
    conn: psycopg.Connection, site_id: str, *, gateway_id: str = "gw-1", zone_id: str | None = "room-1"
) -> Ed25519PrivateKey:
    key = signing.generate_private_key()
    register_public_key(
        conn,
        gateway_id=gateway_id,
        site_id=site_id,
        public_key=signing.public_key_bytes(key),
        placement=GatewayPlacementSpec(zone_id=zone_id),
    )
    return key


@dataclass(frozen=True)
class BadgedStudent:
    student: EnrolledStudent
    badge_key: bytes

    def eid_at(self, unix_s: float, rotation_s: int = eid.DEFAULT_ROTATION_S) -> str:
        return eid.eid(self.badge_key, eid.window_index(unix_s, rotation_s)).hex()


def add_student(
    conn: psycopg.Connection,
    settings: Settings,
    *,
    consents: tuple[str, ...] = ("location_tracking",),
    year_group: int = 7,
) -> BadgedStudent:
    student = enrolment.enrol_student(
        conn, site_id=settings.site_id, pseudonym_key=settings.pseudonym_key_bytes, year_group=year_group
    )
    key = enrolment.issue_eid_badge(conn, student=student, master_key=settings.master_key_bytes)
    for purpose in consents:
        enrolment.record_consent(
            conn,
            student_ids=[student.student_id],
            purpose=purpose,
            granted=True,
            actor="guardian-test",
            actor_role="guardian",
        )
    return BadgedStudent(student, key)


def ble_sighting(
    badge_id: str, *, at_s: float | None = None, rssi: int = -60, count: int = 3
) -> wire.Sighting:
    at_ms = int((at_s if at_s is not None else time.time()) * 1000)
    return wire.Sighting(
        kind=wire.SightingKind.BLE_EID,
        id=badge_id,
        first_ms=at_ms - 1000,
        last_ms=at_ms,
        count=count,
        rssi_max=rssi,
        rssi_median=rssi - 3,
    )


@contextmanager
def running_ingest(settings: Settings, **kwargs: object) -> Iterator[IngestService]:
    service = IngestService(settings, **kwargs)  # type: ignore[arg-type]
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()
    assert service.ready.wait(15), "ingest did not start"
    assert service._link is not None
    assert service._link.wait_connected(10), "ingest did not connect to the broker"
    try:
        yield service
    finally:
        stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive(), "ingest did not stop"


@contextmanager
def running_uplink(
    settings: Settings,
    key: Ed25519PrivateKey,
    *,
    gateway_id: str = "gw-1",
    journal_path: Path,
    **kwargs: object,
) -> Iterator[Uplink]:
    uplink = Uplink(
        gateway_id=gateway_id,
        site=settings.site_id,
        key=key,
        journal=Journal(journal_path),
        address=broker_address(settings),
        **kwargs,
    )  # type: ignore[arg-type]
    uplink.start()
    assert uplink.link.wait_connected(10), "gateway did not connect to the broker"
    try:
        yield uplink
    finally:
        uplink.close()
        uplink.journal.close()


def wait_for(condition: Callable[[], bool], *, timeout: float = 15.0, interval: float = 0.05) -> bool:
    """Poll ``condition`` until true or ``timeout``; bounded, never forever."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
