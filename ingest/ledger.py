"""Which batches are committed: the replay window and the acknowledgement high-water marks.

Per gateway and boot, ``hwm`` is the largest seq such that every seq up to it
is committed; committed seqs above it (arrived while an earlier one was
missing) are kept in ``above``; seqs admitted into the current, uncommitted
flush are ``pending``. A seq that is committed or pending is a duplicate.
The same facts are in the database (``gateway_progress``, ``ingest_batches``),
written in the transaction that commits the batch, and loaded at start.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["BatchKey", "SeqLedger", "Track"]

BatchKey = tuple[str, int, int]  # gateway_id, boot, seq


@dataclass(slots=True)
class Track:
    hwm: int = 0
    above: set[int] = field(default_factory=set)
    pending: set[int] = field(default_factory=set)

    def advance(self) -> None:
        while self.hwm + 1 in self.above:
            self.hwm += 1
            self.above.discard(self.hwm)


class SeqLedger:
    def __init__(self) -> None:
        self._tracks: dict[tuple[str, int], Track] = {}

    def track(self, gateway_id: str, boot: int) -> Track:
        key = (gateway_id, boot)
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = Track()
        return track

    def load(self, gateway_id: str, boot: int, *, hwm: int, above: Iterable[int] = ()) -> None:
        track = self.track(gateway_id, boot)
        track.hwm = max(track.hwm, hwm)
        track.above.update(seq for seq in above if seq > track.hwm)
        track.advance()

    def admit(self, gateway_id: str, boot: int, seq: int) -> bool:
        """True, and mark pending, if ``seq`` is new; False if committed or pending already."""
        track = self.track(gateway_id, boot)
        if seq <= track.hwm or seq in track.above or seq in track.pending:
            return False
        track.pending.add(seq)
        return True

    def commit(self, keys: Iterable[BatchKey]) -> set[tuple[str, int]]:
        """Record ``keys`` as committed; return the (gateway, boot) pairs whose state changed."""
        touched: set[tuple[str, int]] = set()
        for gateway_id, boot, seq in keys:
            track = self.track(gateway_id, boot)
            track.pending.discard(seq)
            if seq > track.hwm:
                track.above.add(seq)
            touched.add((gateway_id, boot))
        for gateway_id, boot in touched:
            self._tracks[(gateway_id, boot)].advance()
        return touched

    def preview(self, keys: Iterable[BatchKey]) -> dict[tuple[str, int], int]:
        """The high-water marks that committing ``keys`` would give, without recording anything."""
        added: dict[tuple[str, int], set[int]] = {}
        for gateway_id, boot, seq in keys:
            added.setdefault((gateway_id, boot), set()).add(seq)
        result: dict[tuple[str, int], int] = {}
        for pair, seqs in added.items():
            track = self.track(*pair)
            hwm, above = track.hwm, track.above | seqs
            while hwm + 1 in above:
                hwm += 1
            result[pair] = hwm
        return result

    def abort(self, keys: Iterable[BatchKey]) -> None:
        """Forget pending ``keys`` (their transaction failed): they may be admitted again."""
        for gateway_id, boot, seq in keys:
            self.track(gateway_id, boot).pending.discard(seq)

    def state(self, gateway_id: str, boot: int) -> tuple[int, tuple[int, ...]]:
        track = self.track(gateway_id, boot)
        return track.hwm, tuple(sorted(track.above))
