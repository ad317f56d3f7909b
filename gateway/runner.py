"""One reader gateway: backend -> identify -> aggregate -> journal + uplink.

The backend calls :meth:`Gateway.advert` and :meth:`Gateway.card` (the
gateway is its :class:`~gateway.backends.ScanSink`), possibly from its own
thread. Adverts are identified at once (non-badges dropped and counted,
their addresses forgotten) and tallied per badge per window; card taps are
hashed and journalled at once. :meth:`Gateway.poll` closes the windows that
have ended and journals them as one batch. Aggregation is driven only by
the adverts' stamps and ``poll``'s ``now_ms``, never by reading a clock, so
the simulator can drive a real gateway with simulated time;
:meth:`Gateway.run` is the loop that drives it with the wall clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Final, Protocol

from campus import wire
from campus.logs import get_logger
from gateway.aggregate import TapDebouncer, WindowAggregator, valid_event_ms
from gateway.backends import ScannerBackend
from gateway.identify import card_identity, identify
from gateway.models import Advert, CardRead, DropReason

__all__ = ["CLOSE_GRACE_MS", "MAX_SIGHTINGS_PER_MESSAGE", "BatchUplink", "Gateway", "GatewayStats"]

log = get_logger(__name__)

# The run loop closes a window this long after it ends, so an advert stamped
# just before the boundary, still on its way from the scanner thread, is in it.
CLOSE_GRACE_MS: Final = 100
# A sighting is about 130-150 bytes of JSON: 1,000 keep a message near 150 KB,
# well under ingest's 256 KiB limit (the wire allows 5,000 per batch).
MAX_SIGHTINGS_PER_MESSAGE: Final = 1000
# The scan rate in the status is measured over at least this much event time.
_RATE_INTERVAL_MS: Final = 5_000


class BatchUplink(Protocol):
    """What the gateway uses of :class:`gateway.uplink.Uplink` (a fake stands in for it in unit tests)."""

    @property
    def gateway_id(self) -> str: ...

    def start(self) -> None: ...

    def close(self) -> None: ...

    def submit(self, sightings: list[wire.Sighting]) -> object: ...

    def set_scan_rate(self, source: Callable[[], float]) -> None: ...


@dataclass(slots=True)
class GatewayStats:
    """Counters since start. Every advert is counted once in ``adverts`` and at most once below."""

    adverts: int = 0  # adverts heard
    non_badge_dropped: int = 0  # phones, headphones, beacon formats we do not resolve
    malformed: int = 0  # claimed a badge format but broke its layout (dropped)
    bad_clock: int = 0  # stamped outside the wire's time range (dropped)
    overflow_dropped: int = 0  # too many distinct badges open at once (dropped)
    sightings: int = 0  # per-window BLE sightings journalled
    taps: int = 0  # card taps journalled
    repeat_taps: int = 0  # the same card still held on the reader (not sent again)
    bad_cards: int = 0  # card reads with no usable number
    batches: int = 0  # batches journalled


class Gateway:
    """Aggregates a backend's adverts per badge per window and hands batches to the uplink."""

    def __init__(
        self, *, uplink: BatchUplink, backend: ScannerBackend, badge_hash_key: bytes, window_ms: int = 1500
    ) -> None:
        self._uplink = uplink
        self._backend = backend
        self._hash_key = badge_hash_key
        self.window_ms = window_ms
        self._lock = threading.Lock()
        self._aggregator = WindowAggregator(window_ms=window_ms)
        self._debouncer = TapDebouncer()
        self.stats = GatewayStats()
        self._rate = 0.0
        self._rate_mark: tuple[int, int] | None = None  # (now_ms, adverts) at the last rate update
        self._started = False
        self._closed = False
        uplink.set_scan_rate(self.scan_rate)

    # -- lifecycle -----------------------------------------------------
    def start(self) -> None:
        """Start the uplink, then the backend (so nothing heard waits for a connection)."""
        self._uplink.start()
        self._backend.start(self)
        self._started = True
        log.info("gateway.started", gateway=self._uplink.gateway_id, window_ms=self.window_ms)

    def close(self) -> None:
        """Stop the backend, journal everything still aggregated, stop the uplink. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._started:
            self._backend.stop()
        with self._lock:
            pending = self._aggregator.flush()
        self._submit(pending)
        if self._started:
            self._uplink.close()
        log.info("gateway.stopped", gateway=self._uplink.gateway_id, **asdict(self.stats))

    def run(self, stop: threading.Event, *, clock: Callable[[], float] = time.time) -> None:
        """Poll at every window boundary (plus a grace) on ``clock`` until ``stop`` is set."""
        while not stop.is_set():
            now_ms = int(clock() * 1000)
            self.poll(now_ms - CLOSE_GRACE_MS)
            next_close = ((now_ms - CLOSE_GRACE_MS) // self.window_ms + 1) * self.window_ms + CLOSE_GRACE_MS
            stop.wait(max(next_close - now_ms, 1) / 1000)

    # -- the sink the backend calls ------------------------------------
    def advert(self, advert: Advert) -> None:
        """Identify and tally one advert; drop it (counted) if it is not a badge."""
        identity = identify(advert, hash_key=self._hash_key)
        with self._lock:
            stats = self.stats
            stats.adverts += 1
            if isinstance(identity, DropReason):
                if identity is DropReason.MALFORMED:
                    stats.malformed += 1
                else:
                    stats.non_badge_dropped += 1
            elif not valid_event_ms(advert.received_ms):
                stats.bad_clock += 1
            elif not self._aggregator.add(identity, received_ms=advert.received_ms, rssi=advert.rssi):
                stats.overflow_dropped += 1

    def card(self, read: CardRead) -> None:
        """Hash a card tap and journal it at once (a repeat of a held card is dropped, counted)."""
        identity = card_identity(read.card, hash_key=self._hash_key)
        with self._lock:
            if identity is None:
                self.stats.bad_cards += 1
                return
            if not valid_event_ms(read.received_ms):
                self.stats.bad_clock += 1
                return
            if not self._debouncer.accept(identity.id, received_ms=read.received_ms):
                self.stats.repeat_taps += 1
                return
        tap = wire.Sighting(
            kind=identity.kind, id=identity.id, first_ms=read.received_ms, last_ms=read.received_ms
        )
        self._uplink.submit([tap])
        with self._lock:
            self.stats.taps += 1
            self.stats.batches += 1

    # -- driving -------------------------------------------------------
    def poll(self, now_ms: int) -> int:
        """Close the windows ending at or before ``now_ms`` and journal them; returns sightings submitted."""
        with self._lock:
            closed = self._aggregator.close(now_ms)
            self._update_rate(now_ms)
        return self._submit(closed)

    def scan_rate(self) -> float:
        """Adverts per second of event time, over the last few seconds (for the status message)."""
        return self._rate

    def _update_rate(self, now_ms: int) -> None:
        if self._rate_mark is None:
            self._rate_mark = (now_ms, self.stats.adverts)
            return
        since_ms, adverts = self._rate_mark
        if now_ms - since_ms >= _RATE_INTERVAL_MS:
            self._rate = (self.stats.adverts - adverts) * 1000 / (now_ms - since_ms)
            self._rate_mark = (now_ms, self.stats.adverts)

    def _submit(self, sightings: list[wire.Sighting]) -> int:
        for start in range(0, len(sightings), MAX_SIGHTINGS_PER_MESSAGE):
            self._uplink.submit(sightings[start : start + MAX_SIGHTINGS_PER_MESSAGE])
            with self._lock:
                self.stats.batches += 1
        with self._lock:
            self.stats.sightings += len(sightings)
        return len(sightings)
