"""``campus zones check FILE``, ``campus zones import FILE``, ``campus zones export``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from campus import db
from campus.cli import CommandError
from campus.settings import Settings

__all__ = ["register"]

STDIN = "-"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    zones = sub.add_parser("zones", help="zones (geofences) of a site, as GeoJSON files")
    zsub = zones.add_subparsers(dest="zones_command", required=True)
    p = zsub.add_parser("check", help="check a zones file; print each problem; exit 1 if any")
    p.add_argument("file", help="GeoJSON zones file ('-' reads stdin); format in docs/ZONES.md")
    p.set_defaults(handler=_check)
    p = zsub.add_parser("import", help="replace a site's zones with a checked zones file")
    p.add_argument("file", help="GeoJSON zones file ('-' reads stdin)")
    p.add_argument("--site", help="site id (default: the file's campus.site, else settings.site_id)")
    p.set_defaults(handler=_import)
    p = zsub.add_parser("export", help="write a site's zones as a GeoJSON zones file")
    p.add_argument("--site", help="site id (default: settings.site_id)")
    p.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    p.set_defaults(handler=_export)


def _read(file: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if file == STDIN else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{file}: cannot read: {exc}") from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{file}: not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc
    if not isinstance(value, dict):
        raise CommandError(f"{file}: not a GeoJSON FeatureCollection (the top level is not an object)")
    return value


def _print_problems(file: str, problems: list[str], *, what: str) -> None:
    print(f"{file}: {len(problems)} problem{'s' if len(problems) != 1 else ''}{what}", file=sys.stderr)
    for problem in problems:
        print(problem)


def _check(args: argparse.Namespace, _settings: Settings) -> int:
    from zones.geojson import validate_collection

    zone_set, problems = validate_collection(_read(args.file))
    if problems:
        _print_problems(args.file, [str(p) for p in problems], what="")
        return 1
    floors = sorted({zone.level for zone in zone_set.zones if not zone.spans_all_floors})
    floor_text = f"floors {floors[0]} to {floors[-1]}" if floors else "no floors"
    rules = sum(len(zone.schedule) for zone in zone_set.zones)
    print(f"{args.file}: {len(zone_set.zones)} zones, {floor_text}, {rules} schedule rules: no problems")
    return 0


def _file_site(collection: dict[str, Any]) -> str | None:
    campus = collection.get("campus")
    site = campus.get("site") if isinstance(campus, dict) else None
    return site if isinstance(site, str) else None


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from zones import service
    from zones.errors import ZoneError, ZoneFileError

    collection = _read(args.file)
    site = args.site or _file_site(collection) or settings.site_id
    with db.connect(settings.dsn) as conn:
        try:
            with conn.transaction():
                count = service.import_zones(conn, site_id=site, collection=collection)
        except ZoneFileError as exc:
            _print_problems(args.file, exc.problems, what=", nothing imported")
            return 1
        except ZoneError as exc:
            raise CommandError(str(exc)) from exc
        stranded = service.gateways_in_unknown_zones(conn, site_id=site)
    print(f"imported {count} zones into site {site}")
    if stranded:
        print(
            f"warning: gateways {', '.join(stranded)} are placed in zones that site {site} does not have; "
            "re-enrol them with --zone",
            file=sys.stderr,
        )
    return 0


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from zones import service
    from zones.errors import ZoneError
    from zones.geojson import dumps

    site = args.site or settings.site_id
    with db.connect(settings.dsn) as conn:
        try:
            collection = service.export_zones(conn, site_id=site)
        except ZoneError as exc:
            raise CommandError(str(exc)) from exc
    text = dumps(collection)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        args.output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"{args.output}: cannot write: {exc.strerror or exc}") from exc
    print(f"exported {len(collection['features'])} zones of site {site} to {args.output}", file=sys.stderr)
    return 0
