"""The walking graph: shortest paths between waypoints, and outdoor line-of-sight. Pure.

Indoors, students walk along corridor centrelines from door to door and take
the stairs; outdoors, they walk straight between waypoints that can see each
other (the line keeps clear of buildings and of restricted areas), which is
how people cross a playground. The graph is small (hundreds of nodes), so a
single-source Dijkstra per origin, cached, answers every query.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

from firmware_sim.geometry import Rect
from firmware_sim.models import Node

__all__ = ["RouteGraph", "segment_hits_rect"]


def segment_hits_rect(ax: float, ay: float, bx: float, by: float, rect: Rect) -> bool:
    """Whether the open segment a-b passes through the interior of ``rect`` (Liang-Barsky)."""
    dx, dy = bx - ax, by - ay
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, ax - rect.x0), (dx, rect.x1 - ax), (-dy, ay - rect.y0), (dy, rect.y1 - ay)):
        if p == 0:
            if q <= 0:
                return False
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 >= t1:
            return False
    return True


class RouteGraph:
    """Shortest walking paths over ``nodes`` joined by undirected ``edges`` (a, b, metres)."""

    def __init__(self, nodes: Sequence[Node], edges: Sequence[tuple[int, int, float]]) -> None:
        self.nodes = tuple(nodes)
        self._adjacent: list[list[tuple[int, float]]] = [[] for _ in nodes]
        for a, b, length in edges:
            self._adjacent[a].append((b, length))
            self._adjacent[b].append((a, length))
        self._trees: dict[int, tuple[list[float], list[int]]] = {}

    def _tree(self, source: int) -> tuple[list[float], list[int]]:
        tree = self._trees.get(source)
        if tree is not None:
            return tree
        dist = [math.inf] * len(self.nodes)
        prev = [-1] * len(self.nodes)
        dist[source] = 0.0
        heap = [(0.0, source)]
        while heap:
            d, node = heapq.heappop(heap)
            if d > dist[node]:
                continue
            for nxt, length in self._adjacent[node]:
                nd = d + length
                if nd < dist[nxt]:
                    dist[nxt] = nd
                    prev[nxt] = node
                    heapq.heappush(heap, (nd, nxt))
        self._trees[source] = (dist, prev)
        return dist, prev

    def path(self, source: int, target: int) -> list[int]:
        """Nodes from ``source`` to ``target`` inclusive; raises ``ValueError`` if unreachable."""
        dist, prev = self._tree(source)
        if math.isinf(dist[target]):
            raise ValueError(f"node {target} is not reachable from node {source}")
        out = [target]
        while out[-1] != source:
            out.append(prev[out[-1]])
        out.reverse()
        return out

    def distance(self, source: int, target: int) -> float:
        return self._tree(source)[0][target]
