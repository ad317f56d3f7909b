"""The replay window and acknowledgement high-water marks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ingest.ledger import SeqLedger


def test_in_order_batches_advance_the_high_water_mark() -> None:
    ledger = SeqLedger()
    assert all(ledger.admit("gw", 1, seq) for seq in (1, 2, 3))
    ledger.commit([("gw", 1, 1), ("gw", 1, 2), ("gw", 1, 3)])
    assert ledger.state("gw", 1) == (3, ())


def test_gap_holds_the_mark_until_filled() -> None:
    ledger = SeqLedger()
    for seq in (1, 3, 4):
        ledger.admit("gw", 1, seq)
    ledger.commit([("gw", 1, 1), ("gw", 1, 3), ("gw", 1, 4)])
    assert ledger.state("gw", 1) == (1, (3, 4))
    assert ledger.admit("gw", 1, 2)
    ledger.commit([("gw", 1, 2)])
    assert ledger.state("gw", 1) == (4, ())


def test_committed_and_pending_seqs_are_duplicates() -> None:
    ledger = SeqLedger()
    assert ledger.admit("gw", 1, 1)
    assert not ledger.admit("gw", 1, 1)  # pending in the open flush
    ledger.commit([("gw", 1, 1)])
    assert not ledger.admit("gw", 1, 1)  # committed
    assert ledger.admit("gw", 2, 1)  # another boot is another sequence


def test_aborted_batches_can_be_admitted_again() -> None:
    ledger = SeqLedger()
    ledger.admit("gw", 1, 1)
    ledger.abort([("gw", 1, 1)])
    assert ledger.admit("gw", 1, 1)


def test_preview_does_not_record() -> None:
    ledger = SeqLedger()
    ledger.admit("gw", 1, 1)
    assert ledger.preview([("gw", 1, 1)]) == {("gw", 1): 1}
    assert ledger.state("gw", 1) == (0, ())


def test_load_restores_state_after_restart() -> None:
    ledger = SeqLedger()
    ledger.load("gw", 1, hwm=5, above=[7, 3])
    assert ledger.state("gw", 1) == (5, (7,))
    assert not ledger.admit("gw", 1, 4)
    assert not ledger.admit("gw", 1, 7)
    assert ledger.admit("gw", 1, 6)


@given(st.lists(st.integers(min_value=1, max_value=60), max_size=200))
def test_any_delivery_order_with_duplicates_commits_each_seq_once(deliveries: list[int]) -> None:
    ledger = SeqLedger()
    admitted: list[int] = []
    for seq in deliveries:
        if ledger.admit("gw", 1, seq):
            admitted.append(seq)
            ledger.commit([("gw", 1, seq)])
    assert sorted(admitted) == sorted(set(deliveries))
    hwm, above = ledger.state("gw", 1)
    delivered = set(deliveries)
    expected_hwm = 0
    while expected_hwm + 1 in delivered:
        expected_hwm += 1
    assert hwm == expected_hwm
    assert set(above) == {s for s in delivered if s > expected_hwm}
