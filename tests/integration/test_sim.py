"""The simulated campus through the real broker and ingest: presence appears and agrees with the ground truth."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import psycopg
import pytest

from campus.settings import Settings
from firmware_sim import repository
from firmware_sim.demo import start_demo
from firmware_sim.errors import NotSimulatedSiteError
from firmware_sim.fleet import DriveMode
from firmware_sim.identities import gateway_id
from firmware_sim.provision import ConsentShares, Roster, provision
from firmware_sim.scenario import ClockSkew, Outage, Restart, Scenario
from firmware_sim.service import RunConfig, run_simulation
from firmware_sim.truth import read_truth, sample
from firmware_sim.world import World, build_world
from tests.builders import add_site, running_ingest, wait_for

pytestmark = [pytest.mark.servers, pytest.mark.slow]


def test_a_short_run_lands_in_presence_and_agrees_with_the_ground_truth(
    settings: Settings, conn: psycopg.Connection
) -> None:
    config = RunConfig(
        site_id=settings.site_id, students=60, minutes=3, speed=30, seed=3, start="08:42", mode=DriveMode.FAST
    )
    summary = run_simulation(settings, config)
    print(summary.line())
    assert summary.lost == 0 and summary.duplicates == 0
    assert summary.batches > 0 and summary.committed == summary.batches
    truth = read_truth(summary.truth_file)
    rows = conn.execute(
        "SELECT student_key, time, zone_id FROM presence WHERE site_id = %s AND zone_id IS NOT NULL",
        (settings.site_id,),
    ).fetchall()
    assert len(rows) > 50
    keys = np.array([r[0] for r in rows])
    times = np.array([int(r[1].timestamp() * 1000) for r in rows])
    names = np.array([*truth.zone_ids, ""])[sample(truth, keys, times)]
    agreement = float(np.mean(names == np.array([r[2] for r in rows])))
    assert agreement >= 0.7, agreement
    assert repository.site_name(conn, settings.site_id).startswith(repository.SIM_SITE_PREFIX)


def test_the_command_prints_one_summary_line(settings: Settings, tmp_path: Path) -> None:
    from tests.integration.faults import settings_env

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "campus.cli",
            "sim",
            "run",
            "--site",
            settings.site_id,
            "--students",
            "200",
            "--minutes",
            "10",
            "--speed",
            "60",
            "--seed",
            "1",
        ],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    print(result.stdout, result.stderr[-3000:])
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sim: 200 students, 10.0 sim-min")


def test_gateway_mode_with_faults_in_reader_shards_loses_nothing(
    settings: Settings, conn: psycopg.Connection
) -> None:
    world = build_world(students=40, seed=4)
    rooms = [world.population.forms[f].form_room for f in range(2)]
    skewed, down = f"{rooms[0]}-ble", f"{rooms[1]}-ble"
    restarted = "a-f0-corridor-ble1"
    scenario = Scenario(
        outages=(Outage(down, 30_000, 60_000),),
        restarts=(Restart(restarted, 45_000),),
        skews=(ClockSkew(skewed, 5_000),),
    )
    config = RunConfig(
        site_id=settings.site_id,
        students=40,
        minutes=1.5,
        speed=10,
        seed=4,
        start="08:41",
        mode=DriveMode.GATEWAY,
        scenario=scenario,
        shard_size=16,  # three reader processes: faults reach readers in child processes
    )
    summary = run_simulation(settings, config)
    assert summary.mode is DriveMode.GATEWAY
    assert summary.lost == 0 and summary.duplicates == 0 and summary.committed == summary.batches > 0
    boots = dict(
        conn.execute(
            "SELECT gateway_id, count(DISTINCT boot) FROM gateway_progress WHERE gateway_id = ANY(%s) GROUP BY 1",
            ([gateway_id(settings.site_id, r) for r in (down, restarted, skewed)],),
        ).fetchall()
    )
    assert boots == {
        gateway_id(settings.site_id, down): 2,
        gateway_id(settings.site_id, restarted): 2,
        gateway_id(settings.site_id, skewed): 1,
    }
    placed = conn.execute(
        "SELECT count(DISTINCT student_key) FROM presence WHERE site_id = %s AND zone_id = ANY(%s)",
        (settings.site_id, rooms),
    ).fetchone()
    assert placed is not None and placed[0] >= 20


def test_provisioning_is_idempotent_per_seed_and_refuses_a_real_school(
    settings: Settings, conn: psycopg.Connection
) -> None:
    world = build_world(students=50, seed=9)
    keys = (settings.master_key_bytes,)

    def provision_site(site_id: str, w: World) -> Roster:
        with conn.transaction():
            return provision(
                conn,
                site_id=site_id,
                world=w,
                pseudonym_key=settings.pseudonym_key_bytes,
                master_keys=keys,
                consent=ConsentShares(),
            )

    first = provision_site(settings.site_id, world)
    again = provision_site(settings.site_id, world)
    assert not first.reused and again.reused
    assert np.array_equal(first.student_keys, again.student_keys) and first.badge_keys == again.badge_keys
    granted = conn.execute(
        """SELECT count(*) FROM consents c JOIN students s USING (student_id)
           WHERE s.site_id = %s AND c.purpose = 'location_tracking' AND c.granted""",
        (settings.site_id,),
    ).fetchone()
    assert granted is not None and granted[0] == int(first.location.sum()) and 35 <= granted[0] < 50
    bigger = provision_site(settings.site_id, build_world(students=60, seed=9))
    assert not bigger.reused and repository.student_count(conn, settings.site_id) == 60

    add_site(conn, "real-school", name="Northfield Academy")
    with pytest.raises(NotSimulatedSiteError, match="not created by the simulator"):
        provision_site("real-school", world)
    zones = conn.execute("SELECT count(*) FROM zones WHERE site_id = 'real-school'").fetchone()
    assert zones is not None and zones[0] == 0


def test_the_live_demo_feeds_the_platforms_ingest_until_stopped(
    settings: Settings, conn: psycopg.Connection
) -> None:
    stop = threading.Event()
    with running_ingest(settings):
        demo = start_demo(settings, students=30, seed=2, stop=stop, school_time="09:10")
        try:
            # Ingest's watermark waits up to 30 s for a reader that went quiet: allow for it.
            assert wait_for(
                lambda: (
                    conn.execute(
                        "SELECT count(*) FROM presence WHERE site_id = %s", (settings.site_id,)
                    ).fetchone()[0]
                    > 0
                ),
                timeout=45,
            )
        finally:
            stop.set()
            demo.join(20)
    assert demo.error is None
    assert (settings.data_dir / "sim" / settings.site_id / "truth.npz").exists()
