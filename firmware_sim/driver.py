"""The stepping loop: windows of the world into the fleet, faults on time, paced to a speed.

Time: the simulation has its own axis (``sim_ms``, 0 = start of the run).
Event stamps are ``anchor_ms + sim_ms``. A window is handed to the readers
only once the wall clock has passed its end at the chosen speed, so a live
run (speed 1, anchor = now) never stamps the future. When the machine
cannot keep up, the run simply takes longer (the summary shows the speed
reached); the stamps stay the same.
"""

from __future__ import annotations

import math
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from campus.logs import get_logger
from firmware_sim.fleet import ReaderFleet
from firmware_sim.scenario import FaultEvent, FaultKind
from firmware_sim.world import Stepper

__all__ = ["MAX_BATCH_WINDOWS", "POLL_WALL_S", "DriveResult", "SimClock", "drive", "poll_every"]

log = get_logger(__name__)

# Each reader journals (and publishes) a batch about this often in wall time
# (at speed 1: every window). It bounds the journals' fsyncs and MQTT messages
# per second, not what they carry.
POLL_WALL_S: Final = 0.25
# ... but a batch never spans more than three windows (4.5 s) of event time:
# ingest takes evidence more than its 4.5 s tracking window behind the site's
# watermark as late (history only), and a reader that rejoins the watermark
# with a longer batch would land partly on that path.
MAX_BATCH_WINDOWS: Final = 3


class SimClock:
    """Simulated epoch time for components that read a clock (ingest, uplinks): seconds, like time.time.

    Kept in shared memory (``value``), so reader shards in child processes
    read the same clock the driver sets.
    """

    def __init__(self, start_ms: int) -> None:
        self.value = multiprocessing.get_context("spawn").RawValue("q", start_ms)

    def set(self, ms: int) -> None:
        self.value.value = ms

    @property
    def ms(self) -> int:
        return int(self.value.value)

    def __call__(self) -> float:
        return float(self.value.value) / 1000


def poll_every(*, speed: float, window_ms: int) -> int:
    """Windows per poll: one poll per ``POLL_WALL_S`` of wall time, within 1..``MAX_BATCH_WINDOWS``."""
    return max(1, min(MAX_BATCH_WINDOWS, math.ceil(speed * POLL_WALL_S * 1000 / window_ms)))


@dataclass(frozen=True, slots=True)
class DriveResult:
    steps: int
    sim_ms: int
    wall_s: float

    @property
    def speed(self) -> float:
        return self.sim_ms / 1000 / self.wall_s if self.wall_s > 0 else 0.0


def _apply(fleet: ReaderFleet, event: FaultEvent) -> None:
    log.info("sim.fault", kind=str(event.kind), reader=event.reader_id, at_ms=event.at_ms)
    if event.kind is FaultKind.DOWN:
        fleet.shut(event.reader_id)
    elif event.kind is FaultKind.UP:
        fleet.open(event.reader_id)
    else:
        fleet.shut(event.reader_id)
        fleet.open(event.reader_id)


def drive(
    stepper: Stepper,
    fleet: ReaderFleet,
    *,
    anchor_ms: int,
    steps: int | None,
    speed: float,
    stop: threading.Event,
    faults: Sequence[FaultEvent] = (),
    sim_clock: SimClock | None = None,
    on_step: Callable[[int], None] | None = None,
) -> DriveResult:
    """Run ``steps`` windows (None: until ``stop``); returns how far it got and how long it took."""
    window = stepper.window_ms
    every = poll_every(speed=speed, window_ms=window)
    pending = deque(faults)
    started = time.monotonic()
    k = 0
    while not stop.is_set() and (steps is None or k < steps):
        end_ms = (k + 1) * window
        delay = started + end_ms / 1000 / speed - time.monotonic()
        if delay > 0 and stop.wait(delay):
            break
        while pending and pending[0].at_ms <= k * window:
            _apply(fleet, pending.popleft())
        if sim_clock is not None:
            sim_clock.set(anchor_ms + end_ms)
        fleet.push(stepper.step(), anchor_ms=anchor_ms)
        k += 1
        if k % every == 0:
            fleet.poll(anchor_ms + end_ms)
        if on_step is not None:
            on_step(k)
    fleet.poll(anchor_ms + k * window)
    return DriveResult(steps=k, sim_ms=k * window, wall_s=time.monotonic() - started)
