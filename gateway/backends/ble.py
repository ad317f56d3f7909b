"""BLE scanning through bleak: BleakScanner with a detection callback, in its own asyncio loop.

bleak is imported only when the scan starts, so the rest of the gateway
(and the simulator) never needs it. The scan runs in a named thread with
its own event loop; each advert is converted to :class:`~gateway.models.Advert`
right in the callback, with the clock read once there, and bleak's objects
go no further. If the adapter is missing or the scan fails, the thread logs
it and tries again after a jittered, growing delay until stopped.

Tested: the conversion (:func:`advert_from_bleak`) with small stand-in
objects. Not tested here: a live scan (there is no Bluetooth adapter on the
build machines).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any, Final, Protocol

from campus.logs import get_logger
from campus.mqtt import Backoff
from gateway.backends import ScanSink
from gateway.errors import BackendError
from gateway.models import Advert

__all__ = ["BleBackend", "advert_from_bleak"]

log = get_logger(__name__)

# How often the scan thread checks whether it should stop.
_STOP_POLL_S: Final = 0.2


class _Device(Protocol):
    """What the conversion reads of bleak's ``BLEDevice``."""

    @property
    def address(self) -> str: ...


class _AdvertisementData(Protocol):
    """What the conversion reads of bleak's ``AdvertisementData``."""

    @property
    def manufacturer_data(self) -> dict[int, bytes]: ...

    @property
    def service_data(self) -> dict[str, bytes]: ...

    @property
    def tx_power(self) -> int | None: ...

    @property
    def rssi(self) -> int: ...


def advert_from_bleak(device: _Device, data: _AdvertisementData, *, received_ms: int) -> Advert:
    """Our :class:`Advert` from bleak's device and advertisement data (copied, keys normalised)."""
    return Advert(
        received_ms=received_ms,
        address=device.address,
        rssi=int(data.rssi),
        manufacturer_data={int(k): bytes(v) for k, v in data.manufacturer_data.items()},
        service_data={str(k).lower(): bytes(v) for k, v in data.service_data.items()},
        tx_power=data.tx_power,
    )


class BleBackend:
    """Scans continuously with bleak and feeds every advert to the sink."""

    def __init__(self, *, adapter: str | None = None, clock: Callable[[], float] = time.time) -> None:
        self._adapter = adapter
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.scans_started = 0
        self.scan_failures = 0

    def start(self, sink: ScanSink) -> None:
        if self._thread is not None:
            raise BackendError("the BLE backend is already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(sink,), name="ble-scan", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self, sink: ScanSink) -> None:
        backoff = Backoff(base_s=1.0, cap_s=60.0)
        while not self._stop.is_set():
            try:
                asyncio.run(self._scan(sink))
            except Exception as exc:  # noqa: BLE001 - bleak and D-Bus raise many types; all mean "retry"
                self.scan_failures += 1
                delay = backoff.next()
                log.warning("ble.scan_failed", error=type(exc).__name__, retry_s=round(delay, 1))
                self._stop.wait(delay)
            else:
                backoff.reset()

    async def _scan(self, sink: ScanSink) -> None:
        from bleak import BleakScanner

        clock = self._clock

        def on_advert(device: Any, data: Any) -> None:
            received_ms = int(clock() * 1000)  # the one clock read, where the advert arrives
            sink.advert(advert_from_bleak(device, data, received_ms=received_ms))

        bluez: Any = {"adapter": self._adapter} if self._adapter else {}
        async with BleakScanner(detection_callback=on_advert, scanning_mode="active", bluez=bluez):
            self.scans_started += 1
            log.info("ble.scanning", adapter=self._adapter or "default")
            while not self._stop.is_set():
                await asyncio.sleep(_STOP_POLL_S)
