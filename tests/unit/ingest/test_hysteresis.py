"""The hysteresis state machine: no flapping on noise, one change per real move, staleness."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from ingest.hysteresis import STALE_MS, STRONG_DWELL_MS, UNKNOWN, WEAK_DWELL_MS, ZoneStates

TICK = 1000


def run(
    states: ZoneStates, estimates: list[tuple[int, float]], *, start_ms: int = 0
) -> list[tuple[int, int, int]]:
    """Feed one student's (zone, margin) per tick; return (at_ms, from, to) changes."""
    out = []
    for i, (zone, margin) in enumerate(estimates):
        now = start_ms + i * TICK
        changes = states.step(
            now_ms=now,
            students=np.array([0]),
            estimate=np.array([zone]),
            margin_db=np.array([margin]),
            confidence=np.array([0.9]),
        )
        out += [(now, int(f), int(t)) for f, t in zip(changes.from_zone, changes.to_zone, strict=True)]
    return out


def test_strong_evidence_changes_after_the_short_dwell() -> None:
    changes = run(ZoneStates(1), [(3, 20.0)] * 10)
    assert changes == [(STRONG_DWELL_MS, UNKNOWN, 3)]


def test_weak_evidence_needs_the_long_dwell() -> None:
    changes = run(ZoneStates(1), [(3, 6.0)] * 20)
    assert changes == [(WEAK_DWELL_MS, UNKNOWN, 3)]


def test_too_close_to_call_never_changes() -> None:
    assert run(ZoneStates(1), [(3, 2.0)] * 30) == []


def test_certain_evidence_changes_at_once() -> None:
    assert run(ZoneStates(1), [(5, 100.0)]) == [(0, UNKNOWN, 5)]


@given(st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=60))
def test_alternation_faster_than_the_dwell_never_flaps(runs: list[int]) -> None:
    """Another zone winning for less than the dwell, again and again, produces no change."""
    states = ZoneStates(1)
    states.restore(0, zone=1, since_ms=0, last_seen_ms=0)
    estimates: list[tuple[int, float]] = []
    for run_length in runs:  # zone 2 wins at most 3 ticks in a row, below the 4 s dwell
        estimates += [(2, 20.0)] * run_length + [(1, 20.0)]
    assert run(states, estimates, start_ms=TICK) == []


@given(st.lists(st.tuples(st.integers(0, 4), st.floats(0, 30)), min_size=1, max_size=200))
def test_changes_chain(estimates: list[tuple[int, float]]) -> None:
    """Each change starts where the previous one ended, and never repeats the same zone."""
    changes = run(ZoneStates(1), estimates)
    for (_, _, t1), (_, f2, _) in itertools.pairwise(changes):
        assert t1 == f2
    assert all(f != t for _, f, t in changes)


def test_no_evidence_goes_unknown_after_stale_time() -> None:
    states = ZoneStates(2)
    states.restore(0, zone=4, since_ms=0, last_seen_ms=0)
    empty = np.zeros(0, dtype=np.int64)
    changes = states.step(
        now_ms=STALE_MS - 1, students=empty, estimate=empty, margin_db=np.zeros(0), confidence=np.zeros(0)
    )
    assert len(changes) == 0
    changes = states.step(
        now_ms=STALE_MS, students=empty, estimate=empty, margin_db=np.zeros(0), confidence=np.zeros(0)
    )
    assert list(changes.students) == [0] and list(changes.to_zone) == [UNKNOWN]
    assert states.last_known_zone[0] == 4


def test_vectorised_students_are_independent() -> None:
    states = ZoneStates(3)
    for i in range(6):
        changes = states.step(
            now_ms=i * TICK,
            students=np.array([0, 1, 2]),
            estimate=np.array([1, 2, UNKNOWN]),
            margin_db=np.array([20.0, 2.0, 0.0]),
            confidence=np.ones(3),
        )
        if i == STRONG_DWELL_MS // TICK:
            assert list(changes.students) == [0]
    assert list(states.zone) == [1, UNKNOWN, UNKNOWN]
