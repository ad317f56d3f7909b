"""The audit hash chain: any single edit, deletion, reordering or truncation is found and named."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privacy.audit_chain import (
    GENESIS_HASH,
    ChainLink,
    canonical,
    check_detail,
    entry_hash,
    epoch_us,
    verify_links,
)

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def make_chain(n: int, *, start_seq: int = 1, prev: bytes = GENESIS_HASH) -> list[ChainLink]:
    links = []
    for i in range(n):
        seq = start_seq + i
        text = canonical(
            seq=seq,
            at=T0 + timedelta(seconds=seq),
            actor=f"user{seq % 3}",
            actor_role="admin",
            action="personal.read",
            purpose=None,
            student_id=uuid.UUID(int=seq),
            subject_count=1,
            detail={"n": seq},
        )
        digest = entry_hash(prev, text)
        links.append(ChainLink(seq, text, prev, digest))
        prev = digest
    return links


def check(
    links: list[ChainLink], *, anchor_seq: int = 0, anchor_hash: bytes = GENESIS_HASH, head: ChainLink | None
):
    return verify_links(
        links,
        anchor_seq=anchor_seq,
        anchor_hash=anchor_hash,
        head_seq=head.seq if head else anchor_seq,
        head_hash=head.hash if head else anchor_hash,
    )


def moved(link: ChainLink, seq: int) -> ChainLink:
    """The stored row put at another seq: the verifier recomputes its canonical form with that seq."""
    old, new = f'["campus-audit-v1",{link.seq},'.encode(), f'["campus-audit-v1",{seq},'.encode()
    return dataclasses.replace(link, seq=seq, canonical=new + link.canonical[len(old) :])


def edited(link: ChainLink) -> ChainLink:
    return dataclasses.replace(link, canonical=link.canonical.replace(b'"user', b'"USER'))


def test_intact_chain_verifies() -> None:
    links = make_chain(20)
    result = check(links, head=links[-1])
    assert result.ok and result.checked == 20 and result.first_bad_seq is None


def test_empty_chain_verifies() -> None:
    assert check([], head=None).ok


@given(n=st.integers(2, 30), data=st.data())
def test_edited_entry_is_named(n: int, data: st.DataObject) -> None:
    links = make_chain(n)
    k = data.draw(st.integers(0, n - 1))
    tampered = [*links[:k], edited(links[k]), *links[k + 1 :]]
    result = check(tampered, head=links[-1])
    assert not result.ok and result.first_bad_seq == links[k].seq
    assert f"entry {links[k].seq} was edited" in (result.problem or "")


@given(n=st.integers(3, 30), data=st.data())
def test_rewritten_entry_with_recomputed_hash_is_named(n: int, data: st.DataObject) -> None:
    links = make_chain(n)
    k = data.draw(st.integers(0, n - 2))
    forged = edited(links[k])
    forged = dataclasses.replace(forged, hash=entry_hash(forged.prev_hash, forged.canonical))
    result = check([*links[:k], forged, *links[k + 1 :]], head=links[-1])
    assert not result.ok and result.first_bad_seq == links[k].seq
    assert "rewritten" in (result.problem or "")


@given(n=st.integers(3, 30), data=st.data())
def test_deleted_entry_is_named(n: int, data: st.DataObject) -> None:
    links = make_chain(n)
    k = data.draw(st.integers(0, n - 1))
    result = check([*links[:k], *links[k + 1 :]], head=links[-1])
    assert not result.ok and result.first_bad_seq == links[k].seq
    assert "missing" in (result.problem or "")


@given(n=st.integers(3, 30), data=st.data())
def test_swapped_entries_are_named(n: int, data: st.DataObject) -> None:
    """Reordering: two entries exchange their positions (their seq numbers)."""
    links = make_chain(n)
    i = data.draw(st.integers(0, n - 2))
    j = data.draw(st.integers(i + 1, n - 1))
    a, b = links[i], links[j]
    swapped = list(links)
    swapped[i] = moved(b, a.seq)
    swapped[j] = moved(a, b.seq)
    result = check(swapped, head=links[-1])
    assert not result.ok and result.first_bad_seq == a.seq


def test_truncated_tail_is_found() -> None:
    links = make_chain(10)
    result = check(links[:7], head=links[-1])
    assert not result.ok and result.first_bad_seq == 8
    assert "entries 8 to 10 are missing" in (result.problem or "")


def test_rewritten_last_entry_is_found_by_the_head() -> None:
    links = make_chain(5)
    forged = edited(links[-1])
    forged = dataclasses.replace(forged, hash=entry_hash(forged.prev_hash, forged.canonical))
    result = check([*links[:-1], forged], head=links[-1])
    assert not result.ok and result.first_bad_seq == 5


def test_anchored_prefix_removal_verifies_and_a_wrong_anchor_does_not() -> None:
    links = make_chain(12)
    kept = links[5:]
    assert check(kept, anchor_seq=5, anchor_hash=links[4].hash, head=links[-1]).ok
    # Removing one more entry than the anchor says is a deletion.
    result = check(links[6:], anchor_seq=5, anchor_hash=links[4].hash, head=links[-1])
    assert not result.ok and result.first_bad_seq == 6
    # Everything removed: the anchor is the head.
    assert check([], anchor_seq=12, anchor_hash=links[-1].hash, head=links[-1]).ok


def test_altered_subject_list_is_named() -> None:
    links = make_chain(4)
    links[2] = dataclasses.replace(links[2], subjects_ok=False)
    result = check(links, head=links[-1])
    assert not result.ok and result.first_bad_seq == 3 and "students" in (result.problem or "")


def test_canonical_is_stable_and_exact_in_time() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert epoch_us(at) % 1_000_000 == 678901
    kwargs = {
        "seq": 1,
        "actor": "a",
        "actor_role": "admin",
        "action": "x.y",
        "purpose": "p",
        "student_id": None,
        "subject_count": 1,
    }
    one = canonical(at=at, detail={"b": 1, "a": [1, "é"]}, **kwargs)  # type: ignore[arg-type]
    two = canonical(at=at, detail={"a": [1, "é"], "b": 1}, **kwargs)  # type: ignore[arg-type]
    assert one == two


@pytest.mark.parametrize("bad", [1.5, {"k": float("nan")}, {1: "x"}, {"k": b"raw"}, "nul\x00"])
def test_detail_refuses_values_jsonb_would_change(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        check_detail(bad)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        epoch_us(datetime(2026, 1, 1))
