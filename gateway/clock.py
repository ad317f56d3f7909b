"""An approximate estimate of the gateway's clock offset from ingest's acknowledgements. Pure.

Ingest stamps every ack with ``committed_at_ms`` on its own clock, right
after its commit and just before it publishes the ack. When the gateway
receives the ack at ``received_ms`` (its own clock),
``received_ms - committed_at_ms = offset + delivery delay``, where
``offset`` is the gateway's clock minus ingest's (positive: the gateway runs
ahead) and the delay is never negative. The smallest value over recent acks
is therefore the offset plus the fastest delivery seen (milliseconds on a
LAN); a queued or re-sent ack only makes its sample larger and is ignored.

It is approximate: an upper bound of the offset, off by that fastest delay,
and blind to a gateway's clock stepping between samples. It is reported in
the gateway's status for operators; ingest keeps its own estimate.
"""

from __future__ import annotations

from collections import deque
from typing import Final

__all__ = ["OFFSET_SAMPLES", "ClockOffsetEstimator"]

# About 30 s of acks at one batch per 1.5 s window: long enough to catch an
# undelayed ack, short enough to follow a clock that is corrected by NTP.
OFFSET_SAMPLES: Final = 20


class ClockOffsetEstimator:
    """Minimum of ``received - committed_at`` over the last ``samples`` acks."""

    def __init__(self, *, samples: int = OFFSET_SAMPLES) -> None:
        self._samples: deque[int] = deque(maxlen=samples)

    def observe(self, *, committed_at_ms: int, received_ms: int) -> None:
        self._samples.append(received_ms - committed_at_ms)

    def offset_ms(self) -> int:
        """The estimate (gateway minus ingest, ms); 0 before the first ack."""
        return min(self._samples) if self._samples else 0
