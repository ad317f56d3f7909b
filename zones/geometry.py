"""Position to zone, vectorised over a batch of points, and the checks a site's zones must pass. Pure.

"Most specific" is one total order over a site's zones, computed once when
the index is built: a zone always ranks before its ancestors, unrelated
zones rank by area (smaller first), then by id. A point on a wall shared by
two rooms touches both and gets the one that ranks first, so the answer
never depends on the order the zones came in. Floors follow
:meth:`zones.models.Zone.on_floor`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely import STRtree

from zones.errors import ZoneError
from zones.models import Problem, Zone, ZoneKind

__all__ = ["NEST_TOLERANCE_M", "NO_ZONE", "ZoneIndex", "check", "hierarchy_depths"]

NO_ZONE: Final = -1
# Plans are drawn to the centimetre: a child sticking out of its parent, or two
# rooms overlapping, by less than this is drawing noise, not a mistake.
NEST_TOLERANCE_M: Final = 0.01


def _cycle_members(parents: dict[str, str | None]) -> set[str]:
    """Ids of zones that are on a parent cycle (their parent chain comes back to them)."""
    on_cycle: set[str] = set()
    for start in parents:
        path: list[str] = []
        current: str | None = start
        while current is not None and current in parents and current not in path:
            path.append(current)
            current = parents[current]
        if current is not None and current in path:
            on_cycle.update(path[path.index(current) :])
    return on_cycle


def hierarchy_depths(zones: Sequence[Zone]) -> dict[str, int]:
    """Depth of each zone in the parent hierarchy (0: no known parent). Raises ZoneError on a cycle."""
    parents = {zone.zone_id: zone.parent_id for zone in zones}
    cycle = _cycle_members(parents)
    if cycle:
        raise ZoneError(f"zones {', '.join(sorted(cycle))} are their own ancestors")
    depths: dict[str, int] = {}
    for zone_id in parents:
        chain: list[str] = []
        current: str | None = zone_id
        while current is not None and current in parents and current not in depths:
            chain.append(current)
            current = parents[current]
        base = depths[current] + 1 if current is not None and current in depths else 0
        for offset, member in enumerate(reversed(chain)):
            depths[member] = base + offset
    return depths


def _specificity_order(zones: Sequence[Zone], depths: dict[str, int]) -> list[int]:
    """Positions of ``zones``, most specific first (see the module docstring)."""
    # A parent's effective area is at least each child's: a child drawn a few
    # millimetres larger than its parent must still rank before it.
    effective = {zone.zone_id: float(zone.geometry.area) for zone in zones}
    for zone in sorted(zones, key=lambda z: -depths[z.zone_id]):
        parent = zone.parent_id
        if parent is not None and parent in effective:
            effective[parent] = max(effective[parent], effective[zone.zone_id])
    return sorted(
        range(len(zones)),
        key=lambda i: (effective[zones[i].zone_id], -depths[zones[i].zone_id], zones[i].zone_id),
    )


class ZoneIndex:
    """An STRtree over a site's zones that answers "which zone is each of these points in?"."""

    __slots__ = ("_floor", "_rank", "_spans", "_tree", "parent_index", "zone_ids")

    zone_ids: tuple[str, ...]
    parent_index: NDArray[np.int64]

    def __init__(
        self,
        *,
        zone_ids: tuple[str, ...],
        tree: STRtree,
        floor: NDArray[np.int64],
        spans: NDArray[np.bool_],
        rank: NDArray[np.int64],
        parent_index: NDArray[np.int64],
    ) -> None:
        self.zone_ids = zone_ids
        self.parent_index = parent_index
        self._tree = tree
        self._floor = floor
        self._spans = spans
        self._rank = rank

    @classmethod
    def build(cls, zones: Sequence[Zone]) -> ZoneIndex:
        """Index ``zones`` (checked ones: duplicate ids and parent cycles raise ZoneError).

        ``zone_ids`` keeps the order of ``zones``; ``parent_index`` gives each
        zone's parent as an index into it (``NO_ZONE`` for none or unknown).
        """
        ids = tuple(zone.zone_id for zone in zones)
        duplicates = sorted(zone_id for zone_id, n in Counter(ids).items() if n > 1)
        if duplicates:
            raise ZoneError(f"duplicate zone ids: {', '.join(duplicates)}")
        depths = hierarchy_depths(zones)
        rank = np.empty(len(zones), dtype=np.int64)
        rank[_specificity_order(zones, depths)] = np.arange(len(zones), dtype=np.int64)
        position = {zone_id: i for i, zone_id in enumerate(ids)}
        return cls(
            zone_ids=ids,
            tree=STRtree([zone.geometry for zone in zones]),
            floor=np.array([zone.level for zone in zones], dtype=np.int64),
            spans=np.array([zone.spans_all_floors for zone in zones], dtype=np.bool_),
            rank=rank,
            parent_index=np.array(
                [position.get(zone.parent_id or "", NO_ZONE) for zone in zones], dtype=np.int64
            ),
        )

    def __len__(self) -> int:
        return len(self.zone_ids)

    def resolve(
        self, x: NDArray[np.float64], y: NDArray[np.float64], floor: NDArray[np.int64]
    ) -> NDArray[np.int64]:
        """Index into ``zone_ids`` of the most specific zone containing each point on its floor, else -1.

        A point on a zone's outline is in it; a point with a NaN coordinate is in no zone.
        """
        xs = np.asarray(x, dtype=np.float64)
        ys = np.asarray(y, dtype=np.float64)
        floors = np.asarray(floor, dtype=np.int64)
        if xs.ndim != 1 or xs.shape != ys.shape or xs.shape != floors.shape:
            raise ValueError("x, y and floor must be 1-D arrays of the same length")
        out = np.full(xs.shape[0], NO_ZONE, dtype=np.int64)
        if not self.zone_ids or xs.shape[0] == 0:
            return out
        pairs = self._tree.query(shapely.points(xs, ys), predicate="intersects")
        point = pairs[0].astype(np.int64)
        zone = pairs[1].astype(np.int64)
        keep = self._spans[zone] | (self._floor[zone] == floors[point])
        point, zone = point[keep], zone[keep]
        if point.shape[0] == 0:
            return out
        order = np.lexsort((self._rank[zone], point))
        point, zone = point[order], zone[order]
        first = np.ones(point.shape[0], dtype=np.bool_)
        first[1:] = point[1:] != point[:-1]
        out[point[first]] = zone[first]
        return out

    def lookup(self, x: float, y: float, floor: int) -> str | None:
        """The most specific zone id at one point, or None (for single look-ups; batch with resolve)."""
        index = int(
            self.resolve(np.array([x], dtype=np.float64), np.array([y]), np.array([floor], dtype=np.int64))[0]
        )
        return None if index == NO_ZONE else self.zone_ids[index]


# -- checks --------------------------------------------------------------------
def _problem(zone_id: str, field: str, message: str) -> Problem:
    return Problem(f"zone {zone_id}", field, message)


def _floors_text(zone: Zone) -> str:
    return "every floor" if zone.spans_all_floors else f"floor {zone.level}"


def _readable(reason: str) -> str:
    """GEOS says 'Self-intersection[15 16]'; say 'self-intersection at (15, 16)'."""
    match = re.fullmatch(r"(.+?)\s*\[(\S+) (\S+)\]", reason)
    if match is None:
        return reason
    return f"{match[1].lower()} at ({match[2]}, {match[3]})"


def _geometry_problems(zones: Sequence[Zone]) -> tuple[list[Problem], set[int]]:
    """Invalid or empty outlines; returns the problems and the positions of zones with a usable outline."""
    problems: list[Problem] = []
    usable: set[int] = set()
    for i, zone in enumerate(zones):
        reason = shapely.is_valid_reason(zone.geometry)
        if reason != "Valid Geometry":
            problems.append(_problem(zone.zone_id, "geometry", f"invalid outline: {_readable(reason)}"))
        elif zone.geometry.is_empty or zone.geometry.area <= 0:
            problems.append(_problem(zone.zone_id, "geometry", "the outline encloses no area"))
        else:
            usable.add(i)
    return problems, usable


@dataclass(frozen=True, slots=True)
class _Hierarchy:
    ancestors: dict[str, set[str]]
    # Zones whose parent chain reaches a root through known, unique ids. The
    # others' relations are unknown until their parent problem is fixed, so
    # overlaps are not judged for them (that would only repeat the problem).
    rooted: set[str]


def _parent_problems(
    zones: Sequence[Zone], usable: set[int], also_known: Collection[str]
) -> tuple[list[Problem], _Hierarchy]:
    """Unknown parents, cycles, and children outside their parent or on another floor."""
    by_id = {zone.zone_id: (i, zone) for i, zone in enumerate(zones)}
    parents = {zone.zone_id: zone.parent_id for zone in zones}
    cycle = _cycle_members(parents)
    problems = [
        _problem(zone_id, "parent", "the parent chain comes back to this zone (a cycle)")
        for zone_id in sorted(cycle)
    ]
    duplicated = {zone_id for zone_id, n in Counter(zone.zone_id for zone in zones).items() if n > 1}
    ancestors: dict[str, set[str]] = {}
    rooted: set[str] = set()
    for i, zone in enumerate(zones):
        chain: set[str] = set()
        current = zone.parent_id
        while current is not None and current in by_id and current not in chain:
            chain.add(current)
            current = by_id[current][1].parent_id
        ancestors[zone.zone_id] = chain
        if current is None and not (chain | {zone.zone_id}) & duplicated:
            rooted.add(zone.zone_id)
        if zone.parent_id is None or zone.zone_id in cycle:
            continue
        if zone.parent_id not in by_id:
            if zone.parent_id not in also_known:
                problems.append(_problem(zone.zone_id, "parent", f"unknown parent zone {zone.parent_id!r}"))
            continue
        j, parent = by_id[zone.parent_id]
        if not (parent.spans_all_floors or (not zone.spans_all_floors and zone.level == parent.level)):
            problems.append(
                _problem(
                    zone.zone_id,
                    "floor",
                    f"is on {_floors_text(zone)} but its parent {parent.zone_id} is on {_floors_text(parent)}",
                )
            )
        if i in usable and j in usable:
            outside = zone.geometry.difference(parent.geometry.buffer(NEST_TOLERANCE_M))
            if not outside.is_empty:
                problems.append(
                    _problem(
                        zone.zone_id,
                        "geometry",
                        f"is not within its parent {parent.zone_id} "
                        f"({zone.geometry.difference(parent.geometry).area:.2f} m² outside it)",
                    )
                )
    return problems, _Hierarchy(ancestors, rooted)


def _overlap_problems(zones: Sequence[Zone], usable: set[int], hierarchy: _Hierarchy) -> list[Problem]:
    """Unrelated zones on a common floor that overlap by more than the tolerance."""
    ancestors = hierarchy.ancestors
    positions = sorted(i for i in usable if zones[i].zone_id in hierarchy.rooted)
    if len(positions) < 2:
        return []
    geometries = [zones[i].geometry for i in positions]
    left, right = STRtree(geometries).query(geometries, predicate="intersects")
    problems: list[Problem] = []
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        if a >= b:
            continue  # each unordered pair once
        one, other = zones[positions[a]], zones[positions[b]]
        if other.zone_id in ancestors[one.zone_id] or one.zone_id in ancestors[other.zone_id]:
            continue
        if not (one.spans_all_floors or other.spans_all_floors or one.level == other.level):
            continue
        shared = one.geometry.intersection(other.geometry)
        # A sliver thinner than the tolerance (a shared wall drawn twice) vanishes when eroded.
        if shared.area <= 0 or shared.buffer(-NEST_TOLERANCE_M / 2).is_empty:
            continue
        floor = _floors_text(one) if not one.spans_all_floors else _floors_text(other)
        problems.append(
            _problem(
                one.zone_id,
                "geometry",
                f"overlaps zone {other.zone_id} by {shared.area:.2f} m² on {floor}, and neither is "
                "the other's ancestor (nest one in the other with 'parent', or fix the outlines)",
            )
        )
    return problems


def check(zones: Sequence[Zone], *, also_known: Collection[str] = ()) -> list[Problem]:
    """Every problem of a site's zones, each naming the zone and what is wrong.

    Duplicate ids, invalid or self-intersecting outlines, unknown parents,
    parent cycles, a child outside its parent or on another floor, overlaps of
    unrelated zones on a common floor, a floor zone without a floor number.
    ``also_known`` names zones that exist but are not in ``zones`` (features of
    the same file that failed to parse), so they are not reported as unknown
    parents.
    """
    problems: list[Problem] = []
    counts = Counter(zone.zone_id for zone in zones)
    for zone_id, n in counts.items():
        if n > 1:
            problems.append(_problem(zone_id, "id", f"used by {n} zones; ids must be unique in a site"))
    problems += [
        _problem(zone.zone_id, "floor", "a floor zone needs a floor number")
        for zone in zones
        if zone.kind == ZoneKind.FLOOR and zone.floor is None
    ]
    geometry_problems, usable = _geometry_problems(zones)
    problems += geometry_problems
    parent_problems, hierarchy = _parent_problems(zones, usable, also_known)
    problems += parent_problems
    problems += _overlap_problems(zones, usable, hierarchy)
    return problems
