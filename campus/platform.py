"""``campus up``: the whole platform in one process on one machine.

Starts, in order: migrations; a local Mosquitto (unless one already answers
on the configured port); an ingest worker; the API; the retention sweeper;
and, unless ``--no-sim``, a simulated campus publishing through real gateway
code. Prints one status line every few seconds and stops everything cleanly
on SIGINT/SIGTERM (ingest flushes what it holds).

Each part can also run as its own process (``campus ingest run``,
``campus api run``, ``campus sim run``); this is the single-machine shape.
"""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from campus import db
from campus.broker import BrokerError, LocalBroker, port_is_open
from campus.cli import CommandError
from campus.logs import get_logger
from campus.settings import Settings

if TYPE_CHECKING:
    from firmware_sim.demo import Demo
    from ingest.service import IngestService

__all__ = ["register"]

log = get_logger(__name__)

STATUS_EVERY_S = 5.0
START_TIMEOUT_S = 20.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "up", help="run broker, ingest, API and a simulated campus on this machine (Ctrl-C stops)"
    )
    p.add_argument("--no-sim", action="store_true", help="do not start the simulated campus (a real school)")
    p.add_argument("--students", type=int, default=300, help="simulated students (default 300)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--for-seconds", type=float, default=None, help="stop by itself after this long (for scripts)"
    )
    p.set_defaults(handler=_up)


@dataclass
class _Rate:
    last_value: int = 0
    last_time: float = 0.0

    def per_second(self, value: int, now: float) -> float:
        rate = (value - self.last_value) / (now - self.last_time) if self.last_time else 0.0
        self.last_value, self.last_time = value, now
        return rate


def _up(args: argparse.Namespace, settings: Settings) -> int:
    from dashboard_api.server import ApiServer
    from ingest.cli import stop_on_signals
    from ingest.service import IngestService
    from privacy.sweeper import run_sweeper

    with db.connect(settings.dsn):
        pass
    db.migrate(settings.dsn)
    if port_is_open(settings.api_host, settings.api_port):
        raise CommandError(
            f"port {settings.api_port} on {settings.api_host} is in use; stop what listens there or set CAMPUS_API_PORT"
        )

    stop = threading.Event()
    stop_on_signals(stop)
    broker = _start_broker(settings)

    ingest = IngestService(settings, instance="up")
    ingest_thread = threading.Thread(target=ingest.run, args=(stop,), name="ingest", daemon=True)
    # Retention sweeps, due erasure passes and breach scans, each on its own interval.
    sweeper_thread = threading.Thread(target=run_sweeper, args=(settings, stop), name="sweeper", daemon=True)
    api = ApiServer(settings)
    demo: Demo | None = None
    try:
        ingest_thread.start()
        sweeper_thread.start()
        api.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while (
            not (ingest.ready.is_set() and api.started) and time.monotonic() < deadline and not stop.is_set()
        ):
            time.sleep(0.1)
        if not (ingest.ready.is_set() and api.started):
            raise CommandError("ingest or the API did not start within 20 s; see the log above")
        if not args.no_sim:
            demo = _start_demo(settings, students=args.students, seed=args.seed, stop=stop)
        print(
            f"campus is up: broker mqtt://{settings.mqtt_host}:{settings.mqtt_port}, database {_db_label(settings)}, "
            f"ingest '{ingest.instance}', API http://{settings.api_host}:{settings.api_port} (docs at /docs). Ctrl-C stops.",
            flush=True,
        )
        _report_until_stopped(stop, ingest, settings, demo=demo, for_seconds=args.for_seconds)
    finally:
        stop.set()
        if demo is not None:
            demo.join()
        ingest_thread.join(timeout=30)
        sweeper_thread.join(timeout=10)
        api.stop()
        if broker is not None:
            broker.stop()
    print(
        f"campus stopped: {ingest.stats.sightings} sightings and {ingest.stats.rows} presence rows committed",
        flush=True,
    )
    return 0


def _start_broker(settings: Settings) -> LocalBroker | None:
    """A local Mosquitto on the configured port, unless a broker already answers there."""
    if port_is_open(settings.mqtt_host, settings.mqtt_port):
        log.info("up.broker_reused", address=f"{settings.mqtt_host}:{settings.mqtt_port}")
        return None
    broker = LocalBroker(
        port=settings.mqtt_port, host=settings.mqtt_host, data_dir=settings.data_dir / "mosquitto"
    )
    try:
        broker.start()
    except BrokerError as exc:
        raise CommandError(str(exc)) from exc
    return broker


def _start_demo(settings: Settings, *, students: int, seed: int, stop: threading.Event) -> Demo:
    """The live simulated campus (speed 1: `campus sim run --speed` runs faster, past-anchored)."""
    from firmware_sim.demo import start_demo
    from firmware_sim.errors import SimError

    try:
        return start_demo(settings, students=students, seed=seed, stop=stop)
    except SimError as exc:
        raise CommandError(str(exc)) from exc


def _demo_label(demo: Demo | None) -> str:
    if demo is None:
        return ""
    if demo.error is not None:
        return f" | simulated campus FAILED ({type(demo.error).__name__}: {demo.error}; see the log above)"
    return " | simulated campus running"


def _db_label(settings: Settings) -> str:
    with db.connect(settings.dsn) as conn:
        version, licence = db.timescaledb_info(conn)
    return f"ok (TimescaleDB {version}, {licence})"


def _database_up(settings: Settings) -> bool:
    try:
        with db.connect(settings.dsn) as conn:
            conn.execute("SELECT 1")
    except db.DatabaseError:
        return False
    return True


def _report_until_stopped(
    stop: threading.Event,
    ingest: IngestService,
    settings: Settings,
    *,
    demo: Demo | None,
    for_seconds: float | None,
) -> None:
    from campus.commands import check_api, check_broker

    stats = ingest.stats
    started = time.monotonic()
    rate = _Rate()
    rate.per_second(stats.sightings, started)
    while not stop.wait(STATUS_EVERY_S):
        now = time.monotonic()
        broker_up = check_broker(settings)["up"]
        api_up = check_api(settings)["up"]
        rejected = sum(stats.rejected.values())
        print(
            f"[{time.strftime('%H:%M:%S')}] broker {'up' if broker_up else 'DOWN'} | "
            f"database {'up' if _database_up(settings) else 'DOWN'} | "
            f"ingest up, {rate.per_second(stats.sightings, now):,.0f} sightings/s, {stats.sightings:,} so far, "
            f"{stats.rows:,} rows, {rejected} rejected, {stats.consent_drops:,} dropped for consent | "
            f"API {'up' if api_up else 'DOWN'}{_demo_label(demo)}",
            flush=True,
        )
        if for_seconds is not None and now - started >= for_seconds:
            stop.set()
