"""Fault injection on the real servers: nothing journalled is lost, nothing is stored twice.

The outages last ``CAMPUS_TEST_OUTAGE_S`` seconds (60 by default, as the
issues require; set it lower for a quick local run). Loss is counted
exactly: for every gateway and boot, the last sequence number its journal
ever issued against what ingest committed (high-water mark plus committed
seqs above it).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from campus.broker import LocalBroker
from campus.mqtt import broker_address
from campus.settings import Settings
from tests.builders import running_ingest, wait_for
from tests.conftest import make_settings
from tests.integration.faults import (
    OUTAGE_S,
    duplicate_rows,
    lost_batches,
    provision_fleet,
    start_fleet_process,
    start_ingest_process,
)
from tests.load import Fleet, published_by_boot
from tests.servers import PostgresCluster, free_port, start_cluster

pytestmark = [pytest.mark.servers, pytest.mark.slow]
DRAIN_S = 90.0


def test_ingest_killed_under_load_loses_nothing(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path
) -> None:
    specs = provision_fleet(conn, settings)
    log = tmp_path / "ingest.log"
    ingest = start_ingest_process(settings, log)
    fleet = Fleet(
        address=broker_address(settings), site=settings.site_id, gateways=specs, journal_dir=tmp_path
    ).start()
    try:
        assert wait_for(
            lambda: conn.execute("SELECT count(*) FROM ingest_batches").fetchone()[0] > 20, timeout=30
        )
        ingest.send_signal(signal.SIGKILL)
        ingest.wait()
        time.sleep(3)  # gateways keep publishing into the broker meanwhile
        ingest = start_ingest_process(settings, log)
        time.sleep(5)
        fleet.stop_publishing()
        assert wait_for(lambda: fleet.depth() == 0, timeout=DRAIN_S), "journals never drained"
    finally:
        fleet.close()
        ingest.send_signal(signal.SIGTERM)
        ingest.wait(timeout=30)
    assert lost_batches(conn, tmp_path) == {}
    assert duplicate_rows(conn) == {"presence": 0, "transitions": 0}
    assert conn.execute("SELECT count(*) FROM zone_transitions").fetchone()[0] >= len(specs) * 8


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    cluster = start_cluster()
    yield cluster
    cluster.destroy()


@pytest.mark.timeout(600)
def test_database_outage_loses_nothing_and_catches_up(
    own_cluster: PostgresCluster, broker: LocalBroker, site_id: str, tmp_path: Path
) -> None:
    url = own_cluster.admin_dsn(own_cluster.create_database())
    settings = make_settings(database_url=url, broker=broker, site_id=site_id, data_dir=tmp_path)
    with psycopg.connect(url, autocommit=True) as conn:
        specs = provision_fleet(conn, settings)
    journals = tmp_path / "journals"
    journals.mkdir()
    fleet = Fleet(address=broker_address(settings), site=site_id, gateways=specs, journal_dir=journals)
    with running_ingest(settings) as ingest:
        fleet.start()
        try:
            assert wait_for(lambda: ingest.stats.flushes > 10, timeout=30)
            own_cluster.stop("fast")
            time.sleep(OUTAGE_S)
            assert ingest.stats.store_errors > 0
            own_cluster.start()
            restarted = time.monotonic()
            # Catching up: everything published before and during the outage is
            # committed while the fleet keeps publishing at its normal rate.
            backlog_cleared = wait_for(lambda: fleet.depth() <= len(specs) * 2, timeout=2 * OUTAGE_S)
            catch_up_s = time.monotonic() - restarted
            fleet.stop_publishing()
            assert backlog_cleared, f"backlog not cleared within 2x the outage ({2 * OUTAGE_S:.0f} s)"
            assert wait_for(lambda: fleet.depth() == 0, timeout=DRAIN_S)
        finally:
            fleet.close()
    with psycopg.connect(url, autocommit=True) as conn:
        assert lost_batches(conn, journals) == {}
        assert duplicate_rows(conn) == {"presence": 0, "transitions": 0}
    print(f"database outage {OUTAGE_S:.0f} s: caught up in {catch_up_s:.1f} s")


@pytest.mark.timeout(600)
def test_broker_outage_loses_nothing(
    conn: psycopg.Connection, database_url: str, site_id: str, tmp_path: Path
) -> None:
    own_broker = LocalBroker(port=free_port(), data_dir=tmp_path / "mosquitto", persistence=False)
    own_broker.start()
    settings = make_settings(database_url=database_url, broker=own_broker, site_id=site_id, data_dir=tmp_path)
    specs = provision_fleet(conn, settings)
    fleet = Fleet(address=broker_address(settings), site=site_id, gateways=specs, journal_dir=tmp_path)
    try:
        with running_ingest(settings) as ingest:
            fleet.start()
            assert wait_for(lambda: ingest.stats.flushes > 10, timeout=30)
            own_broker.kill()  # a crash: whatever it held in memory is gone
            time.sleep(OUTAGE_S)
            own_broker.start()
            time.sleep(5)
            fleet.stop_publishing()
            assert wait_for(lambda: fleet.depth() == 0, timeout=DRAIN_S), "journals never drained"
    finally:
        fleet.close()
        own_broker.stop()
    assert lost_batches(conn, tmp_path) == {}
    assert duplicate_rows(conn) == {"presence": 0, "transitions": 0}


def test_gateway_killed_mid_stream_loses_nothing(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path
) -> None:
    specs = provision_fleet(conn, settings)
    log = tmp_path / "fleet.log"
    with running_ingest(settings):
        gateways = start_fleet_process(settings, specs, tmp_path, log)
        assert wait_for(
            lambda: conn.execute("SELECT count(*) FROM ingest_batches").fetchone()[0] > 20, timeout=30
        )
        gateways.send_signal(signal.SIGKILL)
        gateways.wait()
        gateways = start_fleet_process(settings, specs, tmp_path, log)  # same journals: a new boot
        time.sleep(5)
        gateways.send_signal(signal.SIGTERM)
        gateways.wait(timeout=30)
        # A third life publishes nothing new and sends what the journals still hold.
        gateways = start_fleet_process(settings, specs, tmp_path, log, drain_only=True)
        try:
            assert wait_for(lambda: lost_batches(conn, tmp_path) == {}, timeout=DRAIN_S), lost_batches(
                conn, tmp_path
            )
        finally:
            gateways.send_signal(signal.SIGTERM)
            gateways.wait(timeout=30)
    assert {boot for (_, boot) in published_by_boot(tmp_path)} == {1, 2}  # the drain-only life issued nothing
    assert duplicate_rows(conn) == {"presence": 0, "transitions": 0}
