"""Ingest workers partition by site: a second worker for the same site waits for the lease."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from campus.broker import LocalBroker
from campus.settings import Settings
from ingest import service
from ingest.service import IngestService, SiteBusyError
from tests.builders import add_site, running_ingest
from tests.conftest import make_settings

pytestmark = pytest.mark.servers


def test_second_worker_for_a_site_is_refused(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "LEASE_WAIT_S", 1.0)
    with running_ingest(settings):
        second = IngestService(settings, instance="second")
        with pytest.raises(SiteBusyError, match=settings.site_id):
            second.run(threading.Event())


def test_workers_for_different_sites_run_side_by_side(
    conn,
    database_url: str,
    broker: LocalBroker,
    settings: Settings,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    other: Settings = make_settings(
        database_url=database_url,
        broker=broker,
        site_id=settings.site_id + "b",
        data_dir=tmp_path,
        pseudonym_key=settings.pseudonym_key.get_secret_value(),
        master_key=settings.master_key.get_secret_value(),
    )
    add_site(conn, settings.site_id)
    add_site(conn, other.site_id)
    with running_ingest(settings, instance="a") as a, running_ingest(other, instance="b") as b:
        assert a.sites == (settings.site_id,) and b.sites == (other.site_id,)
