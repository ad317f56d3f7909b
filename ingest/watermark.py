"""Event-time watermarks per site, and gateway clock offsets. Pure: wall time is passed in.

The site's watermark is the earliest "latest event time" among its *active*
gateways (heard from within ``ACTIVE_S`` of wall time), minus
``LATENESS_MS``: evaluation at time T waits until every live gateway has
reported past T, so one gateway replaying its journal after an outage does
not make its students look stale. A gateway silent for ``ACTIVE_S`` stops
holding the watermark back.

Gateway clocks drift: each batch's ``sent_at_ms`` against its arrival time
gives the gateway's offset, and sighting times are corrected by it when it
exceeds ``OFFSET_TOLERANCE_MS`` (transport jitter stays uncorrected).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["ACTIVE_S", "LATENESS_MS", "OFFSET_TOLERANCE_MS", "Watermark"]

ACTIVE_S: Final = 30.0
# Gateways publish every 1.5 s; a sighting can be up to one window plus
# transport late relative to another gateway's.
LATENESS_MS: Final = 2_000
OFFSET_TOLERANCE_MS: Final = 1_000
# Weight of the newest offset measurement (exponential moving average).
_OFFSET_ALPHA: Final = 0.2


@dataclass(slots=True)
class _Gateway:
    latest_event_ms: int
    last_arrival_s: float
    offset_ms: float


class Watermark:
    def __init__(self) -> None:
        self._gateways: dict[str, _Gateway] = {}

    def offset_ms(self, gateway: str, *, sent_at_ms: int, arrival_s: float) -> int:
        """Update and return the correction to subtract from this gateway's sighting times."""
        measured = sent_at_ms - arrival_s * 1000
        state = self._gateways.get(gateway)
        if state is None:
            state = self._gateways[gateway] = _Gateway(0, arrival_s, measured)
        else:
            state.offset_ms += _OFFSET_ALPHA * (measured - state.offset_ms)
        return int(state.offset_ms) if abs(state.offset_ms) > OFFSET_TOLERANCE_MS else 0

    def observe(self, gateway: str, *, event_ms: int, arrival_s: float) -> None:
        state = self._gateways.get(gateway)
        if state is None:
            self._gateways[gateway] = _Gateway(event_ms, arrival_s, 0.0)
            return
        state.latest_event_ms = max(state.latest_event_ms, event_ms)
        state.last_arrival_s = arrival_s

    def value(self, now_s: float) -> int | None:
        """The site's watermark, or ``None`` before any gateway has reported.

        When every gateway has been silent for ``ACTIVE_S`` (a quiet site at
        night, a broker outage) the wall clock, less that silence, stands in
        so that students still age out to unknown.
        """
        known = [g for g in self._gateways.values() if g.latest_event_ms]
        if not known:
            return None
        active = [g.latest_event_ms for g in known if now_s - g.last_arrival_s <= ACTIVE_S]
        if not active:
            return int((now_s - ACTIVE_S) * 1000) - LATENESS_MS
        return min(active) - LATENESS_MS

    def active(self, gateway: str, now_s: float) -> bool:
        state = self._gateways.get(gateway)
        return state is not None and now_s - state.last_arrival_s <= ACTIVE_S
