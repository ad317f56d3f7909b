"""Position estimation for one site: sightings in, zone changes and presence samples out.

Pure and vectorised (numpy); time is event time passed in. Every
``TICK_MS`` of event time the tracker evaluates the last ``WINDOW_MS`` of
evidence:

1. BLE sightings are grouped per (student, reader) and smoothed: the mean of
   the per-window maximum RSSI (a badge's strongest advert in each gateway
   window is the least attenuated by bodies and furniture).
2. Each reader is calibrated (expected RSSI at 1 m, path-loss exponent), so the
   smoothed RSSI gives a distance; a reader *claims* its zone only when that
   distance fits inside the zone around the reader (``claim_radius_m``). A
   badge heard through a wall reads several metres further away than it is,
   so the neighbour's reader does not claim it.
3. The strongest claiming reader's zone is the estimate; its margin is the
   difference to the strongest reader of any other zone.
4. A door tap (RFID) is certain evidence for the door's zone for
   ``TAP_HOLD_MS``, unless BLE strongly places the student elsewhere since.
5. A zone whose readers are all offline is *blind*: a student last placed in
   it is claimed by another zone only from very close to that zone's reader.
   Otherwise the answer is unknown, with the last known zone and its age —
   never a confident wrong room.

The estimates go through :class:`~ingest.hysteresis.ZoneStates`. Presence
samples are produced on every change and every ``SAMPLE_MS`` while a student
is tracked: history at the granularity attendance and evacuation need, far
fewer rows than sightings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from ingest.hysteresis import CERTAIN_MARGIN_DB, STRONG_MARGIN_DB, UNKNOWN, Changes, ZoneStates

__all__ = ["DEFAULT_CLAIM_RADIUS_M", "TICK_MS", "Readers", "SiteTracker", "TickResult"]

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

TICK_MS: Final = 1_000
# Three gateway windows of 1.5 s: enough samples to smooth shadowing noise,
# short enough to follow a student walking between rooms.
WINDOW_MS: Final = 4_500
# A tap at a classroom door places the student in that room for this long
# unless BLE clearly says otherwise.
TAP_HOLD_MS: Final = 20_000
# A reader with no zone geometry claims badges up to this estimated distance.
DEFAULT_CLAIM_RADIUS_M: Final = 8.0
# Near a blind zone (its readers offline), claim only from this close in.
BLIND_CLAIM_FACTOR: Final = 0.5
# A periodic presence sample per tracked student.
SAMPLE_MS: Final = 30_000
# The floor used as the "runner-up" when only one zone hears a badge.
NOISE_FLOOR_DBM: Final = -100.0
# At most this many ticks are evaluated after a jump of the watermark (a
# long gap means everyone is stale anyway).
MAX_CATCH_UP_TICKS: Final = 60


@dataclass(frozen=True, slots=True)
class Readers:
    """Per reader index: its zone index, calibration, claim radius, kind and liveness."""

    zone: Ints
    rssi_at_1m: Floats
    path_loss_exponent: Floats
    claim_radius_m: Floats
    is_door: Bools
    online: Bools

    def __len__(self) -> int:
        return len(self.zone)


@dataclass(frozen=True, slots=True)
class TickResult:
    changes: Changes
    sample_students: Ints
    sample_zone: Ints
    sample_confidence: Floats
    at_ms: int


@dataclass
class _Evidence:
    student: list[Ints] = field(default_factory=list)
    reader: list[Ints] = field(default_factory=list)
    rssi: list[Floats] = field(default_factory=list)
    t_ms: list[Ints] = field(default_factory=list)


def _first_per_group(sorted_keys: Ints) -> Bools:
    first = np.ones(len(sorted_keys), dtype=np.bool_)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return first


class SiteTracker:
    """Evidence, estimation and hysteresis for the students of one site."""

    def __init__(self, readers: Readers, *, students: int = 0) -> None:
        self.readers = readers
        self.states = ZoneStates(students)
        self.last_sample_ms = np.zeros(students, dtype=np.int64)
        self._pending = _Evidence()
        self._s = np.zeros(0, dtype=np.int64)
        self._g = np.zeros(0, dtype=np.int64)
        self._r = np.zeros(0, dtype=np.float64)
        self._t = np.zeros(0, dtype=np.int64)
        self.next_tick_ms: int | None = None

    def set_readers(self, readers: Readers) -> None:
        self.readers = readers

    def grow(self, students: int) -> None:
        if students <= len(self.last_sample_ms):
            return
        self.states.grow(students)
        extra = len(self.states) - len(self.last_sample_ms)
        self.last_sample_ms = np.concatenate([self.last_sample_ms, np.zeros(extra, dtype=np.int64)])

    def add(self, *, students: Ints, readers: Ints, rssi: Floats, t_ms: Ints) -> None:
        """Queue evidence; ``rssi`` is NaN for a door tap."""
        self._pending.student.append(students)
        self._pending.reader.append(readers)
        self._pending.rssi.append(rssi)
        self._pending.t_ms.append(t_ms)

    def _absorb(self) -> None:
        if not self._pending.student:
            return
        p = self._pending
        self._s = np.concatenate([self._s, *p.student])
        self._g = np.concatenate([self._g, *p.reader])
        self._r = np.concatenate([self._r, *p.rssi])
        self._t = np.concatenate([self._t, *p.t_ms])
        self._pending = _Evidence()

    def advance(self, watermark_ms: int) -> list[TickResult]:
        """Evaluate every tick up to ``watermark_ms``; return what each decided."""
        self._absorb()
        if self.next_tick_ms is None:
            # Start where the evidence starts, so a backlog is evaluated tick by tick.
            start = int(self._t.min()) if len(self._t) else watermark_ms
            self.next_tick_ms = -(-min(start, watermark_ms) // TICK_MS) * TICK_MS  # first tick at or after it
        if watermark_ms - self.next_tick_ms > MAX_CATCH_UP_TICKS * TICK_MS:
            self.next_tick_ms = watermark_ms - MAX_CATCH_UP_TICKS * TICK_MS
        results = []
        while self.next_tick_ms <= watermark_ms:
            results.append(self._evaluate(self.next_tick_ms))
            self.next_tick_ms += TICK_MS
        horizon = self.next_tick_ms - max(WINDOW_MS, TAP_HOLD_MS)
        keep = self._t > horizon
        if not keep.all():
            self._s, self._g, self._r, self._t = self._s[keep], self._g[keep], self._r[keep], self._t[keep]
        return results

    # -- one evaluation ------------------------------------------------------
    def _evaluate(self, now_ms: int) -> TickResult:
        in_window = (self._t > now_ms - WINDOW_MS) & (self._t <= now_ms) & ~np.isnan(self._r)
        students, estimate, margin, confidence = self._estimate_ble(
            self._s[in_window], self._g[in_window], self._r[in_window]
        )
        students, estimate, margin, confidence = self._apply_taps(
            now_ms, students, estimate, margin, confidence
        )
        changes = self.states.step(
            now_ms=now_ms, students=students, estimate=estimate, margin_db=margin, confidence=confidence
        )
        # Samples: every change, and every placed student with fresh evidence
        # who is due a periodic row.
        tracked = students[(estimate != UNKNOWN) & (self.states.zone[students] != UNKNOWN)]
        due = tracked[now_ms - self.last_sample_ms[tracked] >= SAMPLE_MS]
        sample = np.union1d(due, changes.students)
        self.last_sample_ms[sample] = now_ms
        return TickResult(
            changes, sample, self.states.zone[sample].copy(), self.states.confidence[sample].copy(), now_ms
        )

    def _estimate_ble(self, s: Ints, g: Ints, r: Floats) -> tuple[Ints, Ints, Floats, Floats]:
        readers = self.readers
        if len(s) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0), np.zeros(0)
        n_readers = len(readers)
        key = s * n_readers + g
        pairs, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        mean = np.bincount(inverse, weights=r) / counts
        pair_s = pairs // n_readers
        pair_g = pairs % n_readers
        zone = readers.zone[pair_g]
        distance = 10.0 ** ((readers.rssi_at_1m[pair_g] - mean) / (10.0 * readers.path_loss_exponent[pair_g]))
        radius = readers.claim_radius_m[pair_g]

        order = np.lexsort((-mean, pair_s))
        first = _first_per_group(pair_s[order])
        best = order[first]
        students = pair_s[best]
        best_zone = zone[best]
        best_mean = mean[best]

        # Blind zones: every reader of the zone offline.
        blind = self._blind_zones()
        last_zone = self.states.last_known_zone[students]
        near_blind = (last_zone != UNKNOWN) & blind[np.maximum(last_zone, 0)] & (best_zone != last_zone)
        factor = np.where(near_blind, BLIND_CLAIM_FACTOR, 1.0)
        claims = (best_zone != UNKNOWN) & (distance[best] <= radius[best] * factor)

        # Runner-up: the strongest reader of any other zone.
        best_zone_of_pair = best_zone[np.searchsorted(students, pair_s)]
        other = order[zone[order] != best_zone_of_pair[order]]
        runner_first = _first_per_group(pair_s[other])
        runner = other[runner_first]
        runner_mean = np.full(len(students), NOISE_FLOOR_DBM)
        runner_mean[np.searchsorted(students, pair_s[runner])] = mean[runner]
        margin = best_mean - runner_mean

        estimate = np.where(claims, best_zone, UNKNOWN)
        confidence = np.where(claims, np.clip(0.5 + margin / (4 * STRONG_MARGIN_DB), 0.0, 1.0), 0.0)
        return students, estimate, margin, confidence

    def _blind_zones(self) -> Bools:
        readers = self.readers
        n_zones = int(readers.zone.max()) + 1 if len(readers) else 0
        has_reader = np.zeros(n_zones, dtype=np.bool_)
        has_online = np.zeros(n_zones, dtype=np.bool_)
        ble = (readers.zone != UNKNOWN) & ~readers.is_door
        has_reader[readers.zone[ble]] = True
        has_online[readers.zone[ble & readers.online]] = True
        blind = has_reader & ~has_online
        return blind if len(blind) else np.zeros(1, dtype=np.bool_)

    def _apply_taps(
        self, now_ms: int, students: Ints, estimate: Ints, margin: Floats, confidence: Floats
    ) -> tuple[Ints, Ints, Floats, Floats]:
        taps = np.isnan(self._r) & (self._t > now_ms - TAP_HOLD_MS) & (self._t <= now_ms)
        if not taps.any():
            return students, estimate, margin, confidence
        ts, tg, tt = self._s[taps], self._g[taps], self._t[taps]
        order = np.lexsort((-tt, ts))
        latest = order[_first_per_group(ts[order])]
        tap_students, tap_zone = ts[latest], self.readers.zone[tg[latest]]
        valid = tap_zone != UNKNOWN
        tap_students, tap_zone = tap_students[valid], tap_zone[valid]
        # Merge: a tap wins unless BLE strongly places the student in another zone.
        all_students = np.union1d(students, tap_students)
        est = np.full(len(all_students), UNKNOWN, dtype=np.int64)
        mar = np.zeros(len(all_students))
        conf = np.zeros(len(all_students))
        at = np.searchsorted(all_students, students)
        est[at], mar[at], conf[at] = estimate, margin, confidence
        tap_at = np.searchsorted(all_students, tap_students)
        ble_strong_elsewhere = (
            (est[tap_at] != UNKNOWN) & (est[tap_at] != tap_zone) & (mar[tap_at] >= STRONG_MARGIN_DB)
        )
        win = tap_at[~ble_strong_elsewhere]
        est[win] = tap_zone[~ble_strong_elsewhere]
        mar[win] = CERTAIN_MARGIN_DB
        conf[win] = 1.0
        return all_students, est, mar, conf
