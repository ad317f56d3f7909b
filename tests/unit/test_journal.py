"""The gateway journal: durable across reopen, trimmed only by acks, bounded."""

from __future__ import annotations

from pathlib import Path

from gateway.journal import Journal


def test_reopen_is_a_new_boot_and_keeps_entries(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    assert journal.boot == 1
    journal.append(b"[1]", created_ms=1)
    journal.append(b"[2]", created_ms=2)
    journal.close()
    reopened = Journal(tmp_path / "j.db")
    assert reopened.boot == 2
    assert [(e.boot, e.seq, e.body) for e in reopened.pending()] == [(1, 1, b"[1]"), (1, 2, b"[2]")]
    entry = reopened.append(b"[3]", created_ms=3)
    assert (entry.boot, entry.seq) == (2, 1)
    reopened.close()


def test_trim_removes_only_what_the_ack_covers(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    for i in range(5):
        journal.append(b"x" * 10, created_ms=i)
    assert journal.trim(boot=1, hwm=2, also=(4,)) == 3
    assert [e.seq for e in journal.pending()] == [3, 5]
    assert journal.trim(boot=2, hwm=10) == 0  # another boot's ack trims nothing of this one
    assert journal.depth() == 2
    assert journal.size_bytes == 20


def test_overflow_drops_oldest(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db", max_bytes=100)
    for i in range(15):
        journal.append(b"y" * 10, created_ms=i)
    assert journal.size_bytes <= 100
    assert journal.dropped == 5
    assert journal.pending()[0].seq == 6


def test_pending_after_cursor(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    for i in range(4):
        journal.append(b"z", created_ms=i)
    assert [e.seq for e in journal.pending(after=(1, 2), limit=1)] == [3]


def test_boots_remember_what_was_issued_after_trimming(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    for i in range(3):
        journal.append(b"a", created_ms=i)
    journal.trim(boot=1, hwm=3)
    journal.close()
    again = Journal(tmp_path / "j.db")
    again.append(b"b", created_ms=9)
    assert again.boots() == {1: 3, 2: 1}
    assert again.depth() == 1
