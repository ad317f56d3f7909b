"""One site's tracking state inside an ingest worker: indexes, tracker, watermark, and the rows they produce.

No I/O: the service feeds it verified, consented evidence and takes back the
rows to commit and the events to publish after the commit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final

import numpy as np

from campus.events import PresenceEvent, PresenceEventKind
from ingest.hysteresis import UNKNOWN
from ingest.repository import CurrentState, GatewayPlacement, PresenceRow, TransitionRow, ZoneInfo
from ingest.tracker import DEFAULT_CLAIM_RADIUS_M, TICK_MS, WINDOW_MS, Readers, SiteTracker, TickResult
from ingest.watermark import Watermark

__all__ = ["SiteOutput", "SiteState", "claim_radius"]

# A reader claims its zone out to the zone's farthest corner from it, with
# 25 % slack for calibration error, within these bounds.
CLAIM_SLACK: Final = 1.25
MIN_CLAIM_RADIUS_M: Final = 2.0
MAX_CLAIM_RADIUS_M: Final = 15.0


def claim_radius(placement: GatewayPlacement, zone: ZoneInfo | None) -> float:
    if zone is None or zone.polygon is None or placement.x is None or placement.y is None:
        return DEFAULT_CLAIM_RADIUS_M
    farthest = max(math.hypot(x - placement.x, y - placement.y) for x, y in zone.polygon)
    return min(MAX_CLAIM_RADIUS_M, max(MIN_CLAIM_RADIUS_M, farthest * CLAIM_SLACK))


def _ts(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass
class SiteOutput:
    presence: list[PresenceRow]
    transitions: list[TransitionRow]
    current: list[CurrentState]
    events: list[PresenceEvent]
    last_tick_ms: int


class SiteState:
    def __init__(self, site_id: str) -> None:
        self.site_id = site_id
        self.watermark = Watermark()
        self._students: dict[int, int] = {}
        # Index -> student key; None for an index retired by forget().
        self._student_keys: list[int | None] = []
        self._readers: dict[str, int] = {}
        self._reader_ids: list[str] = []
        self._reader_zone: list[int] = []
        self._zones: dict[str, int] = {}
        self._zone_ids: list[str] = []
        self._readers_base: Readers | None = None
        self._offline: set[str] = set()
        self.tracker = SiteTracker(self._build_readers({}, {}))

    # -- indexes -------------------------------------------------------------
    def student_index(self, student_key: int) -> int:
        index = self._students.get(student_key)
        if index is None:
            index = self._students[student_key] = len(self._student_keys)
            self._student_keys.append(student_key)
            self.tracker.grow(len(self._student_keys))
        return index

    def register_students(self, student_keys: Iterable[int]) -> None:
        """Index known students up front (sorted, so indexes are stable across restarts of the same roster)."""
        for key in sorted(student_keys):
            if key not in self._students:
                self._students[key] = len(self._student_keys)
                self._student_keys.append(key)
        self.tracker.grow(len(self._student_keys))

    def forget(self, student_key: int) -> None:
        """Drop everything tracked about a student (their location consent was withdrawn).

        The student's index is retired rather than cleared: evidence already
        queued under it can still move that index's state, but rows of a
        retired index are never output, and new evidence for the student (if
        consent is given again) starts from nothing under a fresh index.
        """
        index = self._students.pop(student_key, None)
        if index is None:
            return
        self._student_keys[index] = None
        self.tracker.states.restore(index, zone=UNKNOWN, since_ms=0, last_seen_ms=0)
        self.tracker.states.last_known_zone[index] = UNKNOWN
        self.tracker.last_sample_ms[index] = 0

    def reader_index(self, gateway_id: str) -> int | None:
        return self._readers.get(gateway_id)

    def zone_of_reader(self, reader: int) -> str | None:
        zone = self._reader_zone[reader]
        return self._zone_ids[zone] if zone != UNKNOWN else None

    def _zone_index(self, zone_id: str | None) -> int:
        if zone_id is None:
            return UNKNOWN
        index = self._zones.get(zone_id)
        if index is None:
            index = self._zones[zone_id] = len(self._zone_ids)
            self._zone_ids.append(zone_id)
        return index

    def _build_readers(
        self, placements: Mapping[str, GatewayPlacement], zones: Mapping[str, ZoneInfo]
    ) -> Readers:
        for gateway_id in sorted(placements):
            if gateway_id not in self._readers:
                self._readers[gateway_id] = len(self._reader_ids)
                self._reader_ids.append(gateway_id)
                self._reader_zone.append(UNKNOWN)
        n = len(self._reader_ids)
        zone = np.full(n, UNKNOWN, dtype=np.int64)
        rssi = np.full(n, -59.0)
        ple = np.full(n, 2.2)
        radius = np.full(n, DEFAULT_CLAIM_RADIUS_M)
        door = np.zeros(n, dtype=np.bool_)
        for gateway_id, index in self._readers.items():
            placement = placements.get(gateway_id)
            if placement is None:
                continue  # removed since: keeps its index, claims nothing
            zone[index] = self._zone_index(placement.zone_id)
            self._reader_zone[index] = int(zone[index])
            rssi[index] = placement.rssi_at_1m
            ple[index] = placement.path_loss_exponent
            radius[index] = claim_radius(placement, zones.get(placement.zone_id or ""))
            door[index] = placement.kind == "rfid"
        self._readers_base = Readers(zone, rssi, ple, radius, door, np.ones(n, dtype=np.bool_))
        return self._readers_base

    def configure(self, placements: Mapping[str, GatewayPlacement], zones: Mapping[str, ZoneInfo]) -> None:
        """(Re)build the reader table after the directory changed."""
        self.tracker.set_readers(self._build_readers(placements, zones))

    def set_offline(self, gateways: Iterable[str]) -> None:
        self._offline = set(gateways)

    def mark_gateway(self, gateway_id: str, *, online: bool) -> None:
        """Record a gateway's own status message (its last will says offline)."""
        if online:
            self._offline.discard(gateway_id)
        else:
            self._offline.add(gateway_id)

    def resume_after(self, last_tick_ms: int) -> None:
        """Continue evaluation strictly after the last committed tick."""
        self.tracker.next_tick_ms = last_tick_ms + TICK_MS

    def restore(self, state: CurrentState) -> None:
        index = self.student_index(state.student_key)
        since_ms = int(state.since.timestamp() * 1000)
        seen_ms = int(state.last_seen.timestamp() * 1000) if state.last_seen else since_ms
        self.tracker.states.restore(
            index, zone=self._zone_index(state.zone_id), since_ms=since_ms, last_seen_ms=seen_ms
        )
        if state.last_zone_id is not None:
            self.tracker.states.last_known_zone[index] = self._zone_index(state.last_zone_id)

    # -- evidence and evaluation --------------------------------------------
    def late_cutoff_ms(self) -> int | None:
        """Evidence at or before this event time is too late for live tracking."""
        nxt = self.tracker.next_tick_ms
        return None if nxt is None else nxt - WINDOW_MS

    def advance(self, now_s: float) -> SiteOutput | None:
        watermark = self.watermark.value(now_s)
        if watermark is None or self._readers_base is None:
            return None
        online = np.array(
            [g not in self._offline and self.watermark.active(g, now_s) for g in self._reader_ids],
            dtype=np.bool_,
        )
        self.tracker.set_readers(replace(self._readers_base, online=online))
        results = self.tracker.advance(watermark)
        if not results:
            return None
        return self._output(results)

    def _zone_name(self, index: int) -> str | None:
        return None if index == UNKNOWN else self._zone_ids[index]

    def _output(self, results: list[TickResult]) -> SiteOutput:
        out = SiteOutput([], [], [], [], results[-1].at_ms)
        states = self.tracker.states
        keys = self._student_keys
        latest: dict[int, CurrentState] = {}
        for result in results:
            at = _ts(result.at_ms)
            changes = result.changes
            for student, before, after, conf in zip(
                changes.students.tolist(),
                changes.from_zone.tolist(),
                changes.to_zone.tolist(),
                changes.confidence.tolist(),
                strict=True,
            ):
                key = keys[student]
                if key is None:
                    continue
                from_zone, to_zone = self._zone_name(before), self._zone_name(after)
                out.transitions.append(TransitionRow(at, self.site_id, key, from_zone, to_zone, conf))
                out.events.append(
                    PresenceEvent(PresenceEventKind.ZONE_CHANGED, key, from_zone, to_zone, result.at_ms, conf)
                )
            for student, zone, conf in zip(
                result.sample_students.tolist(),
                result.sample_zone.tolist(),
                result.sample_confidence.tolist(),
                strict=True,
            ):
                key = keys[student]
                if key is None:
                    continue
                zone_id = self._zone_name(zone)
                out.presence.append(PresenceRow(at, self.site_id, key, zone_id, "estimate", conf, None))
                latest[key] = CurrentState(
                    student_key=key,
                    site_id=self.site_id,
                    zone_id=zone_id,
                    since=_ts(int(states.since_ms[student])),
                    last_zone_id=self._zone_name(int(states.last_known_zone[student])),
                    last_seen=_ts(int(states.last_seen_ms[student]))
                    if states.last_seen_ms[student]
                    else None,
                    confidence=conf,
                )
        out.current = list(latest.values())
        return out
