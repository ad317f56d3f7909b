"""Card reader formats: the ASCII frames and lines of common desk readers. Pure.

- ``em4100``: 125 kHz EM4100 readers (RDM6300, ID-12/ID-20 and clones):
  ``STX (0x02) | 10 hex chars (version byte + 32-bit id) | 2 hex chars checksum
  | [CR LF] | ETX (0x03)``; the checksum is the XOR of the 5 data bytes. The
  card number is, by default, the 10-digit decimal of the 32-bit id (what is
  printed on most cards and what keyboard-wedge readers type), or all 10 hex
  characters with ``em4100_number = "hex"``.
- ``hex-uid``: 13.56 MHz (ISO 14443 / 15693) readers sending one UID per
  line in hex, e.g. ``04A2245A1B2C80\\r\\n``, optionally prefixed ``UID:`` and
  with ``:``, ``-`` or space between bytes; 4 to 10 bytes.
- ``decimal``: readers sending one decimal card number per line (4-20 digits).

A keyboard-wedge reader types one card per line; :func:`wedge_card` reads
such a line as ``decimal``, ``hex`` (4-20 hex digits) or ``any`` (4-32
letters and digits).

:class:`StreamDecoder` turns a byte stream into card numbers and
:class:`~gateway.errors.ReaderFrameError` values (bad checksum, noise, a
frame or line too long), resynchronising after each. Errors never quote the
bytes they refuse: those may be most of a card number.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from gateway.errors import ReaderFrameError

__all__ = [
    "Em4100Number",
    "ReaderFormat",
    "StreamDecoder",
    "WedgeFormat",
    "decimal_card",
    "em4100_card",
    "hex_uid_card",
    "wedge_card",
]

ReaderFormat = Literal["em4100", "hex-uid", "decimal"]
Em4100Number = Literal["decimal", "hex"]
WedgeFormat = Literal["decimal", "hex", "any"]

STX: Final = 0x02
ETX: Final = 0x03
# The longest frame or line any supported format sends (an EM4100 frame is 14
# bytes with CR LF; a 10-byte UID with separators and a prefix is under 40).
MAX_FRAME_BYTES: Final = 64

_HEX: Final = frozenset(b"0123456789ABCDEFabcdef")
_UID_SEPARATORS = re.compile(r"[\s:\-]")
_HEX_TEXT = re.compile(r"[0-9A-Fa-f]+")
_DECIMAL_TEXT = re.compile(r"[0-9]{4,20}")
_ANY_TEXT = re.compile(r"[0-9A-Za-z]{4,32}")


def em4100_card(body: bytes, *, number: Em4100Number = "decimal") -> str:
    """The card number in an EM4100 frame's body (the bytes between STX and ETX)."""
    if body.endswith(b"\r\n"):
        body = body[:-2]
    if len(body) != 12:
        raise ReaderFrameError("bad_length", f"EM4100 frame body is {len(body)} characters, not 12")
    if not all(ch in _HEX for ch in body):
        raise ReaderFrameError("not_hex", "EM4100 frame holds characters that are not hex digits")
    raw = bytes.fromhex(body.decode("ascii"))
    checksum = raw[0] ^ raw[1] ^ raw[2] ^ raw[3] ^ raw[4]
    if checksum != raw[5]:
        raise ReaderFrameError("bad_checksum", "EM4100 checksum does not match its data")
    if number == "hex":
        return raw[:5].hex().upper()
    return f"{int.from_bytes(raw[1:5], 'big'):010d}"


def hex_uid_card(line: str) -> str:
    """The UID in a 13.56 MHz reader's line, upper-case hex without separators."""
    text = line.strip()
    if text[:4].upper() == "UID:":
        text = text[4:]
    text = _UID_SEPARATORS.sub("", text)
    if not _HEX_TEXT.fullmatch(text):
        raise ReaderFrameError("not_hex", "UID line holds characters that are not hex digits")
    if len(text) % 2 or not 8 <= len(text) <= 20:
        raise ReaderFrameError("bad_length", f"a UID is 4 to 10 bytes, this one {len(text) / 2:g}")
    return text.upper()


def decimal_card(line: str) -> str:
    """The card number in a decimal line (4-20 digits)."""
    text = line.strip()
    if not _DECIMAL_TEXT.fullmatch(text):
        raise ReaderFrameError("not_decimal", f"expected 4-20 decimal digits, got {len(text)} characters")
    return text


def wedge_card(line: str, *, card_format: WedgeFormat = "any") -> str:
    """The card number a keyboard-wedge reader typed on one line."""
    if card_format == "decimal":
        return decimal_card(line)
    text = line.strip()
    if card_format == "hex":
        if not (_HEX_TEXT.fullmatch(text) and 4 <= len(text) <= 20):
            raise ReaderFrameError("not_hex", f"expected 4-20 hex digits, got {len(text)} characters")
        return text.upper()
    if not _ANY_TEXT.fullmatch(text):
        raise ReaderFrameError("bad_line", f"expected 4-32 letters or digits, got {len(text)} characters")
    return text.upper()


class StreamDecoder:
    """Incremental decoder of a reader's byte stream. Not thread-safe; one per reader."""

    def __init__(self, reader_format: ReaderFormat, *, em4100_number: Em4100Number = "decimal") -> None:
        self.reader_format = reader_format
        self._number: Em4100Number = em4100_number
        self._buffer = bytearray()
        self._skipping = False  # discarding the rest of an over-long line

    def feed(self, data: bytes) -> list[str | ReaderFrameError]:
        """Card numbers and refusals completed by ``data``, in order."""
        self._buffer += data
        if self.reader_format == "em4100":
            return self._frames()
        return self._lines()

    def _frames(self) -> list[str | ReaderFrameError]:
        out: list[str | ReaderFrameError] = []
        buf = self._buffer
        while buf:
            start = buf.find(STX)
            if start < 0:
                if buf.strip(b"\r\n\x00"):
                    out.append(ReaderFrameError("noise", f"{len(buf)} bytes outside a frame"))
                buf.clear()
                break
            if buf[:start].strip(b"\r\n\x00"):
                out.append(ReaderFrameError("noise", f"{start} bytes before a frame"))
            del buf[:start]
            end = buf.find(ETX, 1)
            restart = buf.find(STX, 1)
            if restart > 0 and (end < 0 or restart < end):
                out.append(ReaderFrameError("truncated", "a frame started before the previous one ended"))
                del buf[:restart]
                continue
            if end < 0:
                if len(buf) > MAX_FRAME_BYTES:
                    out.append(
                        ReaderFrameError("too_long", f"no end of frame within {MAX_FRAME_BYTES} bytes")
                    )
                    buf.clear()
                break
            body = bytes(buf[1:end])
            del buf[: end + 1]
            try:
                out.append(em4100_card(body, number=self._number))
            except ReaderFrameError as exc:
                out.append(exc)
        return out

    def _lines(self) -> list[str | ReaderFrameError]:
        out: list[str | ReaderFrameError] = []
        buf = self._buffer
        while True:
            cut = min((i for i in (buf.find(b"\r"), buf.find(b"\n")) if i >= 0), default=-1)
            if cut < 0:
                if len(buf) > MAX_FRAME_BYTES:
                    if not self._skipping:
                        out.append(
                            ReaderFrameError("too_long", f"no end of line within {MAX_FRAME_BYTES} bytes")
                        )
                    self._skipping = True
                    buf.clear()
                break
            line = bytes(buf[:cut])
            del buf[: cut + 1]
            if self._skipping:
                self._skipping = False
                continue
            if not line.strip():
                continue
            if len(line) > MAX_FRAME_BYTES:
                out.append(ReaderFrameError("too_long", f"a line of {len(line)} bytes"))
                continue
            out.append(self._line(line))
        return out

    def _line(self, line: bytes) -> str | ReaderFrameError:
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            return ReaderFrameError("not_ascii", "line holds bytes that are not ASCII")
        try:
            return hex_uid_card(text) if self.reader_format == "hex-uid" else decimal_card(text)
        except ReaderFrameError as exc:
            return exc
