"""The encrypted archive format and the manifest (pure)."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.backup_format import CHUNK_BYTES, HEADER_BYTES, ArchiveError, ArchiveReader, ArchiveWriter
from privacy.backup_manifest import Manifest, ManifestError, TableDigest, compare

KEY = bytes(range(32))
MANIFEST = b'{"v": 1}'


def seal(data: bytes, *, key: bytes = KEY, pieces: int = 1) -> bytes:
    out = io.BytesIO()
    writer = ArchiveWriter(out, key, manifest=MANIFEST)
    step = max(1, len(data) // pieces)
    for i in range(0, len(data), step):
        writer.write(data[i : i + step])
    writer.close()
    return out.getvalue()


def unseal(archive: bytes, *, key: bytes = KEY) -> tuple[bytes, bytes]:
    reader = ArchiveReader(io.BytesIO(archive), key)
    return reader.manifest, b"".join(reader.data())


def frames(archive: bytes) -> list[bytes]:
    """The archive's chunks as (length + ciphertext) frames, after the header."""
    out, pos = [], HEADER_BYTES
    while pos < len(archive):
        length = int.from_bytes(archive[pos : pos + 4], "big")
        out.append(archive[pos : pos + 4 + length])
        pos += 4 + length
    return out


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=5000), pieces=st.integers(min_value=1, max_value=7))
def test_round_trip(data: bytes, pieces: int) -> None:
    assert unseal(seal(data, pieces=pieces)) == (MANIFEST, data)


def test_round_trip_over_several_chunks_and_exact_boundaries() -> None:
    for size in (CHUNK_BYTES, 2 * CHUNK_BYTES + 17):
        data = os.urandom(size)
        archive = seal(data, pieces=3)
        assert unseal(archive) == (MANIFEST, data)
        assert len(frames(archive)) == 1 + -(-size // CHUNK_BYTES)


def test_the_plaintext_is_not_in_the_archive() -> None:
    data = b"Northfield Academy pupil register " * 100
    assert b"Northfield" not in seal(data)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=1, max_size=300), position=st.integers(min_value=0))
def test_any_flipped_byte_is_detected(data: bytes, position: int) -> None:
    archive = bytearray(seal(data))
    archive[position % len(archive)] ^= 0x01
    with pytest.raises(ArchiveError):
        unseal(bytes(archive))


def test_truncation_after_any_chunk_is_detected() -> None:
    archive = seal(os.urandom(2 * CHUNK_BYTES + 5))
    parts = frames(archive)
    for keep in range(len(parts)):
        cut = archive[:HEADER_BYTES] + b"".join(parts[:keep])
        with pytest.raises(ArchiveError, match=r"truncated|manifest"):
            unseal(cut)


def test_reordered_chunks_are_detected() -> None:
    archive = seal(os.urandom(3 * CHUNK_BYTES))
    header, parts = archive[:HEADER_BYTES], frames(archive)
    swapped = header + parts[0] + parts[2] + parts[1] + b"".join(parts[3:])
    with pytest.raises(ArchiveError, match="chunk 1 fails authentication"):
        unseal(swapped)


def test_a_chunk_from_another_archive_is_detected() -> None:
    one, two = seal(b"a" * 100), seal(b"b" * 100)
    spliced = one[:HEADER_BYTES] + frames(one)[0] + frames(two)[1]
    with pytest.raises(ArchiveError, match="chunk 1"):
        unseal(spliced)


def test_wrong_key_and_trailing_data_and_foreign_files_are_named() -> None:
    archive = seal(b"data")
    with pytest.raises(ArchiveError, match="another backup key"):
        unseal(archive, key=bytes(32))
    with pytest.raises(ArchiveError, match="after its final chunk"):
        unseal(archive + b"x")
    with pytest.raises(ArchiveError, match="not a campus backup"):
        unseal(b"PGDMP" + bytes(100))


def test_manifest_round_trip_and_comparison() -> None:
    manifest = Manifest(
        created_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        postgres_major=15,
        timescaledb="2.19.3",
        schema_revision="20261123_0007",
        tables={
            "presence": TableDigest(10, "123"),
            "students": TableDigest(2, "9"),
            "keys": TableDigest(2, "5"),
        },
    )
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert manifest.total_rows == 14
    same = dict(manifest.tables)
    assert compare(manifest, same) == []
    assert compare(manifest, {**same, "presence": TableDigest(9, "123")}) == [
        "presence: 10 rows in the manifest, 9 after restore"
    ]
    assert compare(manifest, {**same, "students": TableDigest(2, "8")}) == [
        "students: same row count (2) but the content checksum differs"
    ]
    assert compare(manifest, {k: v for k, v in same.items() if k != "presence"}) == [
        "presence: in the archive's manifest but missing after restore"
    ]
    # Tables kept out of archives may come back with fewer rows, never more.
    assert compare(manifest, {**same, "keys": TableDigest(1, "0")}, outside=["keys"]) == []
    assert compare(manifest, {**same, "keys": TableDigest(3, "0")}, outside=["keys"]) == [
        "keys: 3 rows after restore, more than the 2 archived"
    ]


def test_unreadable_manifest_is_one_sentence() -> None:
    with pytest.raises(ManifestError, match="unreadable"):
        Manifest.from_json(b'{"v": 1}')
    with pytest.raises(ManifestError, match="version"):
        Manifest.from_json(b'{"v": 9}')
