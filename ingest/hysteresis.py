"""Zone hysteresis and dwell, vectorised over all students of a site. Pure: time is passed in.

A student's reported zone changes only when a *candidate* zone has won every
evaluation for a minimum dwell, and the dwell depends on how clearly it won:

- a margin of at least ``STRONG_MARGIN_DB`` over the best other zone needs
  ``STRONG_DWELL_MS``;
- a margin of at least ``WEAK_MARGIN_DB`` needs ``WEAK_DWELL_MS``;
- a smaller margin is not evidence for a change at all (the current zone
  stays), which is what stops presence flapping between adjacent rooms;
- a certain observation (an RFID tap at a door) changes the zone at once.

A student with no usable evidence for ``STALE_MS`` becomes *unknown* (zone
``UNKNOWN``): the last known zone and its time stay available, but no room is
claimed on old or weak evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "CERTAIN_MARGIN_DB",
    "STALE_MS",
    "STRONG_DWELL_MS",
    "STRONG_MARGIN_DB",
    "UNKNOWN",
    "WEAK_DWELL_MS",
    "WEAK_MARGIN_DB",
    "Changes",
    "ZoneStates",
]

UNKNOWN: Final = -1
# 10 dB is more than twice the shadowing noise of a smoothed indoor reading:
# a candidate that far ahead is not noise.
STRONG_MARGIN_DB: Final = 10.0
STRONG_DWELL_MS: Final = 4_000
# Below 4 dB two rooms are indistinguishable after smoothing; between 4 and
# 10 dB a change must persist for longer before it is believed.
WEAK_MARGIN_DB: Final = 4.0
WEAK_DWELL_MS: Final = 12_000
# A margin reported for certain evidence (a door tap).
CERTAIN_MARGIN_DB: Final = 100.0
# Badges advertise several times a second and gateways report every 1.5 s;
# 30 s without usable evidence means the badge is not where we last saw it.
STALE_MS: Final = 30_000

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Changes:
    """Zone changes decided at one evaluation, one entry per student that changed."""

    students: Ints
    from_zone: Ints
    to_zone: Ints
    at_ms: int
    confidence: Floats

    def __len__(self) -> int:
        return len(self.students)


class ZoneStates:
    """Reported zone, candidate and dwell clock for each student index."""

    def __init__(self, size: int = 0) -> None:
        self.zone = np.full(size, UNKNOWN, dtype=np.int64)
        self.since_ms = np.zeros(size, dtype=np.int64)
        self.candidate = np.full(size, UNKNOWN, dtype=np.int64)
        self.candidate_since_ms = np.zeros(size, dtype=np.int64)
        self.last_seen_ms = np.zeros(size, dtype=np.int64)
        self.last_known_zone = np.full(size, UNKNOWN, dtype=np.int64)
        self.confidence = np.zeros(size, dtype=np.float64)

    def __len__(self) -> int:
        return len(self.zone)

    def grow(self, size: int) -> None:
        """Make room for students indexed up to ``size - 1`` (new enrolments).

        Capacity at least doubles, so enrolling students one by one stays linear.
        """
        extra = size - len(self.zone)
        if extra <= 0:
            return
        extra = max(extra, len(self.zone))

        def pad(values: npt.NDArray[Any], fill: float) -> npt.NDArray[Any]:
            return np.concatenate([values, np.full(extra, fill, dtype=values.dtype)])

        self.zone = pad(self.zone, UNKNOWN)
        self.since_ms = pad(self.since_ms, 0)
        self.candidate = pad(self.candidate, UNKNOWN)
        self.candidate_since_ms = pad(self.candidate_since_ms, 0)
        self.last_seen_ms = pad(self.last_seen_ms, 0)
        self.last_known_zone = pad(self.last_known_zone, UNKNOWN)
        self.confidence = pad(self.confidence, 0.0)

    def restore(self, student: int, *, zone: int, since_ms: int, last_seen_ms: int) -> None:
        """Set one student's state from the current-state table after a restart."""
        self.zone[student] = zone
        self.since_ms[student] = since_ms
        self.candidate[student] = zone
        self.candidate_since_ms[student] = since_ms
        self.last_seen_ms[student] = last_seen_ms
        if zone != UNKNOWN:
            self.last_known_zone[student] = zone

    def step(
        self,
        *,
        now_ms: int,
        students: Ints,
        estimate: Ints,
        margin_db: Floats,
        confidence: Floats,
    ) -> Changes:
        """Apply one evaluation at ``now_ms``.

        ``students`` have usable evidence this time (unique indices), with their
        estimated zone (``UNKNOWN`` when the evidence is too weak to claim one),
        its margin over the best other zone, and a confidence in [0, 1].
        Students not listed go stale after ``STALE_MS``.
        """
        changed_students: list[Ints] = []
        changed_from: list[Ints] = []
        changed_to: list[Ints] = []
        changed_conf: list[Floats] = []

        # -- students with evidence -------------------------------------------
        claims = estimate != UNKNOWN
        self.last_seen_ms[students[claims]] = now_ms
        cur = self.zone[students]
        same = estimate == cur
        # Evidence for the current zone: keep it, forget any candidate.
        agree = students[same]
        self.candidate[agree] = cur[same]
        self.candidate_since_ms[agree] = now_ms
        self.confidence[agree] = confidence[same]

        believable = ~same & claims & (margin_db >= WEAK_MARGIN_DB)
        # A claim for another zone that is too close to call interrupts any
        # dwell in progress: a candidate must win every evaluation.
        contested = students[~same & claims & ~believable]
        self.candidate[contested] = self.zone[contested]
        idx = students[believable]
        est = estimate[believable]
        new_candidate = self.candidate[idx] != est
        self.candidate[idx[new_candidate]] = est[new_candidate]
        self.candidate_since_ms[idx[new_candidate]] = now_ms
        dwell = np.where(margin_db[believable] >= STRONG_MARGIN_DB, STRONG_DWELL_MS, WEAK_DWELL_MS)
        certain = margin_db[believable] >= CERTAIN_MARGIN_DB
        done = certain | (now_ms - self.candidate_since_ms[idx] >= dwell)
        movers = idx[done]
        if len(movers):
            changed_students.append(movers)
            changed_from.append(self.zone[movers].copy())
            changed_to.append(est[done])
            changed_conf.append(confidence[believable][done])
            self.zone[movers] = est[done]
            self.since_ms[movers] = now_ms
            self.last_known_zone[movers] = est[done]
            self.confidence[movers] = confidence[believable][done]

        # -- staleness: no claimable evidence for STALE_MS -----------------------
        stale = (self.zone != UNKNOWN) & (now_ms - self.last_seen_ms >= STALE_MS)
        lost = np.flatnonzero(stale)
        if len(lost):
            changed_students.append(lost)
            changed_from.append(self.zone[lost].copy())
            changed_to.append(np.full(len(lost), UNKNOWN, dtype=np.int64))
            changed_conf.append(np.zeros(len(lost)))
            self.zone[lost] = UNKNOWN
            self.since_ms[lost] = now_ms
            self.candidate[lost] = UNKNOWN
            self.confidence[lost] = 0.0

        if not changed_students:
            empty = np.zeros(0, dtype=np.int64)
            return Changes(empty, empty, empty, now_ms, np.zeros(0))
        return Changes(
            np.concatenate(changed_students),
            np.concatenate(changed_from),
            np.concatenate(changed_to),
            now_ms,
            np.concatenate(changed_conf),
        )
