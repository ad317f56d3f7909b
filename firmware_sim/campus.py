"""A deterministic simulated campus built from a size and a seed. Pure.

Layout (site-local metres, x east, y north; see docs/SIMULATOR.md for a
drawing): two buildings, A (south) and B (north), each with two floors.
On every floor a corridor runs west-east between two rows of 8 x 8 m rooms;
the west end holds the stairs (north) and toilets (south); the ground-floor
corridor opens to the east through the building's entrance. A's ground
floor has the staff office; B's ground floor has the hall (two room widths)
and a plant room (restricted). Between the buildings lies the playground;
east of them, two assembly points on the field; west, the staff car park
(restricted); gates in the south and north fences; around the site fence,
a 30 m off-site ring (the street).

Readers: one BLE reader near the centre of every classroom (and the hall,
plant room, car park, gates and assembly points), BLE readers along
corridors every ``CORRIDOR_READER_SPACING_M`` and on the playground, and RFID
tap readers at every classroom door and at each gate. The seed moves each
room reader up to ``READER_JITTER_M`` off-centre, as installers do.
"""

from __future__ import annotations

import itertools
import math
from typing import Final

import numpy as np

from firmware_sim.geometry import Rect, ZoneGrid, ZoneShape, build_walls
from firmware_sim.models import Campus, Node, ReaderKind, ReaderSpec, ScheduleRule, ZoneSpec
from firmware_sim.routes import RouteGraph, segment_hits_rect

__all__ = [
    "FLOOR_HEIGHT_M",
    "FORM_SIZE",
    "build_campus",
    "forms_for",
    "route_graph",
]

# A classroom for a form of 30: 64 m2, within English guidance (55-70 m2).
ROOM_W_M: Final = 8.0
ROOM_D_M: Final = 8.0
CORRIDOR_W_M: Final = 3.0
# The west column of each floor: stairs (north) and toilets (south).
END_W_M: Final = 4.0
BUILDING_D_M: Final = 2 * ROOM_D_M + CORRIDOR_W_M
FLOORS: Final = 2
FLOOR_HEIGHT_M: Final = 3.5
# A form (registration group) of 30: the usual English class size.
FORM_SIZE: Final = 30
# Rooms beyond one per form, so every form has a room each lesson even with a room out of use.
SPARE_ROOMS: Final = 2
# Playground between the buildings: wide enough for the whole school at break.
PLAYGROUND_GAP_M: Final = 26.0
# Corridor readers this far apart at most: a badge is then within 8 m of one, where it claims.
CORRIDOR_READER_SPACING_M: Final = 16.0
# Installers put a room's reader near, not at, the centre (light fittings, sockets).
READER_JITTER_M: Final = 1.0
# A door is 1.5 m from a room's west wall; students pass 0.7 m inside it.
DOOR_OFFSET_M: Final = 1.5
DOOR_INSIDE_M: Final = 0.7
# Climbing one floor costs about as much time as walking this far.
STAIRS_EQUIV_M: Final = 12.0
# Outdoor paths keep this clear of walls and restricted areas; waypoints sit further out.
OBSTACLE_CLEARANCE_M: Final = 1.0
CORNER_OFFSET_M: Final = 2.0
OFF_SITE_RING_M: Final = 30.0
STREET_DISTANCE_M: Final = 10.0
_ALL_DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def forms_for(students: int) -> int:
    return max(1, math.ceil(students / FORM_SIZE))


def _columns(students: int) -> int:
    # 8 room slots per column (2 buildings x 2 floors x 2 sides); office and hall take 3.
    return max(2, math.ceil((forms_for(students) + SPARE_ROOMS + 3) / 8))


class _Floor:
    """One floor under construction: its ids, corridor, and corridor waypoints by x."""

    def __init__(self, builder: _Builder, *, name: str, floor: int, y0: float) -> None:
        self.builder = builder
        self.name = name
        self.floor = floor
        self.y0 = y0
        self.fid = f"{name.lower()}-f{floor}"
        self.corridor = Rect(0.0, y0 + ROOM_D_M, builder.width, y0 + ROOM_D_M + CORRIDOR_W_M)
        self.corridor_y = y0 + ROOM_D_M + CORRIDOR_W_M / 2
        self.nodes: dict[float, int] = {}

    def corridor_node(self, x: float) -> int:
        if x not in self.nodes:
            self.nodes[x] = self.builder.node(x, self.corridor_y, self.floor)
        return self.nodes[x]


class _Builder:
    def __init__(self, *, students: int, rng: np.random.Generator) -> None:
        self.rng = rng
        self.k = _columns(students)
        self.width = END_W_M + self.k * ROOM_W_M
        self.east = max(self.width, 40.0)
        self.zones: list[ZoneSpec] = []
        self.readers: list[ReaderSpec] = []
        self.nodes: list[Node] = []
        self.edges: list[tuple[int, int, float]] = []
        self.zone_node: dict[str, int] = {}
        self.street_node: dict[str, int] = {}
        self.door_taps: dict[int, tuple[str, str]] = {}
        self.gate_taps: dict[int, str] = {}
        self.classrooms: list[str] = []
        self.toilets: list[str] = []
        self.rooms_for_walls: list[tuple[int, Rect]] = []
        self.outlines: list[tuple[int, Rect]] = []
        self.outdoor_nodes: list[int] = []
        self.obstacles: list[Rect] = []

    # -- primitives -------------------------------------------------------
    def node(self, x: float, y: float, floor: int) -> int:
        self.nodes.append(Node(len(self.nodes), x, y, floor))
        return len(self.nodes) - 1

    def edge(self, a: int, b: int, length: float | None = None) -> None:
        na, nb = self.nodes[a], self.nodes[b]
        self.edges.append((a, b, length if length is not None else math.hypot(na.x - nb.x, na.y - nb.y)))

    def zone(self, spec: ZoneSpec) -> ZoneSpec:
        self.zones.append(spec)
        return spec

    def ble(self, reader_id: str, zone_id: str, x: float, y: float, floor: int) -> None:
        self.readers.append(ReaderSpec(reader_id, ReaderKind.BLE, zone_id, round(x, 2), round(y, 2), floor))

    def jitter(self) -> tuple[float, float]:
        dx, dy = self.rng.uniform(-READER_JITTER_M, READER_JITTER_M, size=2)
        return float(dx), float(dy)

    # -- buildings --------------------------------------------------------
    def building(self, name: str, *, y0: float) -> None:
        b = name.lower()
        outline = Rect(0.0, y0, self.width, y0 + BUILDING_D_M)
        self.zone(ZoneSpec(b, f"Building {name}", "building", outline, None, name, "site"))
        stairs_nodes = []
        for floor in range(FLOORS):
            self.outlines.append((floor, outline))
            stairs_nodes.append(self.floor(name, floor=floor, y0=y0, outline=outline))
        self.edge(stairs_nodes[0], stairs_nodes[1], STAIRS_EQUIV_M)

    def floor(self, name: str, *, floor: int, y0: float, outline: Rect) -> int:
        """One floor: corridor, west column (stairs, toilets or plant room), two rows of rooms."""
        f = _Floor(self, name=name, floor=floor, y0=y0)
        self.zone(ZoneSpec(f.fid, f"{name} floor {floor}", "floor", outline, floor, name, name.lower()))
        cid = f"{f.fid}-corridor"
        self.zone(ZoneSpec(cid, f"{name} floor {floor} corridor", "corridor", f.corridor, floor, name, f.fid))
        west = f.corridor_node(END_W_M / 2)
        stairs_node = self.west_column(f, west)
        for side, ry0 in (("south", y0), ("north", f.corridor.y1)):
            self.room_row(f, side=side, ry0=ry0)
        east = f.corridor_node(self.width - 1.0)
        ordered = [f.nodes[x] for x in sorted(f.nodes)]
        for a, c in itertools.pairwise(ordered):
            self.edge(a, c)
        count = max(1, math.ceil(self.width / CORRIDOR_READER_SPACING_M))
        for i in range(count):
            self.ble(f"{cid}-ble{i + 1}", cid, self.width * (i + 0.5) / count, f.corridor_y, floor)
        self.zone_node[cid] = west
        if floor == 0:
            outside = self.node(self.width + CORNER_OFFSET_M, f.corridor_y, 0)
            self.edge(east, outside)
            self.outdoor_nodes.append(outside)
        return stairs_node

    def west_column(self, f: _Floor, west: int) -> int:
        """Stairs on the north side; toilets (or, on B's ground floor, the plant room) on the south."""
        stairs = Rect(0.0, f.corridor.y1, END_W_M, f.corridor.y1 + ROOM_D_M)
        sid = f"{f.fid}-stairs"
        self.zone(ZoneSpec(sid, f"{f.name} floor {f.floor} stairs", "stairs", stairs, f.floor, f.name, f.fid))
        self.rooms_for_walls.append((f.floor, stairs))
        stairs_node = self.node(*stairs.centre, f.floor)
        self.edge(west, stairs_node)
        self.zone_node[sid] = stairs_node
        south_west = Rect(0.0, f.y0, END_W_M, f.y0 + ROOM_D_M)
        self.rooms_for_walls.append((f.floor, south_west))
        if f.name == "B" and f.floor == 0:
            rule = ScheduleRule(_ALL_DAYS, "00:00", "24:00", restricted=True)
            spec = ZoneSpec(
                "b-plant", "Plant room", "restricted", south_west, f.floor, f.name, f.fid, schedule=(rule,)
            )
            self.zone(spec)
            self.room_access("b-plant", south_west, f, side="south")
            self.ble("b-plant-ble", "b-plant", *south_west.centre, f.floor)
        else:
            tid = f"{f.fid}-toilets"
            self.zone(
                ZoneSpec(
                    tid, f"{f.name} floor {f.floor} toilets", "toilet", south_west, f.floor, f.name, f.fid
                )
            )
            self.toilets.append(tid)
            inner = self.node(*south_west.centre, f.floor)
            self.edge(west, inner)
            self.zone_node[tid] = inner
        return stairs_node

    def room_row(self, f: _Floor, *, side: str, ry0: float) -> None:
        """The rooms along one side of the corridor (the hall takes the last two on B's ground floor)."""
        for column in range(self.k):
            x0 = END_W_M + column * ROOM_W_M
            if f.name == "B" and f.floor == 0 and side == "north" and column == max(0, self.k - 2):
                hall = Rect(x0, ry0, self.width, ry0 + ROOM_D_M)
                self.zone(ZoneSpec("b-hall", "Hall", "hall", hall, f.floor, f.name, f.fid, capacity=400))
                self.rooms_for_walls.append((f.floor, hall))
                self.room_access("b-hall", hall, f, side=side)
                self.ble("b-hall-ble", "b-hall", *hall.centre, f.floor)
                return
            rect = Rect(x0, ry0, x0 + ROOM_W_M, ry0 + ROOM_D_M)
            self.rooms_for_walls.append((f.floor, rect))
            if f.name == "A" and f.floor == 0 and side == "south" and column == 0:
                self.zone(ZoneSpec("a-office", "Staff office", "office", rect, f.floor, f.name, f.fid))
                self.room_access("a-office", rect, f, side=side)
            else:
                self.classroom(f, rect, number=column + 1 + (self.k if side == "north" else 0), side=side)

    def classroom(self, f: _Floor, rect: Rect, *, number: int, side: str) -> None:
        """A classroom with a BLE reader near its centre and a tap reader at its door."""
        rid = f"{f.name.lower()}-{f.floor}{number:02d}"
        name = f"Room {f.name}{f.floor}{number:02d}"
        self.zone(ZoneSpec(rid, name, "classroom", rect, f.floor, f.name, f.fid, capacity=32))
        self.classrooms.append(rid)
        door_in = self.room_access(rid, rect, f, side=side)
        dx, dy = self.jitter()
        cx, cy = rect.centre
        self.ble(f"{rid}-ble", rid, cx + dx, cy + dy, f.floor)
        tap = f"{rid}-tap"
        door = self.nodes[door_in]
        self.readers.append(ReaderSpec(tap, ReaderKind.RFID, rid, door.x, door.y, f.floor))
        self.door_taps[door_in] = (rid, tap)

    def room_access(self, zone_id: str, rect: Rect, f: _Floor, *, side: str) -> int:
        """Door of a room on the corridor: a node just inside, joined to the corridor node outside."""
        x = rect.x0 + DOOR_OFFSET_M
        y = rect.y1 - DOOR_INSIDE_M if side == "south" else rect.y0 + DOOR_INSIDE_M
        door_in = self.node(x, y, f.floor)
        self.edge(door_in, f.corridor_node(x))
        self.zone_node[zone_id] = door_in
        return door_in

    # -- grounds ----------------------------------------------------------
    def outdoor_zone(self, spec: ZoneSpec, *, node_at: tuple[float, float] | None = None) -> int:
        self.zone(spec)
        n = self.node(*(node_at or spec.rect.centre), 0)
        self.outdoor_nodes.append(n)
        self.zone_node[spec.zone_id] = n
        return n

    def grounds(self) -> Rect:
        a = Rect(0.0, 0.0, self.width, BUILDING_D_M)
        b_y0 = BUILDING_D_M + PLAYGROUND_GAP_M
        b = Rect(0.0, b_y0, self.width, b_y0 + BUILDING_D_M)
        site = Rect(-35.0, -25.0, self.east + 45.0, b.y1 + 26.0)
        self.zones.insert(0, ZoneSpec("site", "School grounds", "site", site, None))
        playground = Rect(0.0, a.y1 + 6.0, self.east, b.y0 - 6.0)
        self.outdoor_zone(ZoneSpec("playground", "Playground", "playground", playground, 0, None, "site"))
        count = max(1, round(playground.area / 600))
        for i in range(count):
            x = playground.x0 + (playground.x1 - playground.x0) * (i + 0.5) / count
            self.ble(f"playground-ble{i + 1}", "playground", x, playground.centre[1], 0)
        car_park = Rect(-32.0, 0.0, -12.0, 30.0)
        restricted_hours = (ScheduleRule(_ALL_DAYS, "00:00", "24:00", restricted=True),)
        self.outdoor_zone(
            ZoneSpec(
                "car-park",
                "Staff car park",
                "restricted",
                car_park,
                0,
                None,
                "site",
                schedule=restricted_hours,
            ),
            node_at=(car_park.x1 + OBSTACLE_CLEARANCE_M + 0.5, car_park.centre[1]),
        )
        self.ble("car-park-ble", "car-park", *car_park.centre, 0)
        self.obstacles += [a.expand(OBSTACLE_CLEARANCE_M), b.expand(OBSTACLE_CLEARANCE_M)]
        self.obstacles.append(car_park.expand(OBSTACLE_CLEARANCE_M))
        for rect in (a, b, car_park):
            outer = rect.expand(CORNER_OFFSET_M)
            for x, y in (
                (outer.x0, outer.y0),
                (outer.x1, outer.y0),
                (outer.x1, outer.y1),
                (outer.x0, outer.y1),
            ):
                if site.inset(1.0).contains(np.array(x), np.array(y)):
                    self.outdoor_nodes.append(self.node(x, y, 0))
        gx = self.width / 2
        for gid, name, rect, street_y in (
            (
                "gate-main",
                "Main gate",
                Rect(gx - 4, site.y0, gx + 4, site.y0 + 4),
                site.y0 - STREET_DISTANCE_M,
            ),
            (
                "gate-north",
                "North gate",
                Rect(gx - 4, site.y1 - 4, gx + 4, site.y1),
                site.y1 + STREET_DISTANCE_M,
            ),
        ):
            gate = self.outdoor_zone(ZoneSpec(gid, name, "gate", rect, 0, None, "site"))
            self.ble(f"{gid}-ble", gid, *rect.centre, 0)
            tap = f"{gid}-tap"
            self.readers.append(ReaderSpec(tap, ReaderKind.RFID, gid, *rect.centre, 0))
            self.gate_taps[gate] = tap
            street = self.node(gx, street_y, 0)
            self.edge(gate, street)
            self.street_node[gid] = street
        for i, y0 in enumerate((2.0, b.y0 + 2.0), start=1):
            rect = Rect(self.east + 8.0, y0, self.east + 28.0, y0 + 15.0)
            aid = f"assembly-{i}"
            self.outdoor_zone(ZoneSpec(aid, f"Assembly point {i}", "assembly_point", rect, 0, None, "site"))
            self.ble(f"{aid}-ble", aid, *rect.centre, 0)
        self.zones.append(
            ZoneSpec("off-site", "Off site", "off_site", site.expand(OFF_SITE_RING_M), None, hole=site)
        )
        return site

    def connect_outdoors(self) -> None:
        nodes = sorted(set(self.outdoor_nodes))
        for i, a in enumerate(nodes):
            na = self.nodes[a]
            for b in nodes[i + 1 :]:
                nb = self.nodes[b]
                if not any(segment_hits_rect(na.x, na.y, nb.x, nb.y, r) for r in self.obstacles):
                    self.edge(a, b)


def _depths(zones: list[ZoneSpec]) -> dict[str, int]:
    parent = {z.zone_id: z.parent for z in zones}
    out: dict[str, int] = {}
    for zone_id, first in parent.items():
        depth, p = 0, first
        while p is not None:
            depth, p = depth + 1, parent.get(p)
        out[zone_id] = depth
    return out


def build_campus(
    *, students: int, seed: int, interior_wall_db: float = 6.0, exterior_wall_db: float = 10.0
) -> Campus:
    """The campus for ``students`` (its size) and ``seed`` (reader placement): same inputs, same campus."""
    if students < 1:
        raise ValueError("a campus needs at least one student")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(1, 0))))
    b = _Builder(students=students, rng=rng)
    b.building("A", y0=0.0)
    b.building("B", y0=BUILDING_D_M + PLAYGROUND_GAP_M)
    b.grounds()
    b.connect_outdoors()
    zones = tuple(b.zones)
    depth = _depths(list(zones))
    grid = ZoneGrid([ZoneShape(z.rect, z.floor, depth[z.zone_id], z.hole) for z in zones])
    walls = build_walls(
        rooms=b.rooms_for_walls,
        outlines=b.outlines,
        interior_loss_db=interior_wall_db,
        exterior_loss_db=exterior_wall_db,
    )
    return Campus(
        zones=zones,
        readers=tuple(b.readers),
        walls=walls,
        nodes=tuple(b.nodes),
        edges=tuple(b.edges),
        classrooms=tuple(sorted(b.classrooms)),
        hall="b-hall",
        playground="playground",
        toilets=tuple(b.toilets),
        gates=("gate-main", "gate-north"),
        assembly_points=("assembly-1", "assembly-2"),
        restricted=("b-plant", "car-park"),
        off_site="off-site",
        zone_node=b.zone_node,
        street_node=b.street_node,
        door_taps=b.door_taps,
        gate_taps=b.gate_taps,
        grid=grid,
        zone_index={z.zone_id: i for i, z in enumerate(zones)},
    )


def route_graph(campus: Campus) -> RouteGraph:
    return RouteGraph(campus.nodes, campus.edges)
