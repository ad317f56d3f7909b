"""Large fleets in several processes: each child runs a :class:`Fleet` for a shard of the readers.

Why: every simulated reader holds about six file descriptors (its journal's
SQLite files, its MQTT socket and paho's wake-up pair), and paho waits on
its sockets with ``select()``, which cannot watch a descriptor numbered 1024
or more. A 2,000-student campus has about 170 readers: in one process some
of them could never connect. Shards of at most ``MAX_READERS_PER_PROCESS``
keep every process well under that, and spread the journals' fsyncs,
signing and publishing over the machine's cores.

The parent keeps the world and the radio (one random stream, so the run is
the same whatever the sharding) and sends each child the slice of every
window that concerns its readers; children answer queries (journal depth,
what was published and issued) over a pipe. Children ignore Ctrl-C: the
parent decides when they stop, after draining.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

import numpy as np

from campus.logs import configure, get_logger
from campus.mqtt import BrokerAddress
from firmware_sim.driver import SimClock
from firmware_sim.fleet import DriveMode, Fleet, Identities, ReaderFleet
from firmware_sim.models import ReaderSpec
from firmware_sim.radio import Adverts
from firmware_sim.world import Step

__all__ = ["MAX_READERS_PER_PROCESS", "ShardedFleet", "build_fleet"]

log = get_logger(__name__)

# About 6 descriptors per reader: 100 readers stay far below select()'s 1,024.
MAX_READERS_PER_PROCESS: Final = 100
_REPLY_TIMEOUT_S: Final = 120.0


@dataclass(frozen=True, slots=True)
class _ShardSpec:
    site_id: str
    seed: int
    readers: tuple[ReaderSpec, ...]
    ble_readers: tuple[str, ...]
    journal_dir: Path
    address: BrokerAddress
    mode: DriveMode
    badge_hash_key: bytes
    badge_keys: tuple[bytes, ...]
    cards: tuple[str, ...]
    card_ids: tuple[str, ...]
    rotation_s: int
    skews: dict[str, int]
    log_level: str


def _shard_main(conn: Connection, spec: _ShardSpec, shared: Any) -> None:
    """A child process: one Fleet over the shard's readers, driven by the parent's messages."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure(spec.log_level)
    clock: Callable[[], float] = (lambda: shared.value / 1000) if shared is not None else time.time
    fleet = Fleet(
        site_id=spec.site_id,
        seed=spec.seed,
        readers=spec.readers,
        ble_readers=spec.ble_readers,
        journal_dir=spec.journal_dir,
        address=spec.address,
        mode=spec.mode,
        clock=clock,
        badge_hash_key=spec.badge_hash_key,
        identities=Identities(
            badge_keys=spec.badge_keys, cards=spec.cards, card_ids=spec.card_ids, rotation_s=spec.rotation_s
        ),
        skews=spec.skews,
    )
    failure: str | None = None
    queries: dict[str, Callable[[], object]] = {
        "start": fleet.start,
        "depth": fleet.depth,
        "published": fleet.published,
        "issued": fleet.issued,
        "close": fleet.close,
    }
    while True:
        try:
            op, arg = conn.recv()
        except EOFError:  # the parent is gone
            fleet.close()
            return
        try:
            if op == "push":
                fleet.push(arg[0], anchor_ms=arg[1])
            elif op == "poll":
                fleet.poll(arg)
            elif op == "shut":
                fleet.shut(arg)
            elif op == "open":
                fleet.open(arg)
            else:
                result = queries[op]() if failure is None or op == "close" else None
                conn.send(("error", failure) if failure is not None else ("ok", result))
                if op == "close":
                    return
        except Exception as exc:  # reported to the parent at its next query
            failure = failure or f"{type(exc).__name__}: {exc}"
            log.exception("sim.shard_failed", op=op)


class ShardedFleet:
    """The :class:`Fleet` interface over child processes, each with a shard of the readers."""

    def __init__(
        self,
        *,
        site_id: str,
        seed: int,
        readers: Sequence[ReaderSpec],
        ble_readers: Sequence[str],
        journal_dir: Path,
        address: BrokerAddress,
        mode: DriveMode,
        clock: SimClock | None,
        badge_hash_key: bytes,
        identities: Identities,
        skews: dict[str, int] | None = None,
        shard_size: int = MAX_READERS_PER_PROCESS,
        log_level: str = "WARNING",
    ) -> None:
        self.mode = mode
        ctx = multiprocessing.get_context("spawn")
        shards = [list(readers[i : i + shard_size]) for i in range(0, len(readers), shard_size)]
        ble = set(ble_readers)
        self._shard_of = {r.reader_id: s for s, shard in enumerate(shards) for r in shard}
        # Campus reader index -> (shard, index within the shard); BLE index -> (shard, BLE index within it).
        local = {r.reader_id: i for shard in shards for i, r in enumerate(shard)}
        self._reader_shard = np.array([self._shard_of[r.reader_id] for r in readers], dtype=np.int64)
        self._reader_local = np.array([local[r.reader_id] for r in readers], dtype=np.int64)
        shard_ble = [[r.reader_id for r in shard if r.reader_id in ble] for shard in shards]
        ble_local = {rid: i for names in shard_ble for i, rid in enumerate(names)}
        self._ble_shard = np.array([self._shard_of[rid] for rid in ble_readers], dtype=np.int64)
        self._ble_local = np.array([ble_local[rid] for rid in ble_readers], dtype=np.int64)
        self._pipes: list[Connection] = []
        self._procs: list[multiprocessing.process.BaseProcess] = []
        for s, shard in enumerate(shards):
            spec = _ShardSpec(
                site_id=site_id,
                seed=seed,
                readers=tuple(shard),
                ble_readers=tuple(shard_ble[s]),
                journal_dir=journal_dir,
                address=address,
                mode=mode,
                badge_hash_key=badge_hash_key,
                badge_keys=tuple(identities.badge_keys),
                cards=tuple(identities.cards),
                card_ids=tuple(identities.card_ids),
                rotation_s=identities.rotation_s,
                skews={k: v for k, v in (skews or {}).items() if self._shard_of.get(k) == s},
                log_level=log_level,
            )
            parent, child = ctx.Pipe()
            shared = clock.value if clock is not None else None
            proc = ctx.Process(
                target=_shard_main, args=(child, spec, shared), name=f"sim-shard-{s}", daemon=True
            )
            proc.start()
            child.close()
            self._pipes.append(parent)
            self._procs.append(proc)

    # -- messaging ---------------------------------------------------------
    def _ask(self, shard: int, op: str) -> Any:
        pipe = self._pipes[shard]
        pipe.send((op, None))
        if not pipe.poll(_REPLY_TIMEOUT_S):
            raise RuntimeError(f"simulated reader shard {shard} did not answer {op!r}")
        status, result = pipe.recv()
        if status != "ok":
            raise RuntimeError(f"simulated reader shard {shard} failed: {result}")
        return result

    def _ask_all(self, op: str) -> list[Any]:
        for pipe in self._pipes:
            pipe.send((op, None))
        out = []
        for shard, pipe in enumerate(self._pipes):
            if not pipe.poll(_REPLY_TIMEOUT_S):
                raise RuntimeError(f"simulated reader shard {shard} did not answer {op!r}")
            status, result = pipe.recv()
            if status != "ok":
                raise RuntimeError(f"simulated reader shard {shard} failed: {result}")
            out.append(result)
        return out

    # -- the Fleet interface -------------------------------------------------
    def start(self) -> None:
        try:
            self._ask_all("start")
        except RuntimeError as exc:
            raise ConnectionError(str(exc)) from exc

    def push(self, step: Step, *, anchor_ms: int) -> None:
        a = step.adverts
        ble_shard = self._ble_shard[a.reader]
        tap_shard = self._reader_shard[step.tap_reader]
        empty = np.zeros(0, dtype=np.int64)
        for s, pipe in enumerate(self._pipes):
            mine = ble_shard == s
            taps = tap_shard == s
            part = Step(
                index=step.index,
                sim_ms=step.sim_ms,
                zone=empty,
                adverts=Adverts(
                    reader=self._ble_local[a.reader[mine]],
                    student=a.student[mine],
                    t_ms=a.t_ms[mine],
                    rssi=a.rssi[mine],
                ),
                tap_t_ms=step.tap_t_ms[taps],
                tap_student=step.tap_student[taps],
                tap_reader=self._reader_local[step.tap_reader[taps]],
            )
            pipe.send(("push", (part, anchor_ms)))

    def poll(self, stamp_ms: int) -> None:
        for pipe in self._pipes:
            pipe.send(("poll", stamp_ms))

    def shut(self, reader_id: str) -> None:
        self._pipes[self._shard_of[reader_id]].send(("shut", reader_id))

    def open(self, reader_id: str) -> None:
        self._pipes[self._shard_of[reader_id]].send(("open", reader_id))

    def depth(self) -> int:
        return int(sum(self._ask_all("depth")))

    def drain(self, *, timeout_s: float, stop: Callable[[], bool] = lambda: False) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not stop():
            if self.depth() == 0:
                return True
            time.sleep(0.1)
        return self.depth() == 0

    def published(self) -> tuple[int, int]:
        parts = self._ask_all("published")
        return sum(p[0] for p in parts), sum(p[1] for p in parts)

    def issued(self) -> dict[tuple[str, int], int]:
        out: dict[tuple[str, int], int] = {}
        for part in self._ask_all("issued"):
            out.update(part)
        return out

    def close(self) -> None:
        for shard, proc in enumerate(self._procs):
            if proc.is_alive():
                try:
                    self._ask(shard, "close")
                except (RuntimeError, OSError, EOFError) as exc:
                    log.warning("sim.shard_close_failed", shard=shard, error=str(exc))
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
        for pipe in self._pipes:
            pipe.close()


def build_fleet(
    *,
    site_id: str,
    seed: int,
    readers: Sequence[ReaderSpec],
    ble_readers: Sequence[str],
    journal_dir: Path,
    address: BrokerAddress,
    mode: DriveMode,
    clock: SimClock | None,
    badge_hash_key: bytes,
    identities: Identities,
    skews: dict[str, int] | None = None,
    log_level: str = "WARNING",
    shard_size: int = MAX_READERS_PER_PROCESS,
) -> ReaderFleet:
    """An in-process :class:`Fleet` for up to ``shard_size`` readers, else one child process per shard.

    ``clock`` None: the readers send wall time (a live worker, the demo).
    """
    if len(readers) <= shard_size:
        return Fleet(
            site_id=site_id,
            seed=seed,
            readers=readers,
            ble_readers=ble_readers,
            journal_dir=journal_dir,
            address=address,
            mode=mode,
            clock=clock if clock is not None else time.time,
            badge_hash_key=badge_hash_key,
            identities=identities,
            skews=skews,
        )
    return ShardedFleet(
        site_id=site_id,
        seed=seed,
        readers=readers,
        ble_readers=ble_readers,
        journal_dir=journal_dir,
        address=address,
        mode=mode,
        clock=clock,
        badge_hash_key=badge_hash_key,
        identities=identities,
        skews=skews,
        shard_size=shard_size,
        log_level=log_level,
    )
