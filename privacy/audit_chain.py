"""The audit log's hash chain. Pure: no SQL, no clock.

Each entry commits to the one before it::

    hash(n) = SHA-256(hash(n-1) || canonical(n))

where ``canonical(n)`` is the UTF-8 JSON array ``["campus-audit-v1", seq,
at (integer microseconds since the Unix epoch), actor, actor_role, action,
purpose, student_id (lower-case text or null), subject_count, detail]``
written with sorted keys and no spaces. ``detail`` holds only JSON values
that survive PostgreSQL's ``jsonb`` unchanged (strings, integers, booleans,
null, lists and objects of them; no floats, whose text jsonb may rewrite),
so the verifier can recompute the hash from the stored row.

The chain starts at :data:`GENESIS_HASH`. Retention removes a *prefix* of
the chain and records the hash of the last removed entry as the new anchor:
the first remaining entry must follow that anchor. ``seq`` is gapless, so a
deleted entry is a gap, an edited one fails its own hash, and an entry
rewritten with a recomputed hash breaks the link to the entry after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

__all__ = [
    "GENESIS_HASH",
    "HASH_BYTES",
    "ChainLink",
    "VerifyResult",
    "canonical",
    "check_detail",
    "entry_hash",
    "epoch_us",
    "verify_links",
]

HASH_BYTES: Final = 32
GENESIS_HASH: Final = bytes(HASH_BYTES)
_VERSION: Final = "campus-audit-v1"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# Deep or huge details are a mistake (details are small facts, never content).
MAX_DETAIL_DEPTH: Final = 8


def epoch_us(at: datetime) -> int:
    """Integer microseconds since the epoch (exact, no float)."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return (at - _EPOCH) // timedelta(microseconds=1)


def check_detail(value: object, *, depth: int = 0) -> None:
    """Raise ``TypeError`` or ``ValueError`` naming the problem unless ``value`` is a jsonb-stable JSON value."""
    if depth > MAX_DETAIL_DEPTH:
        raise ValueError("detail is nested too deeply")
    if value is None or isinstance(value, bool | str):
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("detail strings cannot contain NUL characters")
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        raise TypeError("detail cannot hold floats (jsonb may not return them bit for bit); use a string")
    if isinstance(value, list | tuple):
        for item in value:
            check_detail(item, depth=depth + 1)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("detail keys must be strings")
            check_detail(item, depth=depth + 1)
        return
    raise TypeError(f"detail cannot hold a {type(value).__name__}")


def canonical(
    *,
    seq: int,
    at: datetime,
    actor: str,
    actor_role: str,
    action: str,
    purpose: str | None,
    student_id: UUID | None,
    subject_count: int,
    detail: Mapping[str, Any],
) -> bytes:
    fields = [
        _VERSION,
        seq,
        epoch_us(at),
        actor,
        actor_role,
        action,
        purpose,
        str(student_id) if student_id is not None else None,
        subject_count,
        detail,
    ]
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(prev_hash: bytes, canonical_bytes: bytes) -> bytes:
    return hashlib.sha256(prev_hash + canonical_bytes).digest()


@dataclass(frozen=True, slots=True)
class ChainLink:
    """What the verifier needs of one stored entry: its seq, canonical bytes and stored hashes."""

    seq: int
    canonical: bytes
    prev_hash: bytes
    hash: bytes
    subjects_ok: bool = True  # the stored list of students matches the digest in the entry


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """``ok`` when the chain is whole; otherwise ``first_bad_seq`` and a readable ``problem``."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    anchor_seq: int = 0
    head_seq: int = 0
    head_hash: bytes = GENESIS_HASH


def _link_problem(  # noqa: PLR0911 - one return per kind of break, in the order they are checked
    link: ChainLink, *, expected_seq: int, prev_hash: bytes, anchor_seq: int
) -> tuple[int, str] | None:
    """The first thing wrong with one entry given what precedes it: (entry to name, problem), or None."""
    if link.seq < expected_seq:
        if link.seq <= anchor_seq:
            return link.seq, f"entry {link.seq} is older than the anchor at {anchor_seq}: re-inserted"
        return link.seq, f"entry {link.seq} appears twice or out of order"
    if link.seq > expected_seq:
        gap = (
            f"entry {expected_seq} is missing"
            if link.seq == expected_seq + 1
            else f"entries {expected_seq} to {link.seq - 1} are missing"
        )
        return expected_seq, f"{gap} (deleted): the chain jumps from {expected_seq - 1} to {link.seq}"
    if entry_hash(link.prev_hash, link.canonical) != link.hash:
        return link.seq, f"entry {link.seq} was edited or moved: its content does not match its hash"
    if not link.subjects_ok:
        return link.seq, f"entry {link.seq}: its list of students was altered"
    if link.prev_hash != prev_hash:
        if link.seq == anchor_seq + 1:
            return (
                link.seq,
                f"entry {link.seq} does not follow the anchor at {anchor_seq}: entries were removed or replaced",
            )
        return (
            link.seq - 1,
            f"entry {link.seq - 1} was rewritten: entry {link.seq} was chained to a different hash",
        )
    return None


def _end_problem(
    last_seq: int, last_hash: bytes, *, head_seq: int, head_hash: bytes
) -> tuple[int, str] | None:
    if last_seq < head_seq:
        missing = (
            f"entry {head_seq} is missing"
            if last_seq + 1 == head_seq
            else f"entries {last_seq + 1} to {head_seq} are missing"
        )
        return last_seq + 1, f"{missing} (deleted from the end): the chain head is at {head_seq}"
    if last_seq > head_seq:
        return head_seq + 1, f"entries after the chain head {head_seq} were added outside the chain"
    if last_hash != head_hash:
        return last_seq, f"entry {last_seq} does not match the chain head's hash: it was rewritten"
    return None


def verify_links(
    links: Iterable[ChainLink], *, anchor_seq: int, anchor_hash: bytes, head_seq: int, head_hash: bytes
) -> VerifyResult:
    """Check entries (in ``seq`` order) from the anchor to the recorded chain head.

    Stops at the first problem. The entry named is the first one that is
    missing, edited, or rewritten: an entry that fails its own hash was
    edited; an entry whose own hash holds but whose predecessor's hash is
    not what it chained to means the predecessor was rewritten (its hash
    recomputed) or entries were moved.
    """
    checked = 0
    expected_seq = anchor_seq + 1
    prev_hash = anchor_hash
    problem: tuple[int, str] | None = None
    for link in links:
        problem = _link_problem(link, expected_seq=expected_seq, prev_hash=prev_hash, anchor_seq=anchor_seq)
        if problem is not None:
            break
        prev_hash = link.hash
        expected_seq += 1
        checked += 1
    else:
        problem = _end_problem(expected_seq - 1, prev_hash, head_seq=head_seq, head_hash=head_hash)
    if problem is None:
        return VerifyResult(True, checked, None, None, anchor_seq, head_seq, head_hash)
    return VerifyResult(False, checked, problem[0], problem[1], anchor_seq, head_seq, head_hash)
