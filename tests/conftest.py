"""Fixtures: real PostgreSQL/TimescaleDB and Mosquitto, isolated per test.

- ``pg`` (session): a private cluster with a migrated template database.
- ``database_url`` (function): a fresh database cloned from the template.
- ``broker`` (session): a private Mosquitto; tests isolate by a unique site id,
  which is part of every topic.
- ``settings`` (function): a Settings object pointing at both, with random keys.

Nothing reads ``./campus.toml`` or ``CAMPUS_*`` from the developer's shell.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings as hypothesis_settings

from campus.broker import LocalBroker
from campus.settings import Settings
from tests.servers import PostgresCluster, free_port, start_cluster

# The machines these tests run on are small and shared: a property test's
# speed says nothing about its correctness (performance is measured by
# `campus bench`), so Hypothesis' per-example deadline is off.
hypothesis_settings.register_profile("campus", deadline=None)
hypothesis_settings.load_profile("campus")


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment() -> Iterator[None]:
    saved = {k: v for k, v in os.environ.items() if k.startswith("CAMPUS_")}
    for key in saved:
        del os.environ[key]
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as empty:
        os.environ["CAMPUS_CONFIG"] = empty.name
    yield
    Path(empty.name).unlink()
    del os.environ["CAMPUS_CONFIG"]
    os.environ.update(saved)


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresCluster]:
    cluster = start_cluster()
    yield cluster
    cluster.destroy()


@pytest.fixture
def database_url(pg: PostgresCluster) -> Iterator[str]:
    name = pg.create_database()
    yield pg.admin_dsn(name)
    pg.drop_database(name)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    local = LocalBroker(port=free_port(), data_dir=tmp_path_factory.mktemp("mosquitto"), persistence=False)
    local.start()
    yield local
    local.stop()


@pytest.fixture
def site_id() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def make_settings(
    *, database_url: str, broker: LocalBroker, site_id: str, data_dir: Path, **overrides: object
) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "database_url": database_url,
        "mqtt_host": broker.host,
        "mqtt_port": broker.port,
        "site_id": site_id,
        "pseudonym_key": secrets.token_hex(32),
        "master_key": secrets.token_hex(32),
        "data_dir": data_dir,
        "flush_interval_ms": 50,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(database_url: str, broker: LocalBroker, site_id: str, tmp_path: Path) -> Settings:
    return make_settings(database_url=database_url, broker=broker, site_id=site_id, data_dir=tmp_path)
