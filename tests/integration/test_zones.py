"""Zones in the real database: import, export, all-or-nothing, the schema's own guards, the CLI."""

from __future__ import annotations

import argparse
import copy
import json
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from campus.cli import CommandError
from campus.settings import Settings
from ingest import repository as ingest_repository
from tests.builders import add_gateway, add_site
from tests.unit.zones.builders import EXAMPLE_FILE, example_collection
from zones import cli as zones_cli
from zones import service
from zones.errors import UnknownSiteError, ZoneFileError
from zones.geojson import parse_collection

pytestmark = pytest.mark.servers


def zone_ids(conn: psycopg.Connection, site_id: str) -> list[str]:
    rows = conn.execute("SELECT zone_id FROM zones WHERE site_id = %s ORDER BY zone_id", (site_id,))
    return [r[0] for r in rows]


def run(argv: list[str], settings: Settings) -> int:
    """A ``campus zones`` command in-process (only this package's subcommands, without main()'s logging set-up)."""
    parser = argparse.ArgumentParser(prog="campus")
    zones_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args, settings))


def test_import_then_export_gives_the_same_zones(conn: psycopg.Connection, site_id: str) -> None:
    add_site(conn, site_id)
    original = example_collection()
    assert service.import_zones(conn, site_id=site_id, collection=original) == 24
    exported = service.export_zones(conn, site_id=site_id)
    assert exported["campus"]["site"] == site_id
    back = parse_collection(exported)
    expected = parse_collection(original)
    assert sorted(back.zones, key=lambda z: z.zone_id) == sorted(expected.zones, key=lambda z: z.zone_id)
    assert back.georeference == expected.georeference
    schedules = conn.execute(
        "SELECT zone_id, days, start_minute, end_minute, restricted, groups FROM zone_schedules"
        " WHERE site_id = %s AND zone_id = 'a-101'",
        (site_id,),
    ).fetchall()
    assert schedules == [("a-101", ["mon", "tue", "wed", "thu", "fri"], 510, 930, False, ["Y7", "Y8"])]


def test_ingest_still_reads_the_zones(conn: psycopg.Connection, site_id: str) -> None:
    add_site(conn, site_id)
    service.import_zones(conn, site_id=site_id, collection=example_collection())
    zones = ingest_repository.load_zones(conn, [site_id])[site_id]
    assert zones["a-101"].floor == 1
    assert zones["a-101"].polygon == ((10.0, 10.0), (20.0, 10.0), (20.0, 22.0), (10.0, 22.0), (10.0, 10.0))


def test_loaded_index_and_policy_answer_from_the_database(conn: psycopg.Connection, site_id: str) -> None:
    add_site(conn, site_id)
    service.import_zones(conn, site_id=site_id, collection=example_collection())
    index = service.load_index(conn, site_id=site_id)
    assert index.lookup(15, 15, 1) == "a-101"
    assert index.lookup(15, 15, 0) == "a-001"
    policy = service.load_access_policy(conn, site_id=site_id)
    assert not policy.may_be_in("a-plant", "Y7", datetime(2026, 11, 24, 10))


def test_a_bad_file_changes_nothing(conn: psycopg.Connection, site_id: str) -> None:
    add_site(conn, site_id)
    service.import_zones(conn, site_id=site_id, collection=example_collection())
    before = service.export_zones(conn, site_id=site_id)
    broken = copy.deepcopy(example_collection())
    broken["features"] = broken["features"][:3]  # a smaller campus ...
    broken["features"][2]["properties"]["parent"] = "no-such-zone"  # ... with one bad parent
    with pytest.raises(ZoneFileError) as raised:
        service.import_zones(conn, site_id=site_id, collection=broken)
    assert raised.value.problems == ["zone a-f0: parent: unknown parent zone 'no-such-zone'"]
    assert service.export_zones(conn, site_id=site_id) == before


def test_reimport_replaces_zones_schedules_and_georeference(conn: psycopg.Connection, site_id: str) -> None:
    add_site(conn, site_id)
    service.import_zones(conn, site_id=site_id, collection=example_collection())
    smaller = example_collection()
    smaller["features"] = [f for f in smaller["features"] if f["id"] in {"site", "playground", "ap-1"}]
    del smaller["campus"]["georeference"]
    assert service.import_zones(conn, site_id=site_id, collection=smaller) == 3
    assert zone_ids(conn, site_id) == ["ap-1", "playground", "site"]
    assert conn.execute("SELECT count(*) FROM zone_schedules WHERE site_id = %s", (site_id,)).fetchone() == (
        0,
    )
    assert "georeference" not in service.export_zones(conn, site_id=site_id)["campus"]


def test_an_unknown_site_is_refused(conn: psycopg.Connection, site_id: str) -> None:
    with pytest.raises(UnknownSiteError, match="unknown site"):
        service.import_zones(conn, site_id=site_id, collection=example_collection())
    with pytest.raises(UnknownSiteError):
        service.export_zones(conn, site_id=site_id)
    assert zone_ids(conn, site_id) == []


def test_import_inside_the_callers_transaction_rolls_back_with_it(
    conn: psycopg.Connection, site_id: str
) -> None:
    add_site(conn, site_id)

    class AbortError(Exception):
        pass

    with pytest.raises(AbortError), conn.transaction():
        service.import_zones(conn, site_id=site_id, collection=example_collection())
        assert len(zone_ids(conn, site_id)) == 24
        raise AbortError
    assert zone_ids(conn, site_id) == []


def test_the_schema_refuses_what_the_checks_refuse(conn: psycopg.Connection, site_id: str) -> None:
    add_site(conn, site_id)
    square = '{"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,0]]]}'
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute(
            "INSERT INTO zones (site_id, zone_id, name, kind, parent_id, geometry) VALUES (%s, 'r', 'R', 'classroom', 'x', %s)",
            (site_id, square),
        )
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO zones (site_id, zone_id, name, kind, geometry) VALUES (%s, 'p', 'P', 'gate', %s)",
            (site_id, '{"type": "Point", "coordinates": [0, 0]}'),
        )


def test_cli_check_import_export(
    conn: psycopg.Connection, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_site(conn, settings.site_id)
    add_gateway(conn, settings.site_id, gateway_id="gw-old", zone_id="room-gone")

    assert run(["zones", "check", str(EXAMPLE_FILE)], settings) == 0
    assert "24 zones, floors 0 to 1, 5 schedule rules: no problems" in capsys.readouterr().out

    bad = tmp_path / "bad.geojson"
    doc = example_collection()
    doc["features"][5]["geometry"]["coordinates"] = [[[0, 0], [4, 4], [4, 0], [0, 4], [0, 0]]]
    doc["features"][6]["properties"]["floor"] = "one"
    bad.write_text(json.dumps(doc))
    assert run(["zones", "check", str(bad)], settings) == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        "feature 6 (a-1-corridor): properties.floor: must be a whole number from -20 to 200, or null, got 'one'",
        "zone a-f1: geometry: invalid outline: self-intersection at (2, 2)",
    ]
    assert run(["zones", "import", str(bad), "--site", settings.site_id], settings) == 1
    assert "nothing imported" in capsys.readouterr().err
    assert zone_ids(conn, settings.site_id) == []

    # The file names site "demo"; --site chooses this test's site instead.
    assert run(["zones", "import", str(EXAMPLE_FILE), "--site", settings.site_id], settings) == 0
    out = capsys.readouterr()
    assert f"imported 24 zones into site {settings.site_id}" in out.out
    assert "gateways gw-old are placed in zones" in out.err

    exported = tmp_path / "out.geojson"
    assert run(["zones", "export", "-o", str(exported)], settings) == 0
    assert len(json.loads(exported.read_text())["features"]) == 24

    with pytest.raises(CommandError, match="unknown site 'nowhere'"):
        run(["zones", "export", "--site", "nowhere"], settings)
    not_json = tmp_path / "not.json"
    not_json.write_text("{oops")
    with pytest.raises(CommandError, match=r"not JSON: .* line 1, column 2"):
        run(["zones", "check", str(not_json)], settings)
