"""The simulated campus that ``campus up`` runs: live, in real time, until stopped.

Stamps are wall time (speed 1: the only speed that can be live). The school
clock starts at the real local time of day when that falls within the
school day (08:20-15:10); otherwise at ``DEMO_START`` (08:32): half the
school is already on the playground, the rest are arriving, and
registration and the first lesson follow within minutes, so a demo started
in the evening shows movement at once rather than an empty campus. When the
simulated day ends, the next one starts at 08:20 (another day of the same
roster: different absences, late arrivals and timetable).

It uses the platform's own ingest (the site is ``settings.site_id``),
provisions the site like ``campus sim run`` (idempotent per seed; a real
school's site is refused), and drives real gateways (gateway mode unless
the size calls for the fast mode). The ground truth of the current day is
written to ``<data_dir>/sim/<site>/truth.npz`` at each day's end and on stop.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Final

from campus import db
from campus.logs import get_logger
from campus.mqtt import broker_address
from campus.settings import Settings
from firmware_sim.driver import drive
from firmware_sim.fleet import DriveMode, Identities
from firmware_sim.population import END_OF_DAY_S, GATES_OPEN_S, parse_hhmm
from firmware_sim.provision import ConsentShares, Roster, provision
from firmware_sim.service import choose_mode, sim_dir
from firmware_sim.shards import build_fleet
from firmware_sim.truth import build_truth, write_truth
from firmware_sim.world import WINDOW_MS, Stepper, World, build_world
from privacy.pseudonyms import site_badge_hash_key

__all__ = ["Demo", "school_start_for", "start_demo"]

log = get_logger(__name__)

# The simulated day runs until everyone has left (the last leave by 15:18).
DAY_END_S: Final = END_OF_DAY_S + 20 * 60
# Outside school hours: arrivals under way, registration eight minutes off.
DEMO_START: Final = "08:32"
DRAIN_ON_STOP_S: Final = 5.0
# The platform's ingest is already running when the demo provisions; it reloads
# gateways and badges within about a second of a change (LISTEN
# campus_directory). Readers that published sooner would be refused as
# unknown and resent only after the uplink's 10 s timeout.
DIRECTORY_SETTLE_S: Final = 2.0


def school_start_for(local: datetime) -> int:
    """School time (seconds since midnight) to start the demo at, for a wall-clock local time."""
    now_s = local.hour * 3600 + local.minute * 60 + local.second
    return now_s if GATES_OPEN_S <= now_s < END_OF_DAY_S else parse_hhmm(DEMO_START)


class Demo:
    """A running demo; :meth:`join` waits for it to stop (after ``stop`` is set) and drain."""

    def __init__(
        self,
        settings: Settings,
        *,
        world: World,
        roster: Roster,
        stop: threading.Event,
        school_start_s: int | None,
    ) -> None:
        self._settings = settings
        self._school_start_s = school_start_s
        self._world = world
        self._roster = roster
        self._stop = stop
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sim-demo", daemon=True)

    def start(self) -> Demo:
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._days()
        except Exception as exc:
            self.error = exc
            log.exception("sim.demo_failed", error=str(exc))

    def _days(self) -> None:
        settings, roster, world = self._settings, self._roster, self._world
        site_id = settings.site_id
        start_s = self._school_start_s
        if start_s is None:
            start_s = school_start_for(datetime.now().astimezone())
        stepper = Stepper(world, start_day_ms=start_s * 1000)
        mode = choose_mode(
            DriveMode.AUTO, stepper=stepper, students=world.students, speed=1.0, start_day_ms=start_s * 1000
        )
        fleet = build_fleet(
            site_id=site_id,
            seed=world.seed,
            readers=world.campus.readers,
            ble_readers=stepper.radio.reader_ids,
            journal_dir=sim_dir(settings, site_id) / "journals",
            address=broker_address(settings),
            mode=mode,
            clock=None,
            badge_hash_key=site_badge_hash_key(settings.master_key_bytes, site_id),
            identities=Identities(
                badge_keys=roster.badge_keys,
                cards=roster.cards,
                card_ids=roster.card_ids,
                rotation_s=roster.rotation_s,
            ),
        )
        if self._stop.wait(DIRECTORY_SETTLE_S):
            return
        fleet.start()
        log.info(
            "sim.demo_started", site=site_id, students=world.students, mode=str(mode), school_time_s=start_s
        )
        try:
            while not self._stop.is_set():
                anchor_ms = int(time.time() * 1000) // WINDOW_MS * WINDOW_MS
                steps = max(1, (DAY_END_S - start_s) * 1000 // WINDOW_MS)
                result = drive(stepper, fleet, anchor_ms=anchor_ms, steps=steps, speed=1.0, stop=self._stop)
                self._write_truth(world, start_s=start_s, anchor_ms=anchor_ms, sim_ms=result.sim_ms)
                world = build_world(
                    students=world.students, seed=world.seed, day=world.day + 1, campus=world.campus
                )
                start_s = GATES_OPEN_S
                stepper = Stepper(world, start_day_ms=start_s * 1000)
            fleet.drain(timeout_s=DRAIN_ON_STOP_S)
        finally:
            fleet.close()

    def _write_truth(self, world: World, *, start_s: int, anchor_ms: int, sim_ms: int) -> None:
        truth = build_truth(
            world.plan.trajectories,
            zone_ids=world.campus.zone_ids,
            student_keys=self._roster.student_keys,
            site_id=self._settings.site_id,
            seed=world.seed,
            day_start_ms=start_s * 1000,
            duration_ms=sim_ms,
            epoch_start_ms=anchor_ms,
            school_start_s=start_s,
        )
        write_truth(truth, sim_dir(self._settings, self._settings.site_id) / "truth.npz")


def start_demo(
    settings: Settings,
    *,
    students: int = 300,
    speed: float = 1.0,
    seed: int = 1,
    stop: threading.Event,
    school_time: str | None = None,
) -> Demo:
    """Provision ``settings.site_id`` as a simulated campus and start driving it live; returns the running demo.

    Raises ``ValueError`` for a speed other than 1 (a live demo cannot run
    ahead of the clock: use ``campus sim run --speed`` for that) and
    :class:`~firmware_sim.errors.NotSimulatedSiteError` if the site is a real school's.
    ``school_time`` (HH:MM) overrides the school clock's start (tests).
    """
    if speed != 1.0:
        raise ValueError(
            "the live demo runs in real time (speed 1); use 'campus sim run --speed' to go faster"
        )
    world = build_world(students=students, seed=seed)
    with db.connect(settings.dsn) as conn, conn.transaction():
        roster = provision(
            conn,
            site_id=settings.site_id,
            world=world,
            pseudonym_key=settings.pseudonym_key_bytes,
            master_keys=(settings.master_key_bytes, *settings.previous_master_key_bytes),
            consent=ConsentShares(),
        )
    start_s = parse_hhmm(school_time) if school_time is not None else None
    return Demo(settings, world=world, roster=roster, stop=stop, school_start_s=start_s).start()
