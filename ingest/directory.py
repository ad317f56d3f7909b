"""Resolving badge identifiers to students, and the consent book. Pure: no clock, no SQL.

Rotating identifiers are resolved through per-window tables computed from
the badge keys: the window of the sighting's own timestamp and its two
neighbours (a badge's clock may be a window off). Tables are cached, so a
gateway replaying an hour-old journal costs one table per old window, once.
Static identifiers (RFID cards, iBeacon, Eddystone-UID) are looked up by
their keyed hash. Unknown identifiers resolve to ``None`` and are counted by
the caller, never stored.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from campus.wire import SightingKind
from privacy import eid

__all__ = ["BadgeDirectory", "BadgeRecord", "ConsentBook", "Purpose"]

# Tables kept per rotation period: current, neighbours, and a dozen older
# windows for journal replays after an outage.
CACHED_WINDOWS = 16


class Purpose(StrEnum):
    LOCATION_TRACKING = "location_tracking"
    AUTOMATIC_ATTENDANCE = "automatic_attendance"


@dataclass(frozen=True, slots=True)
class BadgeRecord:
    student_key: int
    kind: SightingKind
    static_hash: bytes | None = None
    eid_key: bytes | None = None
    rotation_s: int | None = None


class BadgeDirectory:
    def __init__(self, badges: Iterable[BadgeRecord]) -> None:
        self._static: dict[tuple[SightingKind, str], int] = {}
        self._eid_keys: dict[int, list[tuple[bytes, int]]] = {}
        self._tables: dict[int, OrderedDict[int, dict[str, int]]] = {}
        # Rotating ids of the windows around "now" merged into one dict: the
        # hot path is a single look-up (see prepare()).
        self.current: dict[str, int] = {}
        self._current_windows: tuple[int, ...] = ()
        count = 0
        for badge in badges:
            count += 1
            if badge.kind is SightingKind.BLE_EID:
                if badge.eid_key is None or badge.rotation_s is None:
                    raise ValueError("a ble-eid badge needs a key and a rotation period")
                self._eid_keys.setdefault(badge.rotation_s, []).append((badge.eid_key, badge.student_key))
            elif badge.static_hash is not None:
                self._static[(badge.kind, badge.static_hash.hex())] = badge.student_key
        self.size = count

    def _table(self, rotation_s: int, window: int) -> dict[str, int]:
        cache = self._tables.setdefault(rotation_s, OrderedDict())
        table = cache.get(window)
        if table is None:
            table = {eid.eid(key, window).hex(): student for key, student in self._eid_keys[rotation_s]}
            cache[window] = table
            while len(cache) > CACHED_WINDOWS:
                cache.popitem(last=False)
        else:
            cache.move_to_end(window)
        return table

    def prepare(self, now_ms: int) -> None:
        """Compute the tables around ``now_ms`` ahead of need, and the merged ``current`` dict."""
        windows = []
        for rotation_s in self._eid_keys:
            current = eid.window_index(now_ms / 1000, rotation_s)
            windows += [(rotation_s, w) for w in (current - 1, current, current + 1)]
        key = tuple(w for _, w in windows)
        if key == self._current_windows:
            return
        merged: dict[str, int] = {}
        for rotation_s, window in windows:
            merged.update(self._table(rotation_s, window))
        self.current = merged
        self._current_windows = key

    @property
    def students(self) -> set[int]:
        """Every student with an enrolled badge."""
        keys = {student for pairs in self._eid_keys.values() for _, student in pairs}
        return keys | set(self._static.values())

    def resolve(self, kind: SightingKind, ident: str, *, at_ms: int) -> int | None:
        """The student key of the badge, or ``None`` if no enrolled badge matches."""
        if kind is not SightingKind.BLE_EID:
            return self._static.get((kind, ident))
        for rotation_s in self._eid_keys:
            window = eid.window_index(at_ms / 1000, rotation_s)
            for candidate in (window, window - 1, window + 1):
                student = self._table(rotation_s, candidate).get(ident)
                if student is not None:
                    return student
        return None


class ConsentBook:
    """Which purposes each student's family has opted in to. Off unless granted.

    ``holders(purpose)`` is the set of student keys with that grant, kept up
    to date by :meth:`set`, so the hot path is a set membership test.
    """

    def __init__(self, grants: Mapping[int, Iterable[str]] | None = None) -> None:
        self._grants: dict[int, frozenset[str]] = {}
        self._holders: dict[str, set[int]] = {purpose: set() for purpose in Purpose}
        for student_key, purposes in (grants or {}).items():
            self.set(student_key, purposes)

    def allows(self, student_key: int, purpose: Purpose) -> bool:
        return student_key in self._holders[purpose]

    def holders(self, purpose: Purpose) -> set[int]:
        return self._holders[purpose]

    def set(self, student_key: int, purposes: Iterable[str]) -> None:
        granted = frozenset(purposes)
        for purpose, members in self._holders.items():
            if purpose in granted:
                members.add(student_key)
            else:
                members.discard(student_key)
        if granted:
            self._grants[student_key] = granted
        else:
            self._grants.pop(student_key, None)

    def __len__(self) -> int:
        return len(self._grants)
