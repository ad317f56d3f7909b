"""Watermarks and gateway clock offsets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.watermark import ACTIVE_S, LATENESS_MS, Watermark


def test_watermark_waits_for_the_slowest_active_gateway() -> None:
    wm = Watermark()
    wm.observe("a", event_ms=10_000, arrival_s=100.0)
    wm.observe("b", event_ms=7_000, arrival_s=100.0)
    assert wm.value(100.0) == 7_000 - LATENESS_MS
    # b falls silent: after ACTIVE_S it stops holding the watermark back.
    wm.observe("a", event_ms=50_000, arrival_s=100.0 + ACTIVE_S)
    assert wm.value(100.0 + ACTIVE_S + 1) == 50_000 - LATENESS_MS


def test_silent_site_falls_back_to_wall_clock() -> None:
    wm = Watermark()
    assert wm.value(100.0) is None
    wm.observe("a", event_ms=10_000, arrival_s=100.0)
    assert wm.value(100.0 + ACTIVE_S + 5) == int(105.0 * 1000) - LATENESS_MS


@given(st.lists(st.floats(min_value=0, max_value=120_000), min_size=1, max_size=60))
def test_queueing_delay_never_shifts_sightings(delays_ms: list[float]) -> None:
    """Messages delayed by any amount, from a gateway with a correct clock: no correction."""
    wm = Watermark()
    for i, delay in enumerate(delays_ms):
        sent = 1_000_000 + i * 1500
        assert wm.offset_ms("gw", sent_at_ms=sent, arrival_s=(sent + delay) / 1000) == 0


def test_fast_clock_is_corrected_despite_a_delayed_backlog() -> None:
    wm = Watermark()
    ahead = 20_000
    corrections = [
        wm.offset_ms("gw", sent_at_ms=t + ahead, arrival_s=(t + delay) / 1000)
        for t, delay in [(1_000_000, 9_000), (1_001_500, 7_500), (1_003_000, 40), (1_004_500, 35)]
    ]
    assert corrections[-1] >= ahead - 40
    assert all(c <= ahead for c in corrections)
