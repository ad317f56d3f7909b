"""Shared set-up and accounting for the fault-injection tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

from campus import signing
from campus.settings import Settings
from tests.builders import add_gateway, add_site, add_student
from tests.load import GatewaySpec, published_by_boot

OUTAGE_S = float(os.environ.get("CAMPUS_TEST_OUTAGE_S", "60"))


def provision_fleet(
    conn: psycopg.Connection, settings: Settings, *, gateways: int = 4, students: int = 8
) -> list[GatewaySpec]:
    add_site(conn, settings.site_id)
    specs = []
    for g in range(gateways):
        gateway_id = f"gw-{g}"
        key = add_gateway(conn, settings.site_id, gateway_id=gateway_id, zone_id=f"room-{g}")
        badges = [add_student(conn, settings).badge_key.hex() for _ in range(students)]
        specs.append(GatewaySpec(gateway_id, signing.private_key_bytes(key).hex(), tuple(badges)))
    return specs


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment for a `campus` subprocess with exactly these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMPUS_")}
    env.update(
        CAMPUS_CONFIG=os.environ["CAMPUS_CONFIG"],
        CAMPUS_ENVIRONMENT=settings.environment.value,
        CAMPUS_DATABASE_URL=settings.dsn,
        CAMPUS_MQTT_HOST=settings.mqtt_host,
        CAMPUS_MQTT_PORT=str(settings.mqtt_port),
        CAMPUS_SITE_ID=settings.site_id,
        CAMPUS_PSEUDONYM_KEY=settings.pseudonym_key.get_secret_value(),
        CAMPUS_MASTER_KEY=settings.master_key.get_secret_value(),
        CAMPUS_FLUSH_INTERVAL_MS=str(settings.flush_interval_ms),
        CAMPUS_DATA_DIR=str(settings.data_dir),
    )
    return env


def _spawn(argv: list[str], *, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)


def start_ingest_process(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    return _spawn(
        [sys.executable, "-m", "campus.cli", "ingest", "run", "--instance", "fault"],
        log=log,
        env=settings_env(settings),
    )


def start_fleet_process(
    settings: Settings, specs: list[GatewaySpec], journal_dir: Path, log: Path, *, drain_only: bool = False
) -> subprocess.Popen[bytes]:
    spec = {
        "host": settings.mqtt_host,
        "port": settings.mqtt_port,
        "site": settings.site_id,
        "journal_dir": str(journal_dir),
        "interval_s": 0.3,
        "drain_only": drain_only,
        "gateways": [
            {"gateway_id": g.gateway_id, "key_hex": g.key_hex, "badge_keys_hex": list(g.badge_keys_hex)}
            for g in specs
        ],
    }
    path = journal_dir / "spec.json"
    path.write_text(json.dumps(spec))
    return _spawn([sys.executable, "-m", "tests.load", "--spec", str(path)], log=log)


def lost_batches(conn: psycopg.Connection, journal_dir: Path) -> dict[tuple[str, int], int]:
    """Per (gateway, boot): batches the gateway issued that are not committed. Empty means 0 lost."""
    committed: dict[tuple[str, int], int] = {}
    for gateway_id, boot, hwm, above in conn.execute(
        """SELECT p.gateway_id, p.boot, p.hwm, count(b.seq)
           FROM gateway_progress p
           LEFT JOIN ingest_batches b ON b.gateway_id = p.gateway_id AND b.boot = p.boot AND b.seq > p.hwm
           GROUP BY 1, 2, 3"""
    ):
        committed[(gateway_id, boot)] = hwm + above
    return {
        key: issued - committed.get(key, 0)
        for key, issued in published_by_boot(journal_dir).items()
        if issued != committed.get(key, 0)
    }


def duplicate_rows(conn: psycopg.Connection) -> dict[str, int]:
    """Rows stored twice: presence samples and transitions with the same student and time."""
    presence = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM presence GROUP BY student_key, time, source HAVING count(*) > 1) d"
    ).fetchone()
    transitions = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM zone_transitions GROUP BY student_key, time HAVING count(*) > 1) d"
    ).fetchone()
    return {"presence": presence[0] if presence else -1, "transitions": transitions[0] if transitions else -1}
