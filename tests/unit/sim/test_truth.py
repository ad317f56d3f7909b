"""Ground truth: segments agree with the trajectories, survive a file, and answer by student key and time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from firmware_sim.geometry import NO_ZONE
from firmware_sim.movement import Sampler
from firmware_sim.population import parse_hhmm
from firmware_sim.truth import build_truth, read_truth, sample, write_truth, zone_at
from firmware_sim.world import World

EPOCH = 1_790_000_000_000


def truth_of(world: World, *, start: str = "08:20", minutes: int = 60):
    keys = np.arange(world.students, dtype=np.int64) * 7919 - 10**12
    return build_truth(
        world.plan.trajectories,
        zone_ids=world.campus.zone_ids,
        student_keys=keys,
        site_id="sim",
        seed=world.seed,
        day_start_ms=parse_hhmm(start) * 1000,
        duration_ms=minutes * 60_000,
        epoch_start_ms=EPOCH,
        school_start_s=parse_hhmm(start),
    )


def test_truth_agrees_with_the_trajectories_second_by_second(world: World) -> None:
    truth = truth_of(world)
    sampler = Sampler(world.plan.trajectories)
    start = parse_hhmm("08:20") * 1000
    for k in range(0, 3600, 7):
        _, _, _, zone = sampler.at(start + k * 1000)
        got = sample(truth, truth.student_keys, np.full(world.students, EPOCH + k * 1000))
        assert np.array_equal(got, np.where(zone == NO_ZONE, NO_ZONE, zone))


def test_segments_tile_the_run_and_are_compact(world: World) -> None:
    truth = truth_of(world)
    for s in range(world.students):
        mine = truth.seg_student == s
        f, t, z = truth.seg_from_ms[mine], truth.seg_to_ms[mine], truth.seg_zone[mine]
        assert f[0] == truth.start_ms and t[-1] == truth.end_ms
        assert np.array_equal(f[1:], t[:-1]) and (t > f).all()
        assert (z[1:] != z[:-1]).all()  # consecutive segments differ: nothing to merge


def test_the_file_round_trips_and_zone_at_answers_like_sample(world: World, tmp_path: Path) -> None:
    truth = truth_of(world, start="10:50", minutes=30)
    path = tmp_path / "truth.npz"
    write_truth(truth, path)
    back = read_truth(path)
    assert back.zone_ids == truth.zone_ids and back.start_ms == truth.start_ms
    assert np.array_equal(back.seg_from_ms, truth.seg_from_ms) and np.array_equal(
        back.seg_zone, truth.seg_zone
    )
    rng = np.random.default_rng(1)
    keys = rng.choice(truth.student_keys, 300)
    times = rng.integers(EPOCH - 60_000, EPOCH + 31 * 60_000, 300)
    many = sample(back, keys, times)
    for key, t, z in zip(keys.tolist(), times.tolist(), many.tolist(), strict=True):
        one = zone_at(back, key, t)
        assert one == (None if z == NO_ZONE else back.zone_ids[z])
        if not back.covers(t):
            assert one is None
    assert zone_at(back, 424242, EPOCH + 1000) is None
    at_break = [zone_at(back, int(key), EPOCH + 15 * 60_000) for key in back.student_keys]  # 11:05
    on_site = [z for z in at_break if z is not None]
    assert on_site.count("playground") / len(on_site) > 0.9
