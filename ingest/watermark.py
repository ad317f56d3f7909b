"""Event-time watermarks per site, and gateway clock offsets. Pure: wall time is passed in.

The site's watermark is the earliest "latest event time" among its *active*
gateways (heard from within ``ACTIVE_S`` of wall time), minus
``LATENESS_MS``: evaluation at time T waits until every live gateway has
reported past T, so one gateway replaying its journal after an outage does
not make its students look stale. A gateway silent for ``ACTIVE_S`` stops
holding the watermark back.

Gateway clocks drift. ``sent_at_ms - arrival`` is the gateway's clock offset
minus the transport delay; a delay (a message queued at the broker while
ingest restarted) only ever makes it smaller. The largest value over recent
messages is therefore a safe lower bound of a clock running *ahead*, and
sighting times are corrected by it when it exceeds ``OFFSET_TOLERANCE_MS`` —
a fast clock would otherwise drag the watermark into the future. A clock
running behind is not corrected (it cannot be told apart from queueing): its
evidence reaches live tracking later, or the history backfill.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final

__all__ = ["ACTIVE_S", "LATENESS_MS", "OFFSET_TOLERANCE_MS", "Watermark"]

ACTIVE_S: Final = 30.0
# Gateways publish every 1.5 s; a sighting can be up to one window plus
# transport late relative to another gateway's.
LATENESS_MS: Final = 2_000
OFFSET_TOLERANCE_MS: Final = 1_000
# Offsets are estimated over this many recent messages per gateway.
_OFFSET_SAMPLES: Final = 32


@dataclass(slots=True)
class _Gateway:
    latest_event_ms: int
    last_arrival_s: float
    offsets: deque[float] = field(default_factory=lambda: deque(maxlen=_OFFSET_SAMPLES))


class Watermark:
    def __init__(self) -> None:
        self._gateways: dict[str, _Gateway] = {}

    def offset_ms(self, gateway: str, *, sent_at_ms: int, arrival_s: float) -> int:
        """Update and return the correction to subtract from this gateway's sighting times."""
        state = self._gateways.get(gateway)
        if state is None:
            state = self._gateways[gateway] = _Gateway(0, arrival_s)
        state.offsets.append(sent_at_ms - arrival_s * 1000)
        ahead = max(state.offsets)
        return int(ahead) if ahead > OFFSET_TOLERANCE_MS else 0

    def observe(self, gateway: str, *, event_ms: int, arrival_s: float) -> None:
        state = self._gateways.get(gateway)
        if state is None:
            self._gateways[gateway] = _Gateway(event_ms, arrival_s)
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
