"""Per-badge, per-window aggregation of adverts, and debouncing of card taps. Pure: time is passed in.

Windows are aligned on the gateway's clock: window ``w`` holds adverts with
``w * window_ms <= received_ms < (w + 1) * window_ms``. :meth:`WindowAggregator.close`
emits every window that has ended at or before ``now_ms`` as one
:class:`campus.wire.Sighting` per badge: count, first and last time heard,
max and (lower) median RSSI. Nothing here reads a clock, so the simulator
can drive it with simulated time.

An advert stamped in a window that was already closed (it raced the close)
opens that window again; the next close emits it. Ingest takes two
sightings of one badge in one window as two pieces of evidence, which they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from campus import wire
from gateway.models import BadgeIdentity

__all__ = [
    "MAX_OPEN_TALLIES",
    "MAX_RSSI_SAMPLES",
    "TAP_DEBOUNCE_MS",
    "TapDebouncer",
    "WindowAggregator",
    "valid_event_ms",
]

# Bounds memory against a flood of distinct ids (a spoofing transmitter):
# a gate reader at the morning rush hears about 2,000 badges per window.
# Beyond the bound, adverts of new badges are dropped and counted.
MAX_OPEN_TALLIES: Final = 20_000
# A badge advertising at 10 Hz gives 15 samples per 1.5 s window; the median
# of the first 64 is as good as the median of all, and memory stays bounded.
MAX_RSSI_SAMPLES: Final = 64
# Desk readers repeat a card every ~100-250 ms while it is held: a read of the
# same card within this time of the previous one is the same tap.
TAP_DEBOUNCE_MS: Final = 2_000
_MAX_COUNT: Final = 100_000  # the wire's bound on a sighting's count
_RSSI_MIN, _RSSI_MAX = -127, 20  # the wire's RSSI range; HCI reports 127 for "not available"
# The wire's accepted event times (2020-01-01 .. 2100-01-01): a gateway whose
# clock is outside them (an RTC reset to 1970) must not journal batches that
# ingest would reject forever.
_EPOCH_MS_MIN, _EPOCH_MS_MAX = 1_577_836_800_000, 4_102_444_800_000


def valid_event_ms(ms: int) -> bool:
    """Whether ``ms`` is an event time the wire accepts."""
    return _EPOCH_MS_MIN <= ms < _EPOCH_MS_MAX


@dataclass(slots=True)
class _Tally:
    first_ms: int
    last_ms: int
    count: int = 0
    rssi: list[int] = field(default_factory=list)

    def add(self, received_ms: int, rssi: int) -> None:
        self.first_ms = min(self.first_ms, received_ms)
        self.last_ms = max(self.last_ms, received_ms)
        self.count += 1
        if _RSSI_MIN <= rssi <= _RSSI_MAX and len(self.rssi) < MAX_RSSI_SAMPLES:
            self.rssi.append(rssi)


class WindowAggregator:
    """Tallies adverts per badge per aligned window. Not thread-safe: the caller holds a lock."""

    def __init__(self, *, window_ms: int, max_open: int = MAX_OPEN_TALLIES) -> None:
        if window_ms <= 0:
            raise ValueError("window_ms must be positive")
        self.window_ms = window_ms
        self._max_open = max_open
        self._windows: dict[int, dict[BadgeIdentity, _Tally]] = {}
        self._open = 0
        self.overflow_dropped = 0

    @property
    def open_tallies(self) -> int:
        return self._open

    def add(self, identity: BadgeIdentity, *, received_ms: int, rssi: int) -> bool:
        """Count one advert. Returns False if it was dropped because too many tallies are open."""
        window = self._windows.setdefault(received_ms // self.window_ms, {})
        tally = window.get(identity)
        if tally is None:
            if self._open >= self._max_open:
                self.overflow_dropped += 1
                return False
            tally = window[identity] = _Tally(first_ms=received_ms, last_ms=received_ms)
            self._open += 1
        tally.add(received_ms, rssi)
        return True

    def close(self, now_ms: int) -> list[wire.Sighting]:
        """Emit and forget every window that ended at or before ``now_ms``, oldest first."""
        due = sorted(w for w in self._windows if (w + 1) * self.window_ms <= now_ms)
        return list(self._emit(due))

    def flush(self) -> list[wire.Sighting]:
        """Emit and forget every window, ended or not (at shutdown)."""
        return list(self._emit(sorted(self._windows)))

    def _emit(self, windows: list[int]) -> Iterator[wire.Sighting]:
        for w in windows:
            tallies = self._windows.pop(w)
            self._open -= len(tallies)
            for identity, tally in sorted(tallies.items(), key=lambda item: (item[0].kind, item[0].id)):
                yield _sighting(identity, tally)


def _sighting(identity: BadgeIdentity, tally: _Tally) -> wire.Sighting:
    samples = sorted(tally.rssi)
    return wire.Sighting(
        kind=identity.kind,
        id=identity.id,
        first_ms=tally.first_ms,
        last_ms=tally.last_ms,
        count=min(tally.count, _MAX_COUNT),
        rssi_max=samples[-1] if samples else None,
        # The lower median: an RSSI that was actually heard, and an integer.
        rssi_median=samples[(len(samples) - 1) // 2] if samples else None,
    )


class TapDebouncer:
    """Tells a new card tap from the same card still held on the reader. Bounded memory."""

    def __init__(self, *, hold_ms: int = TAP_DEBOUNCE_MS, max_cards: int = 1024) -> None:
        self._hold_ms = hold_ms
        self._max_cards = max_cards
        self._last: dict[str, int] = {}

    def accept(self, card_key: str, *, received_ms: int) -> bool:
        """True for a new tap; False for a repeat within ``hold_ms`` of the card's previous read."""
        previous = self._last.get(card_key)
        self._last[card_key] = received_ms
        if previous is not None and 0 <= received_ms - previous < self._hold_ms:
            return False
        if len(self._last) > self._max_cards:
            cutoff = received_ms - self._hold_ms
            self._last = {k: t for k, t in self._last.items() if t > cutoff}
        return True
