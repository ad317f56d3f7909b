"""``campus sim run`` (a simulated campus through the real platform) and ``campus sim zones`` (its zones file)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from campus.cli import CommandError
from campus.settings import Settings

if TYPE_CHECKING:
    from firmware_sim.scenario import Scenario

__all__ = ["register"]

_SITE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sim = sub.add_parser("sim", help="the simulated campus")
    ssub = sim.add_subparsers(dest="sim_command", required=True)
    p = ssub.add_parser(
        "run",
        help="simulate students on a campus through real gateways, broker and ingest; one summary line",
        description="Provision a simulated site (idempotent per seed), drive its readers through the real "
        "gateway code and ingest, write the ground truth, and print one summary line. Exit 1 if any "
        "journalled batch was not committed or a row was stored twice.",
    )
    p.add_argument("--site", default="sim", help="simulated site id (default 'sim'; never a real school's)")
    p.add_argument("--students", type=int, default=200)
    p.add_argument("--minutes", type=float, default=10.0, help="simulated minutes (default 10)")
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per wall second (default 60)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--start", default="08:20", help="school time of day at the start (default 08:20)")
    p.add_argument(
        "--mode", choices=["auto", "gateway", "fast"], default="auto", help="see docs/SIMULATOR.md"
    )
    p.add_argument("--fire-drill", metavar="HH:MM", help="evacuate everyone to the assembly points then")
    p.add_argument(
        "--gateway-offline",
        metavar="READER[,READER]",
        help="readers that lose power for a while (reader ids as in `campus sim zones --readers`)",
    )
    p.add_argument(
        "--offline-at", type=float, metavar="MIN", help="when they go off (sim minutes; default a third in)"
    )
    p.add_argument(
        "--offline-for", type=float, metavar="MIN", help="for how long (sim minutes; default a third)"
    )
    p.add_argument(
        "--clock-skew",
        action="append",
        default=[],
        metavar="READER=SECONDS",
        help="a reader's clock runs ahead",
    )
    p.add_argument(
        "--restart", action="append", default=[], metavar="READER@MIN", help="a reader restarts then"
    )
    p.add_argument("--consent-location", type=float, default=0.9, help="share of families opting in (0.9)")
    p.add_argument("--consent-attendance", type=float, default=0.95, help="share opting in (0.95)")
    p.set_defaults(handler=_run)

    p = ssub.add_parser(
        "zones", help="write the simulated campus's zones file (GeoJSON), or list its readers"
    )
    p.add_argument("--students", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--site", default="sim")
    p.add_argument("-o", "--out", type=Path, help="file to write (default: stdout)")
    p.add_argument(
        "--readers", action="store_true", help="list the readers (id, kind, zone, x, y, floor) instead"
    )
    p.set_defaults(handler=_zones)


def _reader_ids(text: str | None) -> list[str]:
    return [r.strip() for r in (text or "").split(",") if r.strip()]


def _scenario(args: argparse.Namespace) -> Scenario:
    from firmware_sim.movement import FireDrill
    from firmware_sim.population import parse_hhmm
    from firmware_sim.scenario import ClockSkew, Outage, Restart, Scenario

    minutes_ms = args.minutes * 60_000
    outages = []
    readers = _reader_ids(args.gateway_offline)
    if readers:
        at = args.offline_at if args.offline_at is not None else args.minutes / 3
        length = args.offline_for if args.offline_for is not None else args.minutes / 3
        outages = [Outage(r, int(at * 60_000), int((at + length) * 60_000)) for r in readers]
    elif args.offline_at is not None or args.offline_for is not None:
        raise CommandError("--offline-at and --offline-for need --gateway-offline READER")
    skews = []
    for item in args.clock_skew:
        reader, sep, seconds = item.partition("=")
        try:
            skews.append(ClockSkew(reader.strip(), int(float(seconds) * 1000)))
        except ValueError:
            raise CommandError(f"--clock-skew {item!r}: expected READER=SECONDS, e.g. a-101-ble=5") from None
        if not sep:
            raise CommandError(f"--clock-skew {item!r}: expected READER=SECONDS, e.g. a-101-ble=5")
    restarts = []
    for item in args.restart:
        reader, sep, minute = item.partition("@")
        try:
            at_ms = int(float(minute) * 60_000) if sep else int(minutes_ms / 2)
        except ValueError:
            raise CommandError(f"--restart {item!r}: expected READER@MINUTES, e.g. gate-main-ble@4") from None
        restarts.append(Restart(reader.strip(), at_ms))
    drill = None
    if args.fire_drill:
        try:
            drill = FireDrill(at_s=parse_hhmm(args.fire_drill))
        except ValueError as exc:
            raise CommandError(f"--fire-drill: {exc}") from exc
    return Scenario(outages=tuple(outages), skews=tuple(skews), restarts=tuple(restarts), fire_drill=drill)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from firmware_sim.errors import SimError
    from firmware_sim.fleet import DriveMode
    from firmware_sim.provision import ConsentShares
    from firmware_sim.service import RunConfig, run_simulation
    from ingest.cli import stop_on_signals

    if not _SITE.match(args.site):
        raise CommandError(
            f"--site {args.site!r}: 1-32 lower-case letters, digits and '-', starting with a letter or digit"
        )
    try:
        config = RunConfig(
            site_id=args.site,
            students=args.students,
            minutes=args.minutes,
            speed=args.speed,
            seed=args.seed,
            start=args.start,
            mode=DriveMode(args.mode),
            scenario=_scenario(args),
            consent=ConsentShares(location=args.consent_location, attendance=args.consent_attendance),
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    stop = threading.Event()
    stop_on_signals(stop)
    try:
        summary = run_simulation(settings, config, stop=stop)
    except (SimError, ConnectionError) as exc:
        raise CommandError(str(exc)) from exc
    print(summary.line(), flush=True)
    return 0 if summary.ok else 1


def _zones(args: argparse.Namespace, settings: Settings) -> int:
    del settings
    from firmware_sim.campus import build_campus
    from firmware_sim.geojson import to_geojson

    if args.students < 1:
        raise CommandError("--students must be at least 1")
    campus = build_campus(students=args.students, seed=args.seed)
    if args.readers:
        lines = [f"{r.reader_id}\t{r.kind}\t{r.zone_id}\t{r.x}\t{r.y}\t{r.floor}" for r in campus.readers]
        text = "\n".join(lines) + "\n"
    else:
        text = json.dumps(to_geojson(campus, site_id=args.site), indent=1) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)
        print(f"wrote {args.out}")
    return 0
