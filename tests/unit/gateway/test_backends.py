"""Scanner backends without hardware: bleak's objects through stand-ins, serial readers through
pyserial's loop:// and a real pseudo-terminal, keyboard-wedge lines from a stream.

A live BLE scan is not tested (no Bluetooth adapter here).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import serial

from gateway.backends import build_backend
from gateway.backends.ble import BleBackend, advert_from_bleak
from gateway.backends.serial_reader import SerialReaderBackend
from gateway.backends.sim import SimulatedBackend
from gateway.backends.wedge import WedgeBackend
from gateway.config import BleScanner, SerialScanner, SimScanner, WedgeScanner
from gateway.errors import BackendError
from gateway.models import Advert, CardRead

EM4100 = b"\x0200008B3B40F0\r\n\x03"  # card 0009124672
EM4100_BAD = b"\x0200008B3B40F1\r\n\x03"


class Collector:
    """A ScanSink that remembers what it got and lets a test wait for it (bounded)."""

    def __init__(self) -> None:
        self.adverts: list[Advert] = []
        self.cards: list[CardRead] = []
        self._changed = threading.Condition()

    def advert(self, advert: Advert) -> None:
        with self._changed:
            self.adverts.append(advert)
            self._changed.notify_all()

    def card(self, read: CardRead) -> None:
        with self._changed:
            self.cards.append(read)
            self._changed.notify_all()

    def wait_cards(self, n: int, timeout: float = 5.0) -> list[str]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.cards) >= n, timeout=timeout)
            return [c.card for c in self.cards]


def test_simulated_backend_forwards_in_the_callers_thread_only_while_started() -> None:
    backend, sink = SimulatedBackend(), Collector()
    read = CardRead(received_ms=1_795_339_200_000, card="1234")
    with pytest.raises(BackendError):
        backend.push_card(read)
    backend.start(sink)
    backend.push_card(read)
    assert sink.cards == [read]  # already there: synchronous
    backend.stop()
    with pytest.raises(BackendError):
        backend.push_card(read)


def test_bleak_advertisement_is_converted_at_the_boundary() -> None:
    device = SimpleNamespace(address="C0:FF:EE:00:00:01", name="badge", details=object())
    data = SimpleNamespace(
        local_name="badge",
        manufacturer_data={76: bytearray(b"\x02\x15")},
        service_data={"19C068F1-D177-40E2-8E21-67A26D92AB72": bytearray(b"\x01\xc5" + bytes(8))},
        service_uuids=[],
        tx_power=None,
        rssi=-67,
        platform_data=(object(),),
    )
    advert = advert_from_bleak(device, data, received_ms=1_795_339_200_123)
    assert advert == Advert(
        received_ms=1_795_339_200_123,
        address="C0:FF:EE:00:00:01",
        rssi=-67,
        manufacturer_data={76: b"\x02\x15"},
        service_data={"19c068f1-d177-40e2-8e21-67a26d92ab72": b"\x01\xc5" + bytes(8)},
    )
    assert type(advert.manufacturer_data[76]) is bytes  # a copy, not bleak's buffer
    data.manufacturer_data[76][0] = 0xFF
    assert advert.manufacturer_data[76] == b"\x02\x15"


def test_gateway_imports_without_bleak() -> None:
    code = (
        "import sys, gateway.runner, gateway.service, gateway.cli, gateway.backends.ble; "
        "sys.exit('bleak' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=30).returncode == 0


def test_ble_backend_refuses_a_second_start() -> None:
    backend = BleBackend()
    backend._thread = threading.Thread(target=lambda: None)  # as if started; no radio here
    with pytest.raises(BackendError):
        backend.start(Collector())


def test_serial_reader_over_loop_url() -> None:
    port = serial.serial_for_url("loop://", timeout=0.05)
    backend = SerialReaderBackend(port="loop://", opener=lambda: port)
    sink = Collector()
    backend.start(sink)
    try:
        port.write(EM4100[:5])  # a frame split across reads
        port.write(EM4100[5:] + EM4100_BAD + b"\x020A00BC614E99\x03")
        assert sink.wait_cards(2) == ["0009124672", "0012345678"]
    finally:
        backend.stop()
    assert backend.bad_frames == {"bad_checksum": 1}
    assert all(c.received_ms > 1_577_836_800_000 for c in sink.cards)


def test_serial_reader_on_a_real_tty_path_with_hex_uid_lines() -> None:
    controller, device = os.openpty()
    try:
        backend = SerialReaderBackend(port=os.ttyname(device), reader_format="hex-uid")
        sink = Collector()
        backend.start(sink)
        try:
            deadline = time.monotonic() + 5
            while backend.opens == 0 and time.monotonic() < deadline:  # opening flushes the input
                time.sleep(0.01)
            os.write(controller, b"UID:04A2245A1B2C80\r\n")
            assert sink.wait_cards(1) == ["04A2245A1B2C80"]
        finally:
            backend.stop()
    finally:
        os.close(controller)
        os.close(device)


def test_serial_reader_retries_a_missing_port_and_stops_promptly() -> None:
    backend = SerialReaderBackend(port="/nonexistent/ttyUSB9")
    backend.start(Collector())
    deadline = time.monotonic() + 5
    while backend.open_failures == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    backend.stop()
    assert backend.open_failures >= 1
    assert time.monotonic() - started < 2


def test_wedge_reads_one_card_per_line() -> None:
    stream = io.StringIO("0009124672\n\nnot a card!\n04A2245A\n")
    backend = WedgeBackend(card_format="any", stream=stream)
    sink = Collector()
    backend.start(sink)
    assert sink.wait_cards(2) == ["0009124672", "04A2245A"]
    backend.stop()
    assert backend.bad_lines == 1


def test_wedge_from_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="cannot open"):
        WedgeBackend(path=str(tmp_path / "nope")).start(Collector())


def test_build_backend_from_each_scanner_section(tmp_path: Path) -> None:
    assert isinstance(build_backend(BleScanner(adapter="hci1")), BleBackend)
    assert isinstance(build_backend(SerialScanner(kind="serial", port="loop://")), SerialReaderBackend)
    assert isinstance(build_backend(WedgeScanner(kind="wedge", path="-")), WedgeBackend)
    assert isinstance(build_backend(SimScanner(kind="sim")), SimulatedBackend)
