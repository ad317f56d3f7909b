"""The simulator's backend: adverts and card reads pushed in by the caller, with simulated times."""

from __future__ import annotations

from gateway.backends import ScanSink
from gateway.errors import BackendError
from gateway.models import Advert, CardRead

__all__ = ["SimulatedBackend"]


class SimulatedBackend:
    """Forwards pushed adverts and reads to the sink, synchronously in the caller's thread.

    The simulator drives time: the stamps it puts on what it pushes are the
    only clock the gateway's aggregation sees. Pushing before :meth:`start`
    or after :meth:`stop` raises :class:`~gateway.errors.BackendError`, so a
    mis-ordered simulation fails loudly instead of losing data.
    """

    def __init__(self) -> None:
        self._sink: ScanSink | None = None

    def start(self, sink: ScanSink) -> None:
        self._sink = sink

    def stop(self) -> None:
        self._sink = None

    def _require_sink(self) -> ScanSink:
        if self._sink is None:
            raise BackendError("the simulated backend is not started")
        return self._sink

    def push_advert(self, advert: Advert) -> None:
        self._require_sink().advert(advert)

    def push_card(self, read: CardRead) -> None:
        self._require_sink().card(read)
