"""RFID/NFC desk readers on a serial line (pyserial), in a named thread.

The thread reads whatever bytes have arrived, stamps them once with the
clock, and feeds a :class:`~gateway.readers.StreamDecoder`; every complete
card number goes to the sink as a :class:`~gateway.models.CardRead`. Bad
frames (wrong checksum, noise, too long) are counted in ``bad_frames`` by
reason and logged without their content; they never stop the reader. If the
port cannot be opened or goes away (a USB reader unplugged), the thread
retries after a jittered, growing delay until stopped.

``port`` is a device path (``/dev/ttyUSB0``) or any pyserial URL
(``loop://``, ``socket://host:port``, ``rfc2217://...``).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Final, Protocol

import serial

from campus.logs import get_logger
from campus.mqtt import Backoff
from gateway.backends import ScanSink
from gateway.errors import BackendError, ReaderFrameError
from gateway.models import CardRead
from gateway.readers import Em4100Number, ReaderFormat, StreamDecoder

__all__ = ["SerialPort", "SerialReaderBackend"]

log = get_logger(__name__)

# Read timeout: how long a read waits for the first byte, and so how quickly
# the thread notices stop(). Frames are 14 bytes; at 9600 baud one takes 15 ms.
READ_TIMEOUT_S: Final = 0.2


class SerialPort(Protocol):
    """What the backend uses of a pyserial port."""

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def close(self) -> None: ...


class SerialReaderBackend:
    """Reads card numbers from a serial reader and feeds them to the sink."""

    def __init__(
        self,
        *,
        port: str,
        baudrate: int = 9600,
        reader_format: ReaderFormat = "em4100",
        em4100_number: Em4100Number = "decimal",
        clock: Callable[[], float] = time.time,
        opener: Callable[[], SerialPort] | None = None,
    ) -> None:
        self._port = port
        self._baudrate = baudrate
        self._format: ReaderFormat = reader_format
        self._em4100_number: Em4100Number = em4100_number
        self._clock = clock
        self._opener = opener or self._open
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.cards = 0
        self.bad_frames: Counter[str] = Counter()
        self.open_failures = 0
        self.opens = 0

    def _open(self) -> SerialPort:
        port: SerialPort = serial.serial_for_url(self._port, baudrate=self._baudrate, timeout=READ_TIMEOUT_S)
        return port

    def start(self, sink: ScanSink) -> None:
        if self._thread is not None:
            raise BackendError("the serial reader backend is already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(sink,), name="rfid-serial", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self, sink: ScanSink) -> None:
        backoff = Backoff(base_s=0.5, cap_s=30.0)
        while not self._stop.is_set():
            try:
                port = self._opener()
            except (serial.SerialException, OSError, ValueError) as exc:
                self.open_failures += 1
                delay = backoff.next()
                log.warning(
                    "rfid.open_failed", port=self._port, error=type(exc).__name__, retry_s=round(delay, 1)
                )
                self._stop.wait(delay)
                continue
            backoff.reset()
            self.opens += 1
            log.info("rfid.reading", port=self._port, format=self._format)
            try:
                self._read(port, sink)
            except (serial.SerialException, OSError) as exc:
                log.warning("rfid.port_lost", port=self._port, error=type(exc).__name__)
                self._stop.wait(backoff.next())
            finally:
                port.close()

    def _read(self, port: SerialPort, sink: ScanSink) -> None:
        decoder = StreamDecoder(self._format, em4100_number=self._em4100_number)
        while not self._stop.is_set():
            chunk = port.read(max(port.in_waiting, 1))
            if not chunk:
                continue
            received_ms = int(self._clock() * 1000)  # one clock read, where the bytes arrive
            for item in decoder.feed(chunk):
                if isinstance(item, ReaderFrameError):
                    self.bad_frames[item.reason] += 1
                    log.warning("rfid.bad_frame", port=self._port, reason=item.reason)
                    continue
                self.cards += 1
                sink.card(CardRead(received_ms=received_ms, card=item))
