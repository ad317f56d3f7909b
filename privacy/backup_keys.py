"""The backup key, and the data-key store that keeps crypto-shredding true for archives.

**Backup key.** A random 32-byte key in its own file (``backup_key_file``,
default ``<data_dir>/backup.key``, created 0600 on first use), not derived
from the master key: archives go off site and live for years, so their key
must be escrowable and rotatable on its own, and a master-key rotation must
not orphan old archives. It is never written into an archive.

**Data-key store.** Each student's personal fields are encrypted under their
own data key, stored wrapped by the master key in ``student_data_keys``;
erasure deletes that row (crypto-shredding). An archive that held those rows
would bring a shredded key back on restore, so archives leave that table's
content out, and the keys live in one small file instead
(``backup_data_keys_file``, default ``<data_dir>/backup-data-keys``),
encrypted with the backup key in the archive format, and *rewritten* from
the live table whenever the set of keys changes (by every backup, and by
the sweeper within ``erasure_poll_interval_s``). A restore takes the keys
from the current store: a student erased after an archive was made has no
key there, so their fields in that archive can never be read again. Copy
this file off site by replacing the previous copy, never by keeping versions.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from campus.logs import get_logger
from campus.settings import Settings
from privacy import backup_repository as repo
from privacy.backup_format import KEY_BYTES, ArchiveError, ArchiveReader, ArchiveWriter
from privacy.ops_errors import BackupError

__all__ = [
    "DATA_KEY_TABLE",
    "DataKeyStore",
    "backup_key_path",
    "data_keys_path",
    "load_backup_key",
    "read_data_keys",
    "refresh_data_keys",
]

log = get_logger(__name__)

# The table whose rows are crypto-shredding keys: never inside an archive.
DATA_KEY_TABLE = "student_data_keys"
_STORE_KIND = "data-keys"


def backup_key_path(settings: Settings) -> Path:
    return settings.backup_key_file or settings.data_dir / "backup.key"


def data_keys_path(settings: Settings) -> Path:
    return settings.backup_data_keys_file or settings.data_dir / "backup-data-keys"


def load_backup_key(settings: Settings, *, create: bool) -> bytes:
    """The backup key; with ``create``, a new one is made (mode 0600) if there is none yet."""
    path = backup_key_path(settings)
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = os.urandom(KEY_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # made by a concurrent first use: read that one
        else:
            with os.fdopen(fd, "w") as out:
                out.write(key.hex() + "\n")
            log.info("backup.key_created", path=str(path))
            return key
    if not path.exists():
        raise BackupError(
            f"backup key {path} does not exist; an archive opens only with the key that made it"
        )
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise BackupError(
            f"backup key {path} is readable by other users (mode {mode:o}); run chmod 600 on it"
        )
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise BackupError(f"backup key {path} is not {KEY_BYTES} bytes of hexadecimal")
    return key


@dataclass(frozen=True, slots=True)
class DataKeyStore:
    """The keys in the store, as rows of ``student_data_keys``, and the fingerprint of that set."""

    fingerprint: str
    written_at: datetime
    rows: tuple[dict[str, Any], ...]


def _header(path: Path, key: bytes) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        with path.open("rb") as src:
            head: dict[str, Any] = json.loads(ArchiveReader(src, key).manifest)
    except (ArchiveError, ValueError) as exc:
        raise BackupError(f"data-key store {path}: {exc}") from exc
    return head


def read_data_keys(settings: Settings) -> DataKeyStore | None:
    """The data-key store, authenticated end to end (``None`` if there is none)."""
    path = data_keys_path(settings)
    if not path.exists():
        return None
    key = load_backup_key(settings, create=False)
    try:
        with path.open("rb") as src:
            reader = ArchiveReader(src, key)
            head = json.loads(reader.manifest)
            body = b"".join(reader.data())
    except (ArchiveError, ValueError) as exc:
        raise BackupError(f"data-key store {path}: {exc}") from exc
    if head.get("kind") != _STORE_KIND:
        raise BackupError(f"{path} is not a data-key store")
    rows = tuple(json.loads(line) for line in body.splitlines() if line)
    return DataKeyStore(head["fingerprint"], datetime.fromisoformat(head["written_at"]), rows)


def refresh_data_keys(conn: psycopg.Connection, settings: Settings, *, force: bool = False) -> bool:
    """Rewrite the store from ``student_data_keys`` if the set of keys changed; returns whether it did.

    Without ``force`` a missing store is left missing: it is made by the
    first backup, and kept current from then on.
    """
    path = data_keys_path(settings)
    if not force and not path.exists():
        return False
    key = load_backup_key(settings, create=True)
    fingerprint = repo.data_key_fingerprint(conn)
    head = _header(path, key)
    if head is not None and head.get("fingerprint") == fingerprint:
        return False
    rows = repo.data_key_rows(conn)
    manifest = json.dumps(
        {
            "kind": _STORE_KIND,
            "fingerprint": fingerprint,
            "written_at": datetime.now(UTC).isoformat(),
            "keys": len(rows),
        }
    ).encode()
    partial = path.with_name(path.name + ".partial")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial.unlink(missing_ok=True)  # a leftover keeps its old mode: start afresh
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as sink:
            writer = ArchiveWriter(sink, key, manifest=manifest)
            for row in rows:
                writer.write(json.dumps(row, sort_keys=True).encode() + b"\n")
            writer.close()
            sink.flush()
            os.fsync(sink.fileno())
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    log.info("backup.data_keys_written", keys=len(rows))
    return True
