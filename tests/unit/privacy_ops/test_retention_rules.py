"""Retention arithmetic and the schedule (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campus.settings import Settings
from privacy.retention import (
    CONFIG_TABLES,
    Chunk,
    Method,
    cutoff,
    droppable_chunks,
    humanize,
    max_lateness,
    overdue_before,
    rule_for,
    schedule,
    unregistered_tables,
)

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
times = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC))
windows = st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=3000))
intervals = st.sampled_from([timedelta(minutes=5), timedelta(hours=1), timedelta(days=1)])


def chunks_for(rows: list[datetime], interval: timedelta) -> list[Chunk]:
    """Chunks as TimescaleDB makes them: aligned to multiples of the interval, only where rows fall."""
    starts = sorted({EPOCH + ((t - EPOCH) // interval) * interval for t in rows})
    return [Chunk(f"c{i}", start, start + interval) for i, start in enumerate(starts)]


@given(rows=st.lists(times, min_size=1, max_size=60), now=times, window=windows, interval=intervals)
def test_after_dropping_chunks_no_row_outlives_its_window_by_more_than_one_chunk(
    rows: list[datetime], now: datetime, window: timedelta, interval: timedelta
) -> None:
    limit = cutoff(now, window)
    dropped = droppable_chunks(chunks_for(rows, interval), limit)
    for t in rows:
        if any(c.start <= t < c.end for c in dropped):
            assert t < limit  # nothing at or after the cutoff is ever dropped ...
        else:
            assert t >= limit - interval  # ... and what survives is at most one chunk past its window


@given(now=times, window=windows)
def test_cutoff_is_now_minus_window(now: datetime, window: timedelta) -> None:
    assert cutoff(now, window) == now - window
    assert overdue_before(now, window, timedelta(hours=1)) == now - window - timedelta(hours=1)


def test_cutoff_refuses_naive_time_and_empty_window() -> None:
    with pytest.raises(ValueError, match="timezone"):
        cutoff(datetime(2026, 1, 1), timedelta(days=1))
    with pytest.raises(ValueError, match="positive"):
        cutoff(EPOCH, timedelta(0))


def test_lateness_is_one_chunk_plus_one_sweep() -> None:
    sweep = timedelta(minutes=15)
    assert max_lateness(chunk_interval=timedelta(hours=1), sweep_interval=sweep) == timedelta(minutes=75)
    assert max_lateness(chunk_interval=None, sweep_interval=sweep) == sweep


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(days=7), "1 week"),
        (timedelta(days=28), "4 weeks"),
        (timedelta(days=6 * 365), "6 years"),
        (timedelta(days=30), "30 days"),
        (timedelta(days=1), "1 day"),
        (timedelta(minutes=75), "1 hour 15 minutes"),
        (timedelta(seconds=30), "30 seconds"),
        (timedelta(0), "0 seconds"),
    ],
)
def test_humanize(span: timedelta, text: str) -> None:
    assert humanize(span) == text


@given(st.integers(min_value=1, max_value=100_000))
def test_humanize_of_whole_days_names_the_exact_span(days: int) -> None:
    count, unit = humanize(timedelta(days=days)).split()
    per = {"year": 365, "years": 365, "week": 7, "weeks": 7, "day": 1, "days": 1}[unit]
    assert int(count) * per == days


def test_schedule_follows_the_settings() -> None:
    rules = schedule(Settings(retention_presence_days=3, retention_audit_days=100))
    presence = rule_for(rules, "presence")
    audit = rule_for(rules, "audit_log")
    assert presence is not None and presence.window == timedelta(days=3)
    assert presence.method is Method.DROP_CHUNKS
    assert audit is not None and audit.window == timedelta(days=100) and audit.method is Method.AUDIT_PREFIX
    # current whereabouts never outlive the raw samples they summarise
    current = rule_for(rules, "presence_current")
    assert current is not None and current.window == presence.window


def test_every_timed_rule_names_a_real_setting_and_a_column() -> None:
    settings = Settings()
    for rule in schedule(settings):
        if rule.method is Method.LIFETIME:
            assert rule.window is None and rule.setting is None
            continue
        assert rule.setting is not None and hasattr(settings, rule.setting), rule.kind
        assert rule.age_column, rule.kind
        assert rule.window == timedelta(days=getattr(settings, rule.setting))


def test_kinds_and_tables_are_unique_and_never_configuration() -> None:
    rules = schedule(Settings())
    kinds = [r.kind for r in rules]
    tables = [r.table for r in rules if r.table is not None]
    assert len(set(kinds)) == len(kinds)
    assert len(set(tables)) == len(tables)
    assert not set(tables) & set(CONFIG_TABLES)


def test_a_table_without_a_rule_is_reported() -> None:
    rules = schedule(Settings())
    assert unregistered_tables(["presence", "sites", "mystery", "audit_log"], rules) == ["mystery"]
