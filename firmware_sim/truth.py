"""Ground truth: where each student really was, as zone segments, and how to read it back.

A run's truth is, per student, consecutive segments ``(zone, from_ms, to_ms)``
covering the whole run (``zone`` -1: not on the campus map, e.g. at home),
with times in epoch milliseconds: the same time axis as the sightings and
presence rows the run produced. Students are named by ``student_key``, the
keyed pseudonym ingest stores, so truth joins directly to ``presence`` and
``zone_transitions``. Written as one compressed NPZ file (arrays plus a JSON
header); :func:`zone_at` answers one question and :func:`sample` many at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from firmware_sim.geometry import NO_ZONE
from firmware_sim.movement import Trajectories

__all__ = ["TRUTH_FORMAT", "Truth", "build_truth", "read_truth", "sample", "write_truth", "zone_at"]

Ints = npt.NDArray[np.int64]

TRUTH_FORMAT: Final = 1


@dataclass(frozen=True, slots=True)
class Truth:
    """Segments sorted by (student, from_ms); student i is ``student_keys[i]``."""

    site_id: str
    seed: int
    start_ms: int  # epoch ms of the run's first instant
    end_ms: int  # epoch ms just after its last
    school_start_s: int  # school time of day (seconds since midnight) at start_ms
    zone_ids: tuple[str, ...]
    student_keys: Ints
    seg_student: Ints
    seg_zone: Ints
    seg_from_ms: Ints
    seg_to_ms: Ints

    def covers(self, t_ms: int) -> bool:
        return self.start_ms <= t_ms < self.end_ms

    def __len__(self) -> int:
        return len(self.seg_zone)


def build_truth(
    trajectories: Trajectories,
    *,
    zone_ids: tuple[str, ...],
    student_keys: Ints,
    site_id: str,
    seed: int,
    day_start_ms: int,
    duration_ms: int,
    epoch_start_ms: int,
    school_start_s: int,
) -> Truth:
    """Merge pieces of the same zone and clip to the run [day_start_ms, day_start_ms + duration_ms)."""
    tr = trajectories
    n = tr.students
    if len(student_keys) != n:
        raise ValueError(f"{len(student_keys)} student keys for {n} students")
    student = np.repeat(np.arange(n), np.diff(tr.start))
    t_from = tr.t_ms
    t_to = np.empty_like(t_from)
    t_to[:-1] = t_from[1:]
    last = tr.start[1:] - 1
    t_to[last] = np.iinfo(np.int64).max
    end = day_start_ms + duration_ms
    t_from = np.clip(t_from, day_start_ms, end)
    t_to = np.clip(t_to, day_start_ms, end)
    keep = t_to > t_from
    student, zone, t_from, t_to = student[keep], tr.zone[keep], t_from[keep], t_to[keep]
    # Merge consecutive pieces of one student in one zone.
    starts = np.ones(len(zone), dtype=np.bool_)
    starts[1:] = (student[1:] != student[:-1]) | (zone[1:] != zone[:-1])
    first = np.flatnonzero(starts)
    lasts = np.concatenate([first[1:], [len(zone)]]) - 1
    shift = epoch_start_ms - day_start_ms
    return Truth(
        site_id=site_id,
        seed=seed,
        start_ms=epoch_start_ms,
        end_ms=epoch_start_ms + duration_ms,
        school_start_s=school_start_s,
        zone_ids=zone_ids,
        student_keys=np.asarray(student_keys, dtype=np.int64),
        seg_student=student[first].astype(np.int64),
        seg_zone=zone[first].astype(np.int64),
        seg_from_ms=t_from[first] + shift,
        seg_to_ms=t_to[lasts] + shift,
    )


def write_truth(truth: Truth, path: Path) -> None:
    """Write atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {
        "format": TRUTH_FORMAT,
        "site_id": truth.site_id,
        "seed": truth.seed,
        "start_ms": truth.start_ms,
        "end_ms": truth.end_ms,
        "school_start_s": truth.school_start_s,
        "zone_ids": list(truth.zone_ids),
    }
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as handle:
        np.savez_compressed(
            handle,
            header=np.array(json.dumps(header)),
            student_keys=truth.student_keys,
            seg_student=truth.seg_student.astype(np.int32),
            seg_zone=truth.seg_zone.astype(np.int32),
            seg_from_ms=truth.seg_from_ms,
            seg_to_ms=truth.seg_to_ms,
        )
    tmp.replace(path)


def read_truth(path: Path) -> Truth:
    """Read a truth file; raises ``ValueError`` if it is not one this version understands."""
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(str(data["header"]))
        if header.get("format") != TRUTH_FORMAT:
            raise ValueError(f"{path}: truth format {header.get('format')!r}, expected {TRUTH_FORMAT}")
        return Truth(
            site_id=header["site_id"],
            seed=int(header["seed"]),
            start_ms=int(header["start_ms"]),
            end_ms=int(header["end_ms"]),
            school_start_s=int(header["school_start_s"]),
            zone_ids=tuple(header["zone_ids"]),
            student_keys=data["student_keys"].astype(np.int64),
            seg_student=data["seg_student"].astype(np.int64),
            seg_zone=data["seg_zone"].astype(np.int64),
            seg_from_ms=data["seg_from_ms"].astype(np.int64),
            seg_to_ms=data["seg_to_ms"].astype(np.int64),
        )


def sample(truth: Truth, student_keys: Ints, t_ms: Ints) -> Ints:
    """Zone index (into ``truth.zone_ids``) of each (student_key, t_ms); -1 if off the map, unknown or out of the run."""
    keys = np.asarray(student_keys, dtype=np.int64)
    times = np.asarray(t_ms, dtype=np.int64)
    out = np.full(keys.shape, NO_ZONE, dtype=np.int64)
    order = np.argsort(truth.student_keys)
    sorted_keys = truth.student_keys[order]
    pos = np.clip(np.searchsorted(sorted_keys, keys), 0, max(len(sorted_keys) - 1, 0))
    if not len(sorted_keys):
        return out
    known = (sorted_keys[pos] == keys) & (times >= truth.start_ms) & (times < truth.end_ms)
    student = order[pos]
    span = truth.end_ms - truth.start_ms + 1
    seg_key = truth.seg_student * span + (truth.seg_from_ms - truth.start_ms)
    query = student * span + (times - truth.start_ms)
    seg = np.clip(np.searchsorted(seg_key, query, side="right") - 1, 0, max(len(seg_key) - 1, 0))
    hit = known & (truth.seg_student[seg] == student) & (times < truth.seg_to_ms[seg])
    out[hit] = truth.seg_zone[seg[hit]]
    return out


def zone_at(truth: Truth, student_key: int, t_ms: int) -> str | None:
    """The zone id where ``student_key`` really was at ``t_ms``; None off the map or outside the run."""
    index = int(sample(truth, np.array([student_key]), np.array([t_ms]))[0])
    return None if index == NO_ZONE else truth.zone_ids[index]
