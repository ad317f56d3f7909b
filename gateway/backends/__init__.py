"""Scanner backends: where adverts and card reads come from.

A backend converts what its hardware (or the simulator) gives it into
:class:`~gateway.models.Advert` and :class:`~gateway.models.CardRead` at
the boundary, reading the clock once where each arrives, and hands them to
a :class:`ScanSink` (the gateway). Foreign objects (bleak's, pyserial's)
never travel past the backend.

| backend | module | needs |
| --- | --- | --- |
| BLE (bleak) | :mod:`gateway.backends.ble` | bleak, a Bluetooth adapter |
| serial RFID/NFC desk reader | :mod:`gateway.backends.serial_reader` | pyserial |
| keyboard-wedge reader (one card per line) | :mod:`gateway.backends.wedge` | a readable text stream |
| simulator | :mod:`gateway.backends.sim` | nothing |

Backends with their own thread call the sink from that thread; the sink is
thread-safe. :func:`build_backend` makes one from the ``[scanner]`` section
of a gateway's configuration, importing only what that backend needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from gateway.models import Advert, CardRead

if TYPE_CHECKING:
    from gateway.config import ScannerSection

__all__ = ["ScanSink", "ScannerBackend", "build_backend"]


class ScanSink(Protocol):
    """Receives what a backend heard. Must be quick and thread-safe."""

    def advert(self, advert: Advert) -> None: ...

    def card(self, read: CardRead) -> None: ...


class ScannerBackend(Protocol):
    """A source of adverts and card reads."""

    def start(self, sink: ScanSink) -> None: ...

    def stop(self) -> None: ...


def build_backend(section: ScannerSection) -> ScannerBackend:
    """The backend a validated ``[scanner]`` section describes (imports lazily: bleak is optional)."""
    from gateway import config

    if isinstance(section, config.BleScanner):
        from gateway.backends.ble import BleBackend

        return BleBackend(adapter=section.adapter)
    if isinstance(section, config.SerialScanner):
        from gateway.backends.serial_reader import SerialReaderBackend

        return SerialReaderBackend(
            port=section.port,
            baudrate=section.baudrate,
            reader_format=section.format,
            em4100_number=section.em4100_number,
        )
    if isinstance(section, config.WedgeScanner):
        from gateway.backends.wedge import WedgeBackend

        return WedgeBackend(path=section.path, card_format=section.format)
    from gateway.backends.sim import SimulatedBackend

    return SimulatedBackend()
