"""The radio model: which reader hears which badge, how loud. Pure, numpy-vectorised.

Mean received power of a badge at a BLE reader (log-distance path loss)::

    mean = rssi_at_1m - 10 * n * log10(max(d, 0.5 m)) - walls - floors * floor_loss

where ``d`` is the 3-D distance (floors are ``FLOOR_HEIGHT_M`` apart),
``walls`` the summed attenuation of the walls the straight line crosses on
the reader's floor (interior and exterior walls differ) and ``floors`` the
number of floors between badge and reader. Each advert then gets
shadowing noise: a slowly varying per-badge term (posture, orientation,
body; AR(1) with correlation time ``body_correlation_s``) plus independent
per-advert fading. An advert is lost with probability ``advert_loss``
(collisions, the scanner off-channel), and is not heard below the reader's
``sensitivity_dbm``. Badges advertise every ``advert_interval_ms`` with a
per-badge phase. Positions are taken at the middle of each window (a
walking student moves about a metre in that time).

The constants and why they were chosen are in docs/SIMULATOR.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from firmware_sim.campus import FLOOR_HEIGHT_M
from firmware_sim.geometry import wall_loss
from firmware_sim.models import Campus, ReaderKind

__all__ = ["Adverts", "Radio", "RadioModel", "WindowAggregate", "aggregate"]

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

# Distances under half a metre are clamped (near field; a badge is never on the antenna).
MIN_DISTANCE_M: Final = 0.5
# Pairs whose mean is this many noise deviations below sensitivity are never heard: skipped.
CUTOFF_SIGMAS: Final = 3.0


@dataclass(frozen=True, slots=True)
class RadioModel:
    """Constants of the radio model (see docs/SIMULATOR.md for the sources and reasoning)."""

    rssi_at_1m: float = -59.0
    path_loss_exponent: float = 2.2
    fading_sigma_db: float = 4.0
    body_sigma_db: float = 2.0
    body_correlation_s: float = 20.0
    floor_loss_db: float = 18.0
    interior_wall_loss_db: float = 8.0
    exterior_wall_loss_db: float = 12.0
    advert_loss: float = 0.10
    sensitivity_dbm: float = -92.0
    advert_interval_ms: int = 1000
    max_range_m: float = 60.0
    raster_cell_m: float = 1.0

    def mean_rssi(
        self, distance_m: Floats, *, walls_db: Floats | float = 0.0, floors: Ints | int = 0
    ) -> Floats:
        d = np.maximum(distance_m, MIN_DISTANCE_M)
        return (
            self.rssi_at_1m
            - 10 * self.path_loss_exponent * np.log10(d)
            - walls_db
            - np.abs(floors) * self.floor_loss_db
        )

    @property
    def cutoff_dbm(self) -> float:
        return self.sensitivity_dbm - CUTOFF_SIGMAS * math.hypot(self.fading_sigma_db, self.body_sigma_db)


@dataclass(frozen=True, slots=True)
class Adverts:
    """Adverts heard in one window: one entry per (reader, badge, advert)."""

    reader: Ints  # index into Radio.readers (the campus's BLE readers, in campus order)
    student: Ints
    t_ms: Ints
    rssi: Ints

    def __len__(self) -> int:
        return len(self.reader)


@dataclass(frozen=True, slots=True)
class WindowAggregate:
    """Per (reader, badge) heard in a window: what a gateway reports as one sighting."""

    reader: Ints
    student: Ints
    count: Ints
    rssi_max: Ints
    rssi_median: Ints
    first_ms: Ints
    last_ms: Ints

    def __len__(self) -> int:
        return len(self.reader)


class Radio:
    """The radio of one campus: BLE readers, their wall-loss rasters, the badges' noise state."""

    def __init__(self, campus: Campus, *, model: RadioModel, students: int, rng: np.random.Generator) -> None:
        self.model = model
        self.rng = rng
        self.readers = tuple(r for r in campus.readers if r.kind is ReaderKind.BLE)
        self.reader_ids = tuple(r.reader_id for r in self.readers)
        self.rx = np.array([r.x for r in self.readers])
        self.ry = np.array([r.y for r in self.readers])
        self.rfloor = np.array([r.floor for r in self.readers], dtype=np.int64)
        bounds = max((z for z in campus.zones), key=lambda z: z.rect.area).rect
        cell = model.raster_cell_m
        self._x0, self._y0, self._cell = bounds.x0, bounds.y0, cell
        nx = math.ceil((bounds.x1 - bounds.x0) / cell)
        ny = math.ceil((bounds.y1 - bounds.y0) / cell)
        cx = bounds.x0 + (np.arange(nx) + 0.5) * cell
        cy = bounds.y0 + (np.arange(ny) + 0.5) * cell
        gx, gy = np.meshgrid(cx, cy)
        # Wall loss from each reader to every cell of the map, on the reader's floor.
        self._walls = np.full((len(self.readers), ny, nx), np.inf, dtype=np.float32)
        for i, reader in enumerate(self.readers):
            near = np.hypot(gx - reader.x, gy - reader.y) <= model.max_range_m
            self._walls[i][near] = wall_loss(
                campus.walls, floor=reader.floor, origin=(reader.x, reader.y), px=gx[near], py=gy[near]
            )
        self.phase_ms = rng.integers(0, model.advert_interval_ms, size=students)
        self.body_db = rng.normal(0.0, model.body_sigma_db, size=students)

    def mean_rssi(self, x: Floats, y: Floats, floor: Ints) -> Floats:
        """(students, readers) mean RSSI in dBm; -inf out of range."""
        dx = x[:, None] - self.rx[None, :]
        dy = y[:, None] - self.ry[None, :]
        dfloor = floor[:, None] - self.rfloor[None, :]
        distance = np.sqrt(dx * dx + dy * dy + (dfloor * FLOOR_HEIGHT_M) ** 2)
        ix = np.clip(((x - self._x0) / self._cell).astype(np.int64), 0, self._walls.shape[2] - 1)
        iy = np.clip(((y - self._y0) / self._cell).astype(np.int64), 0, self._walls.shape[1] - 1)
        walls = self._walls[np.arange(len(self.readers))[None, :], iy[:, None], ix[:, None]]
        return self.model.mean_rssi(distance, walls_db=walls.astype(np.float64), floors=dfloor)

    def window(self, *, start_ms: int, window_ms: int, x: Floats, y: Floats, floor: Ints) -> Adverts:
        """Adverts heard in [start_ms, start_ms + window_ms) from students at (x, y, floor); NaN x: absent.

        Advances the badges' slow noise by one window; call once per window, in order.
        """
        m = self.model
        rho = math.exp(-window_ms / 1000 / m.body_correlation_s)
        self.body_db = rho * self.body_db + math.sqrt(1 - rho * rho) * self.rng.normal(
            0.0, m.body_sigma_db, size=len(self.body_db)
        )
        present = np.flatnonzero(~np.isnan(x))
        empty = np.zeros(0, dtype=np.int64)
        if not len(present) or not len(self.readers):
            return Adverts(empty, empty, empty, empty)
        mean = self.mean_rssi(x[present], y[present], floor[present])
        rows, cols = np.nonzero(mean >= m.cutoff_dbm)
        students = present[rows]
        # Adverts of each badge inside the window: phase + k * interval.
        phase = self.phase_ms[students]
        first = start_ms + (phase - start_ms) % m.advert_interval_ms
        per_pair = np.maximum(
            0, (start_ms + window_ms - first + m.advert_interval_ms - 1) // m.advert_interval_ms
        )
        pair = np.repeat(np.arange(len(rows)), per_pair)
        k = np.arange(len(pair)) - np.repeat(np.cumsum(per_pair) - per_pair, per_pair)
        t = first[pair] + k * m.advert_interval_ms
        rssi = (
            mean[rows[pair], cols[pair]]
            + self.body_db[students[pair]]
            + self.rng.normal(0.0, m.fading_sigma_db, size=len(pair))
        )
        kept = (self.rng.random(len(pair)) >= m.advert_loss) & (rssi >= m.sensitivity_dbm)
        pair, t, rssi = pair[kept], t[kept], rssi[kept]
        return Adverts(
            reader=cols[pair].astype(np.int64),
            student=students[pair].astype(np.int64),
            t_ms=t.astype(np.int64),
            rssi=np.clip(np.round(rssi), -127, 20).astype(np.int64),
        )


def aggregate(adverts: Adverts, *, students: int) -> WindowAggregate:
    """Per (reader, badge): count, max and lower-median RSSI, first and last advert time.

    The lower median (the middle value, or the lower of the two middle
    values) is what the gateway's aggregator reports: an RSSI actually heard.
    """
    if not len(adverts):
        e = np.zeros(0, dtype=np.int64)
        return WindowAggregate(e, e, e, e, e, e, e)
    key = adverts.reader * students + adverts.student
    order = np.lexsort((adverts.rssi, key))
    k = key[order]
    rssi = adverts.rssi[order]
    t = adverts.t_ms[order]
    starts = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]]))
    counts = np.diff(np.concatenate([starts, [len(k)]]))
    group = np.repeat(np.arange(len(starts)), counts)
    first = np.full(len(starts), np.iinfo(np.int64).max)
    last = np.full(len(starts), np.iinfo(np.int64).min)
    np.minimum.at(first, group, t)
    np.maximum.at(last, group, t)
    return WindowAggregate(
        reader=k[starts] // students,
        student=k[starts] % students,
        count=counts.astype(np.int64),
        rssi_max=rssi[starts + counts - 1],
        rssi_median=rssi[starts + (counts - 1) // 2],
        first_ms=first,
        last_ms=last,
    )
