"""Per-badge per-window aggregation, tap debouncing and the clock-offset estimate: pure, time passed in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from campus import wire
from campus.wire import SightingKind
from gateway.aggregate import TapDebouncer, WindowAggregator, valid_event_ms
from gateway.clock import ClockOffsetEstimator
from gateway.models import BadgeIdentity

T0 = 1_795_339_200_000  # a window boundary for 1,500 ms windows
A = BadgeIdentity(SightingKind.BLE_EID, "0000000000000001")
B = BadgeIdentity(SightingKind.BLE_EID, "0000000000000002")


def test_one_sighting_per_badge_per_window_with_count_max_median() -> None:
    agg = WindowAggregator(window_ms=1500)
    for offset, rssi in [(100, -70), (400, -60), (900, -65), (1200, -80)]:
        agg.add(A, received_ms=T0 + offset, rssi=rssi)
    agg.add(B, received_ms=T0 + 1499, rssi=-90)
    agg.add(A, received_ms=T0 + 1500, rssi=-50)  # the next window
    assert agg.close(T0 + 1499) == []  # the window has not ended yet
    assert agg.close(T0 + 1500) == [
        wire.Sighting(
            kind=SightingKind.BLE_EID,
            id=A.id,
            first_ms=T0 + 100,
            last_ms=T0 + 1200,
            count=4,
            rssi_max=-60,
            rssi_median=-70,  # lower median of -80, -70, -65, -60
        ),
        wire.Sighting(
            kind=SightingKind.BLE_EID,
            id=B.id,
            first_ms=T0 + 1499,
            last_ms=T0 + 1499,
            count=1,
            rssi_max=-90,
            rssi_median=-90,
        ),
    ]
    assert agg.open_tallies == 1
    assert [s.first_ms for s in agg.flush()] == [T0 + 1500]
    assert agg.open_tallies == 0


def test_a_late_advert_reopens_its_window_and_goes_out_next_time() -> None:
    agg = WindowAggregator(window_ms=1500)
    agg.add(A, received_ms=T0 + 10, rssi=-60)
    assert len(agg.close(T0 + 1500)) == 1
    agg.add(A, received_ms=T0 + 1400, rssi=-61)  # raced the close
    late = agg.close(T0 + 3000)
    assert [(s.first_ms, s.count) for s in late] == [(T0 + 1400, 1)]


def test_unusable_rssi_is_counted_but_not_averaged() -> None:
    agg = WindowAggregator(window_ms=1500)
    agg.add(A, received_ms=T0, rssi=127)  # HCI's "not available"
    (only,) = agg.close(T0 + 1500)
    assert (only.count, only.rssi_max, only.rssi_median) == (1, None, None)


def test_too_many_open_badges_are_dropped_and_counted() -> None:
    agg = WindowAggregator(window_ms=1500, max_open=2)
    assert agg.add(A, received_ms=T0, rssi=-60)
    assert agg.add(B, received_ms=T0, rssi=-60)
    assert agg.add(A, received_ms=T0 + 1, rssi=-60)  # an open badge still counts
    assert not agg.add(BadgeIdentity(SightingKind.BLE_EID, "0000000000000003"), received_ms=T0, rssi=-60)
    assert agg.overflow_dropped == 1
    assert len(agg.close(T0 + 1500)) == 2
    assert agg.add(BadgeIdentity(SightingKind.BLE_EID, "0000000000000003"), received_ms=T0 + 1500, rssi=-60)


_adverts = st.lists(
    st.tuples(st.sampled_from([A, B]), st.integers(0, 20_000), st.integers(-127, 20)), max_size=200
)


@given(adverts=_adverts, window_ms=st.integers(100, 5000), cut=st.integers(0, 25_000))
def test_every_advert_is_counted_once_within_its_window(
    adverts: list[tuple[BadgeIdentity, int, int]], window_ms: int, cut: int
) -> None:
    agg = WindowAggregator(window_ms=window_ms)
    for identity, offset, rssi in adverts:
        agg.add(identity, received_ms=T0 + offset, rssi=rssi)
    out = agg.close(T0 + cut) + agg.flush()
    assert sum(s.count for s in out) == len(adverts)
    for s in out:
        assert s.first_ms // window_ms == s.last_ms // window_ms  # never spans two windows
        assert s.rssi_max is not None and s.rssi_median is not None
        assert s.rssi_median <= s.rssi_max
    closed_early = agg.close(T0 + cut)
    assert closed_early == []  # nothing is emitted twice


def test_taps_of_a_held_card_are_one_tap() -> None:
    debounce = TapDebouncer(hold_ms=2000)
    assert debounce.accept("card-1", received_ms=T0)
    assert not debounce.accept("card-1", received_ms=T0 + 250)  # still on the reader
    assert not debounce.accept("card-1", received_ms=T0 + 2000)  # held: each repeat extends the hold
    assert debounce.accept("card-2", received_ms=T0 + 2100)
    assert debounce.accept("card-1", received_ms=T0 + 4500)  # taken away and tapped again


def test_debouncer_memory_is_bounded() -> None:
    debounce = TapDebouncer(hold_ms=2000, max_cards=10)
    for i in range(100):
        assert debounce.accept(f"card-{i}", received_ms=T0 + i * 1000)
    assert len(debounce._last) <= 10


def test_event_time_range_is_the_wire_s() -> None:
    assert valid_event_ms(T0)
    assert not valid_event_ms(1000)  # an RTC reset to 1970
    assert not valid_event_ms(4_102_444_800_000)


@given(
    offset=st.integers(-3_600_000, 3_600_000),
    delays=st.lists(st.integers(0, 5_000), min_size=1, max_size=50),
)
def test_clock_offset_is_an_upper_bound_off_by_the_fastest_delivery(offset: int, delays: list[int]) -> None:
    estimator = ClockOffsetEstimator(samples=64)
    for i, delay in enumerate(delays):
        committed = T0 + i * 1500  # ingest's clock
        estimator.observe(committed_at_ms=committed, received_ms=committed + delay + offset)
    assert estimator.offset_ms() == offset + min(delays)
    assert estimator.offset_ms() >= offset


def test_clock_offset_follows_recent_acks_only() -> None:
    estimator = ClockOffsetEstimator(samples=3)
    assert estimator.offset_ms() == 0
    estimator.observe(committed_at_ms=T0, received_ms=T0 - 500)  # an old sample
    for i in range(3):
        estimator.observe(committed_at_ms=T0 + i, received_ms=T0 + i + 20)
    assert estimator.offset_ms() == 20
