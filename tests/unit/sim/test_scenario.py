"""Scenarios name real readers and possible times; the driver's pacing constants."""

from __future__ import annotations

import pytest

from firmware_sim.driver import SimClock, poll_every
from firmware_sim.errors import ScenarioError
from firmware_sim.scenario import ClockSkew, FaultKind, Outage, Restart, Scenario

READERS = {"a-001-ble", "gate-main-ble"}


def test_faults_come_in_time_order() -> None:
    scenario = Scenario(
        outages=(Outage("a-001-ble", 60_000, 120_000),),
        restarts=(Restart("gate-main-ble", 60_000),),
        skews=(ClockSkew("a-001-ble", 5_000),),
    )
    scenario.validate(reader_ids=READERS, duration_ms=600_000)
    assert [(e.at_ms, e.kind) for e in scenario.events()] == [
        (60_000, FaultKind.DOWN),
        (60_000, FaultKind.RESTART),
        (120_000, FaultKind.UP),
    ]
    assert scenario.skew_ms("a-001-ble") == 5_000 and scenario.skew_ms("gate-main-ble") == 0


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        (Scenario(outages=(Outage("nope", 0, 1),)), "no reader 'nope'"),
        (Scenario(outages=(Outage("a-001-ble", 5, 5),)), "must end after it starts"),
        (Scenario(outages=(Outage("a-001-ble", 700_000, 800_000),)), "after the run ends"),
        (Scenario(skews=(ClockSkew("a-001-ble", 400_000),)), "beyond ingest's 300 s limit"),
        (Scenario(skews=(ClockSkew("a-001-ble", 1), ClockSkew("a-001-ble", 2))), "two clock skews"),
    ],
)
def test_impossible_scenarios_are_refused_with_a_reason(scenario: Scenario, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        scenario.validate(reader_ids=READERS, duration_ms=600_000)


def test_polls_are_bounded_in_wall_time_and_the_clock_reads_like_time_time() -> None:
    assert poll_every(speed=1, window_ms=1500) == 1
    assert poll_every(speed=2, window_ms=1500) == 1
    assert poll_every(speed=60, window_ms=1500) == 3
    clock = SimClock(1_800_000_000_000)
    clock.set(1_800_000_001_500)
    assert clock() == 1_800_000_001.5 and clock.ms == 1_800_000_001_500
