"""Ingest forgets a student whose location consent was withdrawn: no row is ever output for them after.

Without forgetting, the tracker would still hold the student in their room
and, 30 s later, emit a transition to unknown and a current-state row.
"""

from __future__ import annotations

import numpy as np

from ingest.repository import GatewayPlacement
from ingest.site import SiteState
from ingest.tracker import TICK_MS

ALICE, BOB = 111, 222
START_MS = 1_800_000_000_000


def site() -> SiteState:
    state = SiteState("demo")
    placement = GatewayPlacement("gw-1", "ble", "room-1", None, None, 0, -59.0, 2.2)
    state.configure({"gw-1": placement}, {})
    state.register_students([ALICE, BOB])
    return state


def hear(state: SiteState, students: list[int], *, at_ms: int) -> None:
    state.tracker.add(
        students=np.array([state.student_index(s) for s in students], dtype=np.int64),
        readers=np.zeros(len(students), dtype=np.int64),
        rssi=np.full(len(students), -60.0),
        t_ms=np.full(len(students), at_ms, dtype=np.int64),
    )
    state.watermark.observe("gw-1", event_ms=at_ms, arrival_s=at_ms / 1000)


def run(state: SiteState, *, seconds: int, start_ms: int, heard: list[int]) -> set[int]:
    """Advance second by second; return every student key in any output row."""
    seen: set[int] = set()
    for i in range(seconds):
        now_ms = start_ms + i * TICK_MS
        if heard:
            hear(state, heard, at_ms=now_ms)
        else:
            state.watermark.observe("gw-1", event_ms=now_ms, arrival_s=now_ms / 1000)
        out = state.advance(now_ms / 1000)
        if out is not None:
            seen |= {r.student_key for r in out.presence}
            seen |= {r.student_key for r in out.transitions}
            seen |= {r.student_key for r in out.current}
            seen |= {e.student_key for e in out.events}
    return seen


def test_forgotten_student_never_appears_in_output_again() -> None:
    state = site()
    assert run(state, seconds=15, start_ms=START_MS, heard=[ALICE, BOB]) == {ALICE, BOB}
    state.forget(ALICE)
    # Bob is still heard; Alice's evidence already queued and her ageing-out produce nothing.
    later = run(state, seconds=60, start_ms=START_MS + 15_000, heard=[BOB])
    assert ALICE not in later and BOB in later
    # The control: without forget(), Alice's ageing out would have been output.
    control = site()
    run(control, seconds=15, start_ms=START_MS, heard=[ALICE, BOB])
    assert ALICE in run(control, seconds=60, start_ms=START_MS + 15_000, heard=[BOB])


def test_consent_given_again_starts_from_nothing() -> None:
    state = site()
    run(state, seconds=15, start_ms=START_MS, heard=[ALICE])
    old_index = state.student_index(ALICE)
    state.forget(ALICE)
    assert state.student_index(ALICE) != old_index
    transitions = []
    for i in range(15):
        now_ms = START_MS + 20_000 + i * TICK_MS
        hear(state, [ALICE], at_ms=now_ms)
        out = state.advance(now_ms / 1000)
        if out is not None:
            transitions += [(t.student_key, t.from_zone, t.to_zone) for t in out.transitions]
    assert transitions == [(ALICE, None, "room-1")]


def test_forgetting_an_unknown_student_is_harmless() -> None:
    state = site()
    state.forget(999)
    assert run(state, seconds=10, start_ms=START_MS, heard=[BOB]) == {BOB}
