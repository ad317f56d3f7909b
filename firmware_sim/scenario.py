"""Faults and drills of one simulated run. Pure.

Times of gateway faults are simulation milliseconds (0 = the run's start);
the fire drill is a school time of day. ``validate`` names the first problem.

- :class:`Outage`: the reader is off (power cut) from ``from_ms`` to ``to_ms``:
  it hears nothing, publishes nothing and says "offline" as it goes; it comes
  back as a new boot and sends what its journal still holds.
- :class:`ClockSkew`: the reader's clock runs ``skew_ms`` ahead (negative:
  behind) for the whole run: its event stamps and its send times are shifted.
- :class:`Restart`: the reader's process restarts at ``at_ms`` (close, then a
  new boot at once).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

from firmware_sim.errors import ScenarioError
from firmware_sim.movement import FireDrill

__all__ = ["ClockSkew", "FaultEvent", "FaultKind", "Outage", "Restart", "Scenario"]


@dataclass(frozen=True, slots=True)
class Outage:
    reader_id: str
    from_ms: int
    to_ms: int


@dataclass(frozen=True, slots=True)
class ClockSkew:
    reader_id: str
    skew_ms: int


@dataclass(frozen=True, slots=True)
class Restart:
    reader_id: str
    at_ms: int


class FaultKind(StrEnum):
    DOWN = "down"
    UP = "up"
    RESTART = "restart"


@dataclass(frozen=True, slots=True)
class FaultEvent:
    at_ms: int
    kind: FaultKind
    reader_id: str


@dataclass(frozen=True, slots=True)
class Scenario:
    outages: tuple[Outage, ...] = ()
    skews: tuple[ClockSkew, ...] = ()
    restarts: tuple[Restart, ...] = ()
    fire_drill: FireDrill | None = None

    def validate(self, *, reader_ids: Collection[str], duration_ms: int | None) -> None:
        """Raise :class:`ScenarioError` naming the first fault that cannot happen."""
        named = [f.reader_id for f in self.outages] + [f.reader_id for f in self.skews]
        for reader_id in named + [f.reader_id for f in self.restarts]:
            if reader_id not in reader_ids:
                raise ScenarioError(f"there is no reader {reader_id!r} on this campus")
        for outage in self.outages:
            if not 0 <= outage.from_ms < outage.to_ms:
                raise ScenarioError(f"the outage of {outage.reader_id} must end after it starts")
            if duration_ms is not None and outage.from_ms >= duration_ms:
                raise ScenarioError(f"the outage of {outage.reader_id} starts after the run ends")
        for skew in self.skews:
            if abs(skew.skew_ms) >= 300_000:
                raise ScenarioError(
                    f"a clock skew of {skew.skew_ms / 1000:.0f} s for {skew.reader_id} is beyond ingest's "
                    "300 s limit: every batch would be rejected"
                )
        seen: set[str] = set()
        for skew in self.skews:
            if skew.reader_id in seen:
                raise ScenarioError(f"two clock skews for {skew.reader_id}")
            seen.add(skew.reader_id)

    def skew_ms(self, reader_id: str) -> int:
        return next((s.skew_ms for s in self.skews if s.reader_id == reader_id), 0)

    def events(self) -> list[FaultEvent]:
        """Outage starts and ends and restarts, in time order (ties: down, up, restart)."""
        out = [FaultEvent(o.from_ms, FaultKind.DOWN, o.reader_id) for o in self.outages]
        out += [FaultEvent(o.to_ms, FaultKind.UP, o.reader_id) for o in self.outages]
        out += [FaultEvent(r.at_ms, FaultKind.RESTART, r.reader_id) for r in self.restarts]
        order = {FaultKind.DOWN: 0, FaultKind.UP: 1, FaultKind.RESTART: 2}
        return sorted(out, key=lambda e: (e.at_ms, order[e.kind], e.reader_id))
