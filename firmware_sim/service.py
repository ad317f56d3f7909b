"""``campus sim run``: provision a simulated site, drive it through the real platform, account for it.

1. Build the world (campus, population, day plan) from size and seed.
2. Provision the site in one transaction (see :mod:`firmware_sim.provision`).
3. Find ingest: a live worker serving the site is used as is; otherwise an
   in-process :class:`ingest.service.IngestService` serves it for the run
   (refused if another worker holds the site's lease).
4. Reset the site's live tracking state (its stamps overlap the last run's).
5. Drive the readers (gateway or fast mode), then wait until ingest has
   committed every journalled batch, then stop.
6. Write the ground truth and return a :class:`RunSummary` (one line).

Clocks. The run is past-anchored: event stamps end at about the wall time
when the run ends, ``anchor = wall_start + M*60/S - M*60``. The in-process
ingest and the readers' uplinks run on the *simulation's* clock, so ingest's
own time windows (a reader silent for 30 s is inactive, a student unseen for
30 s is unknown) mean simulated seconds at any speed. With a live external
worker, uplinks send wall time as that worker requires, and at a speed above
1 its wall-time windows are compressed (a warning says so).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import numpy as np
import psycopg

from campus import db, topics
from campus.logs import get_logger
from campus.mqtt import MqttLink, broker_address
from campus.settings import Settings
from firmware_sim import repository
from firmware_sim.driver import SimClock, drive
from firmware_sim.errors import IngestBusyError
from firmware_sim.fleet import DriveMode, Identities
from firmware_sim.identities import gateway_id
from firmware_sim.population import parse_hhmm
from firmware_sim.provision import ConsentShares, Roster, provision
from firmware_sim.scenario import Scenario
from firmware_sim.shards import MAX_READERS_PER_PROCESS, build_fleet
from firmware_sim.truth import build_truth, read_truth, sample, write_truth
from firmware_sim.world import WINDOW_MS, Stepper, World, build_world
from privacy.pseudonyms import site_badge_hash_key

__all__ = [
    "GATEWAY_MODE_MAX_ADVERTS_PER_S",
    "RunConfig",
    "RunSummary",
    "choose_mode",
    "run_simulation",
    "sim_dir",
]

log = get_logger(__name__)

# Gateway mode pushes every advert through the real gateway code: about 43,000
# adverts/s on one core of this class of machine (measured). Ingest, the
# broker and PostgreSQL share the same two cores, so past about a quarter of a
# core's worth the vectorised fast mode takes over.
GATEWAY_MODE_MAX_ADVERTS_PER_S: Final = 10_000
DRAIN_TIMEOUT_S: Final = 60.0
INGEST_START_S: Final = 30.0


def sim_dir(settings: Settings, site_id: str) -> Path:
    return settings.data_dir / "sim" / site_id


@dataclass(frozen=True, slots=True)
class RunConfig:
    site_id: str = "sim"
    students: int = 200
    minutes: float = 10.0
    speed: float = 60.0
    seed: int = 1
    start: str = "08:20"
    mode: DriveMode = DriveMode.AUTO
    scenario: Scenario = field(default_factory=Scenario)
    consent: ConsentShares = field(default_factory=ConsentShares)
    drain_timeout_s: float = DRAIN_TIMEOUT_S
    shard_size: int = MAX_READERS_PER_PROCESS  # readers per process (see firmware_sim.shards)

    def __post_init__(self) -> None:
        if self.students < 1:
            raise ValueError("--students must be at least 1")
        if not self.minutes > 0:
            raise ValueError("--minutes must be positive")
        if not self.speed > 0:
            raise ValueError("--speed must be positive")
        parse_hhmm(self.start)


@dataclass(frozen=True, slots=True)
class RunSummary:
    students: int
    sim_minutes: float
    wall_s: float
    mode: DriveMode
    readers: int
    sightings: int
    taps: int
    batches: int
    committed: int
    lost: int
    duplicates: int
    consent_drops: int | None
    agreement: float | None  # share of presence rows (with a zone) that match the ground truth
    truth_file: Path
    ingest: str

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicates == 0

    def line(self) -> str:
        speed = self.sim_minutes * 60 / self.wall_s if self.wall_s else 0.0
        drops = "n/a" if self.consent_drops is None else f"{self.consent_drops:,}"
        agree = "n/a" if self.agreement is None else f"{self.agreement:.0%}"
        return (
            f"sim: {self.students:,} students, {self.sim_minutes:.1f} sim-min in {self.wall_s:.1f} s (x{speed:.1f}), "
            f"{self.mode} mode, {self.readers} readers, {self.sightings:,} sightings and {self.taps:,} taps published, "
            f"{self.batches:,} batches, {self.committed:,} committed, {self.lost:,} lost, "
            f"{self.duplicates:,} duplicates, consent drops {drops}, presence agrees with truth {agree}, "
            f"truth {self.truth_file}"
        )


def choose_mode(
    requested: DriveMode, *, stepper: Stepper, students: int, speed: float, start_day_ms: int
) -> DriveMode:
    """``auto``: gateway mode while the adverts per wall second stay under the threshold, else fast."""
    if requested is not DriveMode.AUTO:
        return requested
    model = stepper.world.radio_model
    in_range = max(stepper.readers_in_range(at_day_ms=start_day_ms + 20 * 60_000), 1.0)
    per_second = students * in_range * (1000 / model.advert_interval_ms) * (1 - model.advert_loss) * speed
    return DriveMode.GATEWAY if per_second <= GATEWAY_MODE_MAX_ADVERTS_PER_S else DriveMode.FAST


def clear_retained_status(settings: Settings, gateway_ids: list[str], *, site_id: str) -> None:
    """Remove the readers' retained status messages: an old "offline" must not outrank the new run's."""
    link = MqttLink(broker_address(settings), client_id=f"campus-sim-{site_id}-{os.getpid()}")
    with link:
        if not link.wait_connected(10):
            raise ConnectionError(f"cannot reach the broker at {link.address}")
        infos = [link.publish(topics.status(site_id, gid), b"", retain=True) for gid in gateway_ids]
        for info in infos:
            info.wait_for_publish(timeout=5)


class _InProcessIngest:
    """An ingest worker for one site in a thread, on the simulation's clock."""

    def __init__(self, settings: Settings, *, site_id: str, clock: SimClock) -> None:
        from ingest.service import IngestService

        self.service = IngestService(settings, sites=[site_id], instance=f"sim-{site_id}", clock=clock)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"sim-ingest-{site_id}", daemon=True)

    def _run(self) -> None:
        try:
            self.service.run(self._stop)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller's thread
            self._error = exc

    def start(self) -> None:
        from ingest.service import SiteBusyError

        self._thread.start()
        deadline = time.monotonic() + INGEST_START_S
        while not self.service.ready.wait(0.1):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                if isinstance(self._error, SiteBusyError):
                    raise IngestBusyError(str(self._error)) from self._error
                raise RuntimeError(f"the simulation's ingest worker did not start: {self._error}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _agreement(
    conn: psycopg.Connection, truth_path: Path, *, site_id: str, start: datetime, end: datetime
) -> float | None:
    rows = repository.presence_samples(conn, site_id=site_id, since=start, until=end)
    rows = [r for r in rows if r[2] is not None]
    if not rows:
        return None
    truth = read_truth(truth_path)
    keys = np.array([r[0] for r in rows], dtype=np.int64)
    times = np.array([int(r[1].timestamp() * 1000) for r in rows], dtype=np.int64)
    zones = sample(truth, keys, times)
    names = np.array([*truth.zone_ids, ""])[zones]
    return float(np.mean(names == np.array([r[2] for r in rows])))


@dataclass(frozen=True, slots=True)
class _Prepared:
    world: World
    stepper: Stepper
    mode: DriveMode
    roster: Roster
    duration_ms: int
    school_start_s: int
    anchor_ms: int
    live_ingest: str | None
    gateway_ids: list[str]


def _prepare(settings: Settings, config: RunConfig) -> _Prepared:
    """Build the world, provision the site, find ingest, anchor the run and reset the site's tracking."""
    site_id = config.site_id
    school_start_s = parse_hhmm(config.start)
    duration_ms = round(config.minutes * 60_000 / WINDOW_MS) * WINDOW_MS
    world = build_world(students=config.students, seed=config.seed, drill=config.scenario.fire_drill)
    config.scenario.validate(reader_ids={r.reader_id for r in world.campus.readers}, duration_ms=duration_ms)
    stepper = Stepper(world, start_day_ms=school_start_s * 1000)
    mode = choose_mode(
        config.mode,
        stepper=stepper,
        students=config.students,
        speed=config.speed,
        start_day_ms=school_start_s * 1000,
    )
    with db.connect(settings.dsn) as conn:
        with conn.transaction():
            roster = provision(
                conn,
                site_id=site_id,
                world=world,
                pseudonym_key=settings.pseudonym_key_bytes,
                master_keys=_master_keys(settings),
                consent=config.consent,
            )
        live = repository.live_ingest_instance(conn, site_id)
        if live is None and not repository.lease_is_free(conn, site_id):
            raise IngestBusyError(
                f"another ingest worker holds site {site_id!r} but has not written a heartbeat"
            )
        # Past-anchored: the last stamp falls about when the run ends, never in the future.
        raw_anchor = int(time.time() * 1000) + int(duration_ms / config.speed) - duration_ms
        anchor_ms = raw_anchor // WINDOW_MS * WINDOW_MS
        with conn.transaction():
            repository.reset_tracking(conn, site_id=site_id, since=_ts(anchor_ms))
    return _Prepared(
        world=world,
        stepper=stepper,
        mode=mode,
        roster=roster,
        duration_ms=duration_ms,
        school_start_s=school_start_s,
        anchor_ms=anchor_ms,
        live_ingest=live,
        gateway_ids=[gateway_id(site_id, r.reader_id) for r in world.campus.readers],
    )


def _master_keys(settings: Settings) -> tuple[bytes, ...]:
    return (settings.master_key_bytes, *settings.previous_master_key_bytes)


def _ts(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def run_simulation(
    settings: Settings, config: RunConfig, *, stop: threading.Event | None = None
) -> RunSummary:
    """Provision, drive, drain and account for one simulated run (see the module docstring)."""
    stop = stop or threading.Event()
    site_id = config.site_id
    run = _prepare(settings, config)
    sim_clock = SimClock(run.anchor_ms)
    ingest: _InProcessIngest | None = None
    if run.live_ingest is None:
        clear_retained_status(settings, run.gateway_ids, site_id=site_id)
        ingest = _InProcessIngest(settings, site_id=site_id, clock=sim_clock)
        ingest.start()
    elif config.speed > 1:
        log.warning(
            "sim.external_ingest_speed",
            site=site_id,
            ingest=run.live_ingest,
            speed=config.speed,
            hint="this worker's 30 s liveness windows are wall time: at this speed they cover 30 s x speed "
            "of simulated time, and it keeps tracking state from earlier runs until restarted",
        )
    roster = run.roster
    fleet = build_fleet(
        site_id=site_id,
        seed=config.seed,
        readers=run.world.campus.readers,
        ble_readers=run.stepper.radio.reader_ids,
        journal_dir=sim_dir(settings, site_id) / "journals",
        address=broker_address(settings),
        mode=run.mode,
        clock=sim_clock if ingest is not None else None,
        badge_hash_key=site_badge_hash_key(settings.master_key_bytes, site_id),
        identities=Identities(
            badge_keys=roster.badge_keys,
            cards=roster.cards,
            card_ids=roster.card_ids,
            rotation_s=roster.rotation_s,
        ),
        skews={s.reader_id: s.skew_ms for s in config.scenario.skews},
        log_level=logging.getLevelName(logging.getLogger().getEffectiveLevel()),
        shard_size=config.shard_size,
    )
    log.info(
        "sim.starting", site=site_id, students=config.students, mode=str(run.mode), anchor_ms=run.anchor_ms
    )
    try:
        fleet.start()
        result = drive(
            run.stepper,
            fleet,
            anchor_ms=run.anchor_ms,
            steps=run.duration_ms // WINDOW_MS,
            speed=config.speed,
            stop=stop,
            faults=config.scenario.events(),
            sim_clock=sim_clock if ingest is not None else None,
        )
        if not fleet.drain(timeout_s=config.drain_timeout_s):
            log.warning("sim.not_drained", site=site_id, journal_depth=fleet.depth())
        sightings, taps = fleet.published()
        issued = fleet.issued()
    finally:
        fleet.close()
        if ingest is not None:
            ingest.stop()
    truth_path = sim_dir(settings, site_id) / "truth.npz"
    write_truth(
        build_truth(
            run.world.plan.trajectories,
            zone_ids=run.world.campus.zone_ids,
            student_keys=roster.student_keys,
            site_id=site_id,
            seed=config.seed,
            day_start_ms=run.school_start_s * 1000,
            duration_ms=result.sim_ms,
            epoch_start_ms=run.anchor_ms,
            school_start_s=run.school_start_s,
        ),
        truth_path,
    )
    start, end = _ts(run.anchor_ms), _ts(run.anchor_ms + result.sim_ms)
    with db.connect(settings.dsn) as conn:
        committed = repository.committed_batches(conn, run.gateway_ids)
        duplicates = repository.duplicate_rows(conn, site_id=site_id, since=start, until=end)
        agreement = _agreement(conn, truth_path, site_id=site_id, start=start, end=end)
    batches = sum(issued.values())
    done = sum(min(committed.get(key, 0), n) for key, n in issued.items())
    return RunSummary(
        students=config.students,
        sim_minutes=result.sim_ms / 60_000,
        wall_s=result.wall_s,
        mode=run.mode,
        readers=len(run.world.campus.readers),
        sightings=sightings,
        taps=taps,
        batches=batches,
        committed=done,
        lost=batches - done,
        duplicates=duplicates,
        consent_drops=ingest.service.stats.consent_drops if ingest is not None else None,
        agreement=agreement,
        truth_file=truth_path,
        ingest=f"in-process ({ingest.service.instance})"
        if ingest is not None
        else f"live worker {run.live_ingest}",
    )
