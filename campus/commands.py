"""Kernel subcommands: ``db migrate``, ``db status``, ``settings``, ``status``, ``site add``."""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.request
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from campus import db
from campus.cli import print_json
from campus.mqtt import apply_credentials, broker_address
from campus.settings import Settings

__all__ = ["register"]

# An ingest worker that has not written its heartbeat in this long is down
# (it writes every 2 s).
INGEST_STALE_S = 10.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dbp = sub.add_parser("db", help="database schema")
    dbsub = dbp.add_subparsers(dest="db_command", required=True)
    p = dbsub.add_parser("migrate", help="apply all pending migrations")
    p.set_defaults(handler=_migrate)
    p = dbsub.add_parser("status", help="show applied and pending migrations; exit 1 if any is pending")
    p.set_defaults(handler=_db_status)

    p = sub.add_parser("settings", help="print the effective settings (secrets omitted)")
    p.set_defaults(handler=_settings)

    p = sub.add_parser(
        "status", help="check the broker, the database, ingest and the API; exit 1 if any is down"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_status)

    site = sub.add_parser("site", help="sites (schools)")
    sitesub = site.add_subparsers(dest="site_command", required=True)
    p = sitesub.add_parser("add", help="add a site, or rename it if it exists")
    p.add_argument("site_id")
    p.add_argument("--name", required=True)
    p.add_argument("--timezone", default="Europe/London")
    p.set_defaults(handler=_site_add)


def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    with db.connect(settings.dsn):
        pass  # a clear error if the database is unreachable, before Alembic's traceback
    db.migrate(settings.dsn)
    status = db.migration_status(settings.dsn)
    print(f"database at revision {status.current} (head {status.head})")
    return 0


def _db_status(_args: argparse.Namespace, settings: Settings) -> int:
    status = db.migration_status(settings.dsn)
    with db.connect(settings.dsn) as conn:
        version, licence = db.timescaledb_info(conn)
    print(f"current revision: {status.current or '(none)'}")
    print(f"head revision:    {status.head}")
    print(f"pending:          {', '.join(status.pending) or 'none'}")
    print(f"timescaledb:      {version or 'not installed'}{f' ({licence} licence)' if licence else ''}")
    return 0 if status.up_to_date else 1


def _settings(_args: argparse.Namespace, settings: Settings) -> int:
    print_json(settings.public_view())
    return 0


def _site_add(args: argparse.Namespace, settings: Settings) -> int:
    with db.connect(settings.dsn) as conn, conn.transaction():
        conn.execute(
            """INSERT INTO sites (site_id, name, timezone) VALUES (%s, %s, %s)
               ON CONFLICT (site_id) DO UPDATE SET name = EXCLUDED.name, timezone = EXCLUDED.timezone""",
            (args.site_id, args.name, args.timezone),
        )
    print(f"site {args.site_id} ready")
    return 0


# -- status -------------------------------------------------------------------
def check_broker(settings: Settings) -> dict[str, Any]:
    """Connect with MQTT 5 and wait for the CONNACK."""
    address = f"mqtt://{settings.mqtt_host}:{settings.mqtt_port}"
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"campus-status-{os.getpid()}", protocol=paho.MQTTv5
    )
    apply_credentials(client, broker_address(settings))
    outcome: dict[str, Any] = {}
    client.on_connect = lambda _c, _u, _f, reason, _p: outcome.update(reason=reason)
    try:
        client.connect(settings.mqtt_host, settings.mqtt_port, keepalive=5)
        deadline = time.monotonic() + 3
        while "reason" not in outcome and time.monotonic() < deadline:
            client.loop(timeout=0.1)
        client.disconnect()
    except OSError as exc:
        return {"up": False, "address": address, "error": exc.strerror or str(exc)}
    reason = outcome.get("reason")
    if reason is None:
        return {"up": False, "address": address, "error": "no CONNACK within 3 s"}
    if reason.is_failure:
        return {"up": True, "address": address, "note": f"broker refused this client: {reason}"}
    return {"up": True, "address": address}


def check_database(settings: Settings) -> dict[str, Any]:
    try:
        with db.connect(settings.dsn) as conn:
            version, licence = db.timescaledb_info(conn)
            rows = conn.execute(
                "SELECT instance, seen_at, stats FROM service_heartbeats WHERE service = 'ingest'"
            ).fetchall()
        migrations = db.migration_status(settings.dsn)
    except db.DatabaseError as exc:
        return {
            "database": {"up": False, "error": str(exc)},
            "ingest": {"up": False, "error": "database unreachable"},
        }
    now = datetime.now(UTC)
    workers = [
        {"instance": inst, "age_s": round((now - seen).total_seconds(), 1), "stats": stats}
        for inst, seen, stats in rows
        if (now - seen).total_seconds() < INGEST_STALE_S
    ]
    database = {
        "up": True,
        "timescaledb": version,
        "licence": licence,
        "migrations": "up to date" if migrations.up_to_date else f"pending: {', '.join(migrations.pending)}",
    }
    ingest = {"up": bool(workers), "workers": workers}
    return {"database": database, "ingest": ingest}


def check_api(settings: Settings) -> dict[str, Any]:
    url = f"http://{settings.api_host}:{settings.api_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body = json.loads(response.read())
    except (OSError, ValueError) as exc:
        return {"up": False, "address": url, "error": str(exc)}
    return {"up": body.get("status") == "ok", "address": url}


def _status(args: argparse.Namespace, settings: Settings) -> int:
    report = {"broker": check_broker(settings), **check_database(settings), "api": check_api(settings)}
    if args.json:
        print(json.dumps(report, default=str))
    else:
        for name in ("broker", "database", "ingest", "api"):
            part = report[name]
            detail = part.get("address") or part.get("timescaledb") or ""
            if name == "database" and part.get("up"):
                detail = (
                    f"TimescaleDB {part['timescaledb']} ({part['licence']}), migrations {part['migrations']}"
                )
            if name == "ingest" and part.get("up"):
                detail = ", ".join(f"{w['instance']} (seen {w['age_s']} s ago)" for w in part["workers"])
            state = "up  " if part.get("up") else "DOWN"
            print(f"{name:9} {state} {detail} {part.get('error', '')}".rstrip())
    return 0 if all(report[name].get("up") for name in ("broker", "database", "ingest", "api")) else 1
