"""Keyboard-wedge card readers: one card number per line from a text stream.

What it supports: a reader that "types" the card number followed by Enter
into a stream this process can read line by line: standard input (``path =
"-"``, e.g. the gateway run on the console the reader types into), a tty
device or a named pipe. It does not grab input devices (no evdev): on a
desktop, the reader's keystrokes go wherever the focus is. Each line is
stamped once when it is read and checked with
:func:`gateway.readers.wedge_card`; bad lines are counted in ``bad_lines``
and logged without their content. At end of stream the thread ends.

A blocking read cannot be interrupted: :meth:`WedgeBackend.stop` stops
forwarding at once, and the (daemon) thread ends at the next line or at exit.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from campus.logs import get_logger
from gateway.backends import ScanSink
from gateway.errors import BackendError, ReaderFrameError
from gateway.models import CardRead
from gateway.readers import WedgeFormat, wedge_card

__all__ = ["WedgeBackend"]

log = get_logger(__name__)


class WedgeBackend:
    """Reads one card per line and feeds the sink."""

    def __init__(
        self,
        *,
        path: str = "-",
        card_format: WedgeFormat = "any",
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = path
        self._format: WedgeFormat = card_format
        self._stream = stream
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.cards = 0
        self.bad_lines = 0

    def start(self, sink: ScanSink) -> None:
        if self._thread is not None:
            raise BackendError("the keyboard-wedge backend is already started")
        stream = self._stream if self._stream is not None else self._open()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(sink, stream), name="rfid-wedge", daemon=True)
        self._thread.start()

    def _open(self) -> TextIO:
        if self._path == "-":
            return sys.stdin
        try:
            return Path(self._path).open(encoding="ascii", errors="replace")
        except OSError as exc:
            raise BackendError(f"cannot open {self._path} for card lines: {exc.strerror}") from exc

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=0.5)  # may still be blocked in a read; it is a daemon
            self._thread = None

    def _run(self, sink: ScanSink, stream: TextIO) -> None:
        try:
            for line in stream:
                if self._stop.is_set():
                    break
                received_ms = int(self._clock() * 1000)  # one clock read, where the line arrives
                if not line.strip():
                    continue
                try:
                    card = wedge_card(line, card_format=self._format)
                except ReaderFrameError as exc:
                    self.bad_lines += 1
                    log.warning("wedge.bad_line", reason=exc.reason)
                    continue
                self.cards += 1
                sink.card(CardRead(received_ms=received_ms, card=card))
            else:
                log.info("wedge.end_of_stream", path=self._path)
        finally:
            if stream is not sys.stdin and self._stream is None:
                stream.close()
