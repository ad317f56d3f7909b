"""The encrypted backup archive: a header, then AES-GCM chunks that detect truncation and reordering (pure).

Layout::

    header  = b"CAMPUSBK" | version (1 byte) | key id (8 bytes) | salt (32 bytes)
    chunk i = length (4 bytes, big-endian) | AES-GCM ciphertext of (kind (1 byte) | data)

- The file key is HKDF-SHA256(backup key, salt, "campus-backup-v1"): a fresh
  salt per archive gives every archive its own key, so the chunk index can be
  the nonce (12 bytes, big-endian) without ever repeating under one key.
- Each chunk's associated data is the whole header, its index (8 bytes) and a
  final flag (1 byte): a chunk moved, dropped, copied from another archive,
  or the archive cut short after any chunk, fails authentication or lacks
  the final chunk.
- Chunk 0 is the manifest (kind ``M``, JSON); the rest are the ``pg_dump``
  stream (kind ``D``) in chunks of at most :data:`CHUNK_BYTES`.
- The key id (a hash of the key, not the key) lets a reader say "wrong key"
  instead of "corrupt archive".

The writer only ever holds one chunk of plaintext, in memory: nothing
unencrypted reaches the disk.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import BinaryIO, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "CHUNK_BYTES",
    "KEY_BYTES",
    "KIND_DATA",
    "KIND_MANIFEST",
    "ArchiveError",
    "ArchiveReader",
    "ArchiveWriter",
    "key_id",
]

MAGIC: Final = b"CAMPUSBK"
VERSION: Final = 1
KEY_BYTES: Final = 32
SALT_BYTES: Final = 32
KEY_ID_BYTES: Final = 8
HEADER_BYTES: Final = len(MAGIC) + 1 + KEY_ID_BYTES + SALT_BYTES
# 1 MiB of plaintext per chunk: memory stays bounded, and the 21 bytes of
# framing and tag per chunk are negligible.
CHUNK_BYTES: Final = 1 << 20
_TAG_BYTES: Final = 16
_MAX_CIPHERTEXT: Final = CHUNK_BYTES + 1 + _TAG_BYTES
KIND_MANIFEST: Final = b"M"
KIND_DATA: Final = b"D"


class ArchiveError(ValueError):
    """The file is not a readable archive under this key; the message says why, in one sentence."""


def key_id(key: bytes) -> bytes:
    """A short, non-secret fingerprint of a backup key."""
    return hashlib.sha256(b"campus-backup-key-id\x00" + key).digest()[:KEY_ID_BYTES]


def _file_key(key: bytes, salt: bytes) -> AESGCM:
    if len(key) != KEY_BYTES:
        raise ArchiveError(f"a backup key is {KEY_BYTES} bytes, not {len(key)}")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"campus-backup-v1")
    return AESGCM(hkdf.derive(key))


def _nonce(index: int) -> bytes:
    return index.to_bytes(12, "big")


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")


class ArchiveWriter:
    """Writes one archive to ``out``: the manifest first, then data, then :meth:`close`.

    The last chunk must carry the final flag, so one chunk is held back until
    the next arrives or the archive is closed.
    """

    def __init__(self, out: BinaryIO, key: bytes, *, manifest: bytes, salt: bytes | None = None) -> None:
        salt = salt if salt is not None else os.urandom(SALT_BYTES)
        self._header = MAGIC + bytes([VERSION]) + key_id(key) + salt
        self._aead = _file_key(key, salt)
        self._out = out
        self._index = 0
        self._buffer = bytearray()
        self._held: bytes | None = KIND_MANIFEST + manifest
        self._closed = False
        out.write(self._header)

    def _emit(self, plaintext: bytes, *, final: bool) -> None:
        sealed = self._aead.encrypt(_nonce(self._index), plaintext, _aad(self._header, self._index, final))
        self._out.write(len(sealed).to_bytes(4, "big"))
        self._out.write(sealed)
        self._index += 1

    def _hold(self, plaintext: bytes) -> None:
        if self._held is not None:
            self._emit(self._held, final=False)
        self._held = plaintext

    def write(self, data: bytes) -> None:
        if self._closed:
            raise ValueError("archive already closed")
        self._buffer += data
        while len(self._buffer) >= CHUNK_BYTES:
            self._hold(KIND_DATA + bytes(self._buffer[:CHUNK_BYTES]))
            del self._buffer[:CHUNK_BYTES]

    def close(self) -> None:
        """Write what is buffered and the final chunk (the archive is complete only after this)."""
        if self._closed:
            return
        if self._buffer:
            self._hold(KIND_DATA + bytes(self._buffer))
            self._buffer.clear()
        assert self._held is not None
        self._emit(self._held, final=True)
        self._held = None
        self._closed = True

    @property
    def chunks(self) -> int:
        return self._index


class ArchiveReader:
    """Reads and authenticates an archive; :attr:`manifest` is available on construction."""

    def __init__(self, src: BinaryIO, key: bytes) -> None:
        header = src.read(HEADER_BYTES)
        if len(header) < HEADER_BYTES or not header.startswith(MAGIC):
            raise ArchiveError("not a campus backup archive (bad header)")
        if header[len(MAGIC)] != VERSION:
            raise ArchiveError(f"archive format version {header[len(MAGIC)]} is not supported")
        stored_id = header[len(MAGIC) + 1 : len(MAGIC) + 1 + KEY_ID_BYTES]
        if stored_id != key_id(key):
            raise ArchiveError("the archive was made with another backup key")
        self._header = header
        self._aead = _file_key(key, header[-SALT_BYTES:])
        self._src = src
        self._index = 0
        self._done = False
        kind, payload = self._next()
        if kind != KIND_MANIFEST:
            raise ArchiveError("the archive does not start with its manifest")
        self.manifest = payload

    def _next(self) -> tuple[bytes, bytes]:
        raw_len = self._src.read(4)
        if len(raw_len) < 4:
            raise ArchiveError(
                f"the archive is truncated: it ends before its final chunk (after {self._index})"
            )
        length = int.from_bytes(raw_len, "big")
        if length > _MAX_CIPHERTEXT or length < 1 + _TAG_BYTES:
            raise ArchiveError(f"chunk {self._index} has an impossible length; the archive is damaged")
        sealed = self._src.read(length)
        if len(sealed) < length:
            raise ArchiveError(f"the archive is truncated inside chunk {self._index}")
        plaintext = None
        for final in (False, True):
            try:
                plaintext = self._aead.decrypt(
                    _nonce(self._index), sealed, _aad(self._header, self._index, final)
                )
            except InvalidTag:
                continue
            self._done = final
            break
        if plaintext is None:
            raise ArchiveError(
                f"chunk {self._index} fails authentication: altered, reordered or from another archive"
            )
        self._index += 1
        if self._done and self._src.read(1):
            raise ArchiveError("the archive has data after its final chunk")
        return plaintext[:1], plaintext[1:]

    def data(self) -> Iterator[bytes]:
        """The ``pg_dump`` stream, chunk by chunk, each authenticated before it is returned."""
        while not self._done:
            kind, payload = self._next()
            if kind != KIND_DATA:
                raise ArchiveError(f"chunk {self._index - 1} is not a data chunk")
            yield payload
