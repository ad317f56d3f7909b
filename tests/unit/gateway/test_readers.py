"""Card reader formats: EM4100 frames with checksums, hex-UID and decimal lines, keyboard-wedge lines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.errors import ReaderFrameError
from gateway.readers import StreamDecoder, decimal_card, em4100_card, hex_uid_card, wedge_card


def em4100_frame(data: bytes, *, crlf: bool = True, checksum: int | None = None) -> bytes:
    """STX | 10 hex | 2 hex XOR checksum | [CR LF] | ETX."""
    xor = 0
    for byte in data:
        xor ^= byte
    body = (data.hex().upper() + f"{xor if checksum is None else checksum:02X}").encode()
    return b"\x02" + body + (b"\r\n" if crlf else b"") + b"\x03"


# Version byte 0x00, id 0x008B3B40 = 9124672: printed on the card as 0009124672.
FRAME = em4100_frame(bytes.fromhex("00008B3B40"))


def test_em4100_frame_gives_the_printed_number_or_the_hex_id() -> None:
    assert FRAME == b"\x0200008B3B40F0\r\n\x03"  # 00^00^8B^3B^40 = F0
    assert em4100_card(FRAME[1:-1]) == "0009124672"
    assert em4100_card(FRAME[1:-1], number="hex") == "00008B3B40"
    assert em4100_card(b"00008b3b40f0") == "0009124672"  # lower-case hex and no CR LF (RDM6300)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"0000008B3B40B1", "bad_length"),
        (b"0000008B3B4", "bad_length"),
        (b"0000G08B3B4000", "bad_length"),
        (b"0000G8B3B40B0", "bad_length"),
        (b"0000G8B3B4B0", "not_hex"),
        (b"00008B3B40B1", "bad_checksum"),
    ],
)
def test_em4100_refusals(body: bytes, reason: str) -> None:
    with pytest.raises(ReaderFrameError) as caught:
        em4100_card(body)
    assert caught.value.reason == reason
    assert b"8B3B" not in str(caught.value).encode()  # refusals never quote the card


def test_stream_decoder_resynchronises_after_bad_frames() -> None:
    decoder = StreamDecoder("em4100")
    good = em4100_frame(bytes.fromhex("0A00BC614E"), crlf=False)
    bad = em4100_frame(bytes.fromhex("0A00BC614E"), checksum=0)
    stream = b"\r\n" + FRAME + b"junk" + bad + b"\x020000" + good + FRAME
    out = decoder.feed(stream)
    reasons = [item.reason if isinstance(item, ReaderFrameError) else item for item in out]
    assert reasons == ["0009124672", "noise", "bad_checksum", "truncated", "0012345678", "0009124672"]


def test_stream_decoder_bounds_an_endless_frame() -> None:
    decoder = StreamDecoder("em4100")
    out = decoder.feed(b"\x02" + b"A" * 100)
    assert [e.reason for e in out if isinstance(e, ReaderFrameError)] == ["too_long"]
    assert decoder.feed(FRAME) == ["0009124672"]


@given(st.lists(st.integers(1, 20), max_size=30))
def test_any_chunking_gives_the_same_cards(cuts: list[int]) -> None:
    stream = FRAME + em4100_frame(bytes.fromhex("0A00BC614E"), crlf=False) + FRAME
    decoder = StreamDecoder("em4100")
    out: list[str | ReaderFrameError] = []
    position = 0
    for size in cuts:
        out += decoder.feed(stream[position : position + size])
        position += size
    out += decoder.feed(stream[position:])
    assert out == ["0009124672", "0012345678", "0009124672"]


@given(st.binary(max_size=200), st.sampled_from(["em4100", "hex-uid", "decimal"]))
def test_random_bytes_are_refused_never_raised(raw: bytes, reader_format: str) -> None:
    decoder = StreamDecoder(reader_format)  # type: ignore[arg-type]
    for item in decoder.feed(raw):
        assert isinstance(item, (str, ReaderFrameError))
    # Whatever came before, a valid frame or line after a line break still decodes.
    tail = (
        FRAME
        if reader_format == "em4100"
        else b"\r\n04A2245A1B2C80\r\n"
        if reader_format == "hex-uid"
        else b"\n0009124672\n"
    )
    assert decoder.feed(tail)[-1] in ("0009124672", "04A2245A1B2C80")


def test_hex_uid_lines() -> None:
    decoder = StreamDecoder("hex-uid")
    out = decoder.feed(
        b"04A2245A1B2C80\r\nUID: 04:a2:24:5a\r\n\r\nDEADBEEFZZ\n" + b"0" * 80 + b"\n1A2B3C4D\n"
    )
    reasons = [item.reason if isinstance(item, ReaderFrameError) else item for item in out]
    assert reasons == ["04A2245A1B2C80", "04A2245A", "not_hex", "too_long", "1A2B3C4D"]
    with pytest.raises(ReaderFrameError, match="bad_length"):
        hex_uid_card("04A2245")


def test_decimal_lines_and_non_ascii() -> None:
    decoder = StreamDecoder("decimal")
    out = decoder.feed("0009124672\n12\n0009\xe9\n".encode("latin-1"))
    reasons = [item.reason if isinstance(item, ReaderFrameError) else item for item in out]
    assert reasons == ["0009124672", "not_decimal", "not_ascii"]
    assert decimal_card(" 0009124672 ") == "0009124672"


def test_wedge_lines() -> None:
    assert wedge_card("0009124672\n", card_format="decimal") == "0009124672"
    assert wedge_card("04a2245a\n", card_format="hex") == "04A2245A"
    assert wedge_card("ab12cd34\n") == "AB12CD34"
    for line, card_format in [("12", "any"), ("04a2-245a", "hex"), ("x" * 40, "any"), ("04A2", "decimal")]:
        with pytest.raises(ReaderFrameError):
            wedge_card(line, card_format=card_format)  # type: ignore[arg-type]
