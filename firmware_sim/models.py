"""Value types of the simulated campus: zones, readers, places, the campus itself. Frozen and slotted."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from firmware_sim.geometry import Rect, Wall, ZoneGrid

__all__ = [
    "Campus",
    "Node",
    "Place",
    "ReaderKind",
    "ReaderSpec",
    "ScheduleRule",
    "ZoneSpec",
]


class ReaderKind(StrEnum):
    """The gateways table's kinds: a BLE scanner, or an RFID tap reader at a door or gate."""

    BLE = "ble"
    RFID = "rfid"


@dataclass(frozen=True, slots=True)
class ScheduleRule:
    """One rule of a zone's schedule, as in the zones file format."""

    days: tuple[str, ...]
    start: str  # HH:MM
    end: str  # HH:MM
    restricted: bool
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    """A zone of the simulated campus (an axis-aligned rectangle, possibly with a hole)."""

    zone_id: str
    name: str
    kind: str  # a zones.models.ZoneKind value
    rect: Rect
    floor: int | None
    building: str | None = None
    parent: str | None = None
    capacity: int | None = None
    hole: Rect | None = None
    schedule: tuple[ScheduleRule, ...] = ()


@dataclass(frozen=True, slots=True)
class ReaderSpec:
    """Where a reader is installed, and which zone it reports for."""

    reader_id: str  # unique within the campus; the gateway id is "<site>.<reader_id>"
    kind: ReaderKind
    zone_id: str
    x: float
    y: float
    floor: int


@dataclass(frozen=True, slots=True)
class Node:
    """A waypoint of the walking graph."""

    node_id: int
    x: float
    y: float
    floor: int


@dataclass(frozen=True, slots=True)
class Place:
    """Somewhere a student stays: a point, and the graph node it is reached from."""

    x: float
    y: float
    floor: int
    node: int
    zone_id: str


@dataclass(frozen=True, slots=True)
class Campus:
    """Everything fixed about the simulated site: zones, readers, walls, the walking graph."""

    zones: tuple[ZoneSpec, ...]
    readers: tuple[ReaderSpec, ...]
    walls: tuple[Wall, ...]
    nodes: tuple[Node, ...]
    # Undirected edges (a, b, length in metres); a floor change has a fixed equivalent length.
    edges: tuple[tuple[int, int, float], ...]
    classrooms: tuple[str, ...]
    hall: str
    playground: str
    toilets: tuple[str, ...]
    gates: tuple[str, ...]
    assembly_points: tuple[str, ...]
    restricted: tuple[str, ...]
    off_site: str
    # Per zone: the graph node a place in that zone is reached from.
    zone_node: dict[str, int] = field(hash=False, compare=False)
    # Per gate zone: the street node outside it (students appear and vanish there).
    street_node: dict[str, int] = field(hash=False, compare=False)
    # Door nodes of rooms with a tap reader: node -> (room zone, tap reader id).
    door_taps: dict[int, tuple[str, str]] = field(hash=False, compare=False)
    # Gate node -> tap reader id.
    gate_taps: dict[int, str] = field(hash=False, compare=False)
    grid: ZoneGrid = field(hash=False, compare=False, repr=False)
    zone_index: dict[str, int] = field(hash=False, compare=False, repr=False)

    def zone(self, zone_id: str) -> ZoneSpec:
        return self.zones[self.zone_index[zone_id]]

    @property
    def zone_ids(self) -> tuple[str, ...]:
        return tuple(z.zone_id for z in self.zones)

    def reader(self, reader_id: str) -> ReaderSpec:
        for reader in self.readers:
            if reader.reader_id == reader_id:
                return reader
        raise KeyError(reader_id)
