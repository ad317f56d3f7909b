"""``campus sim``: argument checks that need no servers, and the zones file it writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from campus.cli import CommandError, build_parser, main
from firmware_sim.cli import _scenario
from firmware_sim.scenario import FaultKind, Scenario
from zones.geojson import validate_collection


def scenario_of(*argv: str) -> Scenario:
    return _scenario(build_parser().parse_args(["sim", "run", *argv]))


def test_fault_flags_become_a_scenario() -> None:
    scenario = scenario_of(
        "--minutes",
        "9",
        "--gateway-offline",
        "a-001-ble,gate-main-ble",
        "--clock-skew",
        "a-002-ble=2.5",
        "--restart",
        "playground-ble1@4",
        "--fire-drill",
        "08:30",
    )
    assert [(o.reader_id, o.from_ms, o.to_ms) for o in scenario.outages] == [
        ("a-001-ble", 180_000, 360_000),
        ("gate-main-ble", 180_000, 360_000),
    ]
    assert scenario.skew_ms("a-002-ble") == 2_500
    assert [(e.kind, e.reader_id) for e in scenario.events()][-1] == (FaultKind.UP, "gate-main-ble")
    assert scenario.restarts[0].at_ms == 240_000 and scenario.fire_drill is not None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--clock-skew", "a-001-ble"], "READER=SECONDS"),
        (["--restart", "a-001-ble@soon"], "READER@MINUTES"),
        (["--fire-drill", "25:00"], "--fire-drill"),
        (["--offline-at", "3"], "need --gateway-offline"),
    ],
)
def test_bad_fault_flags_are_one_readable_error(argv: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        scenario_of(*argv)


def test_sim_zones_writes_a_zones_file_that_passes_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "campus.geojson"
    assert main(["sim", "zones", "--students", "120", "--site", "sim", "-o", str(out)]) == 0
    _, problems = validate_collection(json.loads(out.read_text()))
    assert problems == []
    assert main(["sim", "zones", "--readers"]) == 0
    readers = capsys.readouterr().out.splitlines()[1:]
    assert any(line.startswith("gate-main-tap\trfid\tgate-main") for line in readers)


def test_a_bad_site_id_is_refused_before_anything_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "run", "--site", "Not A Site"]) == 1
    assert "--site" in capsys.readouterr().err
