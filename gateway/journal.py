"""The gateway's on-disk journal: nothing is trimmed until ingest has committed it.

SQLite in WAL mode with ``synchronous=FULL``: an appended batch survives
kill -9 and power loss once :meth:`Journal.append` returns. Each process start
is a new *boot* (persisted counter); ``seq`` restarts at 1 in every boot, so
``(boot, seq)`` never repeats. Entries are removed only by :meth:`trim`, when
ingest reports that every seq up to a high-water mark of a boot is committed
to the database (a broker's PUBACK is not enough: Mosquitto's persistence is
off by default and snapshots only every 30 minutes).

Overflow rule: when the journal holds more than ``max_bytes`` of batches, the
oldest are dropped and counted in ``dropped``; the newest data, which matters
most for attendance and evacuation, is kept.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = ["DEFAULT_MAX_BYTES", "Journal", "JournalEntry"]

# One school day at a busy gate reader (about 20 KB/s of batches for 10 h
# is 0.7 GB) fits with room to spare.
DEFAULT_MAX_BYTES: Final = 1 << 30

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS boots (boot INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    boot INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (boot, seq)
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    boot: int
    seq: int
    created_ms: int
    body: bytes


class Journal:
    """A durable FIFO of encoded batch bodies keyed by ``(boot, seq)``. Thread-safe."""

    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._max_bytes = max_bytes
        self.dropped = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT value FROM meta WHERE key = 'boot'").fetchone()
            self.boot = (row[0] if row else 0) + 1
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('boot', ?)", (self.boot,))
            self._db.execute("COMMIT")
            self._bytes = self._db.execute("SELECT COALESCE(SUM(length(body)), 0) FROM batches").fetchone()[0]
        self._next_seq = 1

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def append(self, body: bytes, *, created_ms: int) -> JournalEntry:
        """Durably store a batch body under the next seq of this boot."""
        with self._lock:
            seq = self._next_seq
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO batches (boot, seq, created_ms, body) VALUES (?, ?, ?, ?)",
                (self.boot, seq, created_ms, body),
            )
            self._db.execute("INSERT OR REPLACE INTO boots (boot, last_seq) VALUES (?, ?)", (self.boot, seq))
            self._bytes += len(body)
            if self._bytes > self._max_bytes:
                self._drop_oldest_locked()
            self._db.execute("COMMIT")
            self._next_seq += 1
        return JournalEntry(self.boot, seq, created_ms, body)

    def _drop_oldest_locked(self) -> None:
        while self._bytes > self._max_bytes:
            row = self._db.execute(
                "SELECT boot, seq, length(body) FROM batches ORDER BY boot, seq LIMIT 1"
            ).fetchone()
            if row is None:
                return
            self._db.execute("DELETE FROM batches WHERE boot = ? AND seq = ?", (row[0], row[1]))
            self._bytes -= row[2]
            self.dropped += 1

    def pending(self, *, limit: int = 1000, after: tuple[int, int] = (0, 0)) -> list[JournalEntry]:
        """Entries not yet trimmed, oldest first, strictly after ``(boot, seq)``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT boot, seq, created_ms, body FROM batches WHERE (boot, seq) > (?, ?) ORDER BY boot, seq LIMIT ?",
                (after[0], after[1], limit),
            ).fetchall()
        return [JournalEntry(*row) for row in rows]

    def trim(self, *, boot: int, hwm: int, also: tuple[int, ...] = ()) -> int:
        """Remove entries of ``boot`` with seq <= ``hwm`` (and the listed seqs). Returns how many."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            removed_bytes = self._db.execute(
                "SELECT COALESCE(SUM(length(body)), 0), COUNT(*) FROM batches WHERE boot = ? AND seq <= ?",
                (boot, hwm),
            ).fetchone()
            self._db.execute("DELETE FROM batches WHERE boot = ? AND seq <= ?", (boot, hwm))
            count = removed_bytes[1]
            self._bytes -= removed_bytes[0]
            for seq in also:
                row = self._db.execute(
                    "SELECT length(body) FROM batches WHERE boot = ? AND seq = ?", (boot, seq)
                ).fetchone()
                if row is not None:
                    self._db.execute("DELETE FROM batches WHERE boot = ? AND seq = ?", (boot, seq))
                    self._bytes -= row[0]
                    count += 1
            self._db.execute("COMMIT")
        return int(count)

    def boots(self) -> dict[int, int]:
        """The last seq ever issued in each boot (kept after trimming): what was published."""
        with self._lock:
            return dict(self._db.execute("SELECT boot, last_seq FROM boots").fetchall())

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM batches").fetchone()[0])

    @property
    def size_bytes(self) -> int:
        return int(self._bytes)
