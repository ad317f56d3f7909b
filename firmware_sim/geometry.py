"""Axis-aligned geometry of the simulated campus. Pure: no I/O, no clock.

Every zone of the simulated campus is an axis-aligned rectangle on one floor
(the off-site ring is a rectangle with a rectangular hole). That makes two
things exact and cheap:

- :class:`ZoneGrid` resolves points to the most specific zone with two
  ``searchsorted`` calls and a table look-up: between consecutive rectangle
  edges the answer cannot change, so the table is exact, not a raster.
- :func:`split_params` finds where a straight walk crosses a zone edge, so
  ground truth changes zone exactly where the student crosses a wall line.

Walls for the radio model are the merged edges of indoor rooms and building
outlines (:func:`build_walls`), each with its attenuation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "NO_ZONE",
    "Rect",
    "Wall",
    "ZoneGrid",
    "ZoneShape",
    "build_walls",
    "wall_loss",
]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

NO_ZONE: Final = -1
# Two coordinates closer than this are the same edge (layouts use whole and half metres).
_EPS: Final = 1e-9


@dataclass(frozen=True, slots=True)
class Rect:
    """An axis-aligned rectangle in site-local metres (x east, y north)."""

    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self) -> None:
        if not (self.x1 > self.x0 and self.y1 > self.y0):
            raise ValueError(f"empty rectangle {self}")

    @property
    def area(self) -> float:
        return (self.x1 - self.x0) * (self.y1 - self.y0)

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2)

    def contains(self, x: Floats, y: Floats) -> npt.NDArray[np.bool_]:
        """Points inside or on the boundary (vectorised)."""
        return (x >= self.x0) & (x <= self.x1) & (y >= self.y0) & (y <= self.y1)

    def inset(self, margin: float) -> Rect:
        return Rect(self.x0 + margin, self.y0 + margin, self.x1 - margin, self.y1 - margin)

    def expand(self, margin: float) -> Rect:
        return Rect(self.x0 - margin, self.y0 - margin, self.x1 + margin, self.y1 + margin)

    def ring(self) -> list[list[float]]:
        """The closed exterior ring, counter-clockwise, as GeoJSON coordinates."""
        return [
            [self.x0, self.y0],
            [self.x1, self.y0],
            [self.x1, self.y1],
            [self.x0, self.y1],
            [self.x0, self.y0],
        ]

    def edges(self) -> list[tuple[str, float, float, float]]:
        """The four edges as (orientation, constant, low, high); 'v' is x = constant."""
        return [
            ("h", self.y0, self.x0, self.x1),
            ("h", self.y1, self.x0, self.x1),
            ("v", self.x0, self.y0, self.y1),
            ("v", self.x1, self.y0, self.y1),
        ]


@dataclass(frozen=True, slots=True)
class ZoneShape:
    """What the resolver needs of a zone: its rectangle (minus a hole), floor and rank."""

    rect: Rect
    floor: int | None  # None: a container spanning every floor (site, building, off site)
    depth: int  # depth in the parent hierarchy: deeper is more specific
    hole: Rect | None = None

    def on_floor(self, floor: int) -> bool:
        return self.floor is None or self.floor == floor


class ZoneGrid:
    """Exact point -> most specific zone resolution for axis-aligned zones.

    "Most specific": the deepest zone in the hierarchy containing the point,
    then the smallest area, then the lowest index: the rules of
    ``zones.geometry.ZoneIndex`` (docs/ZONES.md). Only a point exactly on a
    shared wall may differ (here it belongs to the cell on its east/north
    side); the simulator never stops on one.
    """

    def __init__(self, shapes: Sequence[ZoneShape]) -> None:
        self.shapes = tuple(shapes)
        # Most specific first: the first zone claiming a cell wins.
        self._order = sorted(
            range(len(self.shapes)), key=lambda i: (-self.shapes[i].depth, self.shapes[i].rect.area, i)
        )
        self._tables: dict[int, tuple[Floats, Floats, Ints]] = {}
        for floor in sorted({s.floor for s in self.shapes if s.floor is not None} or {0}):
            self._table(floor)

    def _table(self, floor: int) -> tuple[Floats, Floats, Ints]:
        """The cell table of one floor (built on first use: spanning zones exist on every floor)."""
        found = self._tables.get(floor)
        if found is not None:
            return found
        members = [i for i in self._order if self.shapes[i].on_floor(floor)]
        xs_set: set[float] = set()
        ys_set: set[float] = set()
        for i in members:
            for r in (self.shapes[i].rect, self.shapes[i].hole):
                if r is not None:
                    xs_set.update((r.x0, r.x1))
                    ys_set.update((r.y0, r.y1))
        xs = np.array(sorted(xs_set), dtype=np.float64)
        ys = np.array(sorted(ys_set), dtype=np.float64)
        # Cell (j, i) spans [ys[j], ys[j+1]) x [xs[i], xs[i+1]); probe its centre.
        gx, gy = np.meshgrid((xs[:-1] + xs[1:]) / 2, (ys[:-1] + ys[1:]) / 2)
        table = np.full(gx.shape, NO_ZONE, dtype=np.int64)
        for i in reversed(members):  # least specific first, overwritten by more specific
            s = self.shapes[i]
            inside = s.rect.contains(gx, gy)
            if s.hole is not None:
                inside &= ~s.hole.contains(gx, gy)
            table[inside] = i
        self._tables[floor] = (xs, ys, table)
        return self._tables[floor]

    @property
    def edges_x(self) -> Floats:
        return np.unique(np.concatenate([t[0] for t in self._tables.values()]))

    @property
    def edges_y(self) -> Floats:
        return np.unique(np.concatenate([t[1] for t in self._tables.values()]))

    def resolve(self, x: Floats, y: Floats, floor: Ints) -> Ints:
        """Index into ``shapes`` of the most specific zone at each point; ``NO_ZONE`` if none (or NaN)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        floor = np.asarray(floor, dtype=np.int64)
        out = np.full(x.shape, NO_ZONE, dtype=np.int64)
        valid = ~(np.isnan(x) | np.isnan(y))
        for f in np.unique(floor[valid]).tolist():
            xs, ys, table = self._table(int(f))
            if len(xs) < 2:
                continue
            sel = valid & (floor == f)
            px, py = x[sel], y[sel]
            ix = np.searchsorted(xs, px, side="right") - 1
            iy = np.searchsorted(ys, py, side="right") - 1
            # The far edge of the outermost zone still belongs to it.
            ix = np.where(np.abs(px - xs[-1]) <= _EPS, len(xs) - 2, ix)
            iy = np.where(np.abs(py - ys[-1]) <= _EPS, len(ys) - 2, iy)
            inside = (ix >= 0) & (ix < len(xs) - 1) & (iy >= 0) & (iy < len(ys) - 1)
            found = np.full(len(px), NO_ZONE, dtype=np.int64)
            found[inside] = table[iy[inside], ix[inside]]
            out[sel] = found
        return out


def split_params(
    x0: Floats, y0: Floats, x1: Floats, y1: Floats, *, edges_x: Floats, edges_y: Floats
) -> tuple[Ints, Floats]:
    """Where each segment crosses a zone edge line, as (segment index, parameter in (0, 1)), sorted.

    Vectorised over segments; lines are the grid's edge coordinates.
    """
    seg: list[Ints] = []
    par: list[Floats] = []
    for const, a0, a1 in ((edges_x, x0, x1), (edges_y, y0, y1)):
        moving = np.flatnonzero(np.abs(a1 - a0) > _EPS)
        if not len(moving) or not len(const):
            continue
        # Chunks bound memory: segments x lines floats.
        for start in range(0, len(moving), 20_000):
            idx = moving[start : start + 20_000]
            p = (const[None, :] - a0[idx, None]) / (a1[idx, None] - a0[idx, None])
            rows, cols = np.nonzero((p > _EPS) & (p < 1 - _EPS))
            seg.append(idx[rows])
            par.append(p[rows, cols])
    if not seg:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    s = np.concatenate(seg)
    p = np.concatenate(par)
    order = np.lexsort((p, s))
    return s[order], p[order]


@dataclass(frozen=True, slots=True)
class Wall:
    """A straight wall on one floor: 'v' is x = const for low <= y <= high, 'h' is y = const."""

    floor: int
    orientation: str
    const: float
    low: float
    high: float
    loss_db: float


def _merge(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1] + _EPS:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def build_walls(
    *,
    rooms: Iterable[tuple[int, Rect]],
    outlines: Iterable[tuple[int, Rect]],
    interior_loss_db: float,
    exterior_loss_db: float,
) -> tuple[Wall, ...]:
    """Merge room edges and building outlines into walls, each physical wall once.

    A stretch of room edge lying on a building outline is part of the
    exterior wall and counted there only.
    """
    exterior: dict[tuple[int, str, float], list[tuple[float, float]]] = defaultdict(list)
    for floor, rect in outlines:
        for orient, const, lo, hi in rect.edges():
            exterior[(floor, orient, const)].append((lo, hi))
    interior: dict[tuple[int, str, float], list[tuple[float, float]]] = defaultdict(list)
    for floor, rect in rooms:
        for orient, const, lo, hi in rect.edges():
            key = (floor, orient, const)
            covered = _merge(exterior.get(key, []))
            # Keep the parts of this edge that are not on an exterior wall.
            pieces = [(lo, hi)]
            for clo, chi in covered:
                pieces = [
                    part
                    for plo, phi in pieces
                    for part in ((plo, min(phi, clo)), (max(plo, chi), phi))
                    if part[1] - part[0] > _EPS
                ]
            interior[key].extend(pieces)
    walls: list[Wall] = []
    for table, loss in ((exterior, exterior_loss_db), (interior, interior_loss_db)):
        for (floor, orient, const), intervals in sorted(table.items()):
            walls.extend(Wall(floor, orient, const, lo, hi, loss) for lo, hi in _merge(intervals))
    return tuple(walls)


def wall_loss(
    walls: Sequence[Wall], *, floor: int, origin: tuple[float, float], px: Floats, py: Floats
) -> Floats:
    """Total attenuation (dB) of the walls of ``floor`` crossed by the lines origin -> each point.

    A line that only touches a wall's end or runs along it is not counted.
    """
    ox, oy = origin
    total = np.zeros(px.shape)
    for wall in walls:
        if wall.floor != floor:
            continue
        if wall.orientation == "v":
            a0, a1, b0, b1 = ox, px, oy, py
        else:
            a0, a1, b0, b1 = oy, py, ox, px
        c = wall.const
        crosses = (a0 - c) * (a1 - c) < 0
        if not crosses.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            at = b0 + (b1 - b0) * (c - a0) / (a1 - a0)
        crosses &= (at > wall.low) & (at < wall.high)
        total += np.where(crosses, wall.loss_db, 0.0)
    return total
