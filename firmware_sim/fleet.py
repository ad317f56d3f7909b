"""The simulated readers' gateways: real gateway code, one Uplink and on-disk Journal per reader.

Two drive modes (:class:`DriveMode`), the same output:

- ``gateway``: every reader runs a real :class:`gateway.runner.Gateway` over
  a :class:`gateway.backends.sim.SimulatedBackend`. The simulator pushes each
  advert the radio model says a reader heard (the badge frame carrying the
  badge's current rotating id) and each card tap, then polls the gateway with
  the simulated time; the gateway parses, aggregates per window, hashes cards
  and journals.
- ``fast``: the simulator aggregates the window itself, vectorised, exactly
  as the gateway's aggregator does (count, first and last time, max and lower
  median RSSI, sightings of a window sorted by id, taps as their own batch)
  and submits the sightings to the reader's Uplink. Journal, signing, MQTT
  and acknowledgements are still the real code.

Either way each reader has its own Uplink (its own MQTT session, boot and
sequence numbers, retained status), journalled under ``journal_dir``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Final, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from campus import signing, wire
from campus.logs import get_logger
from campus.mqtt import BrokerAddress
from firmware_sim.identities import gateway_id, gateway_seed
from firmware_sim.models import ReaderKind, ReaderSpec
from firmware_sim.radio import Adverts, aggregate
from firmware_sim.world import WINDOW_MS, Step
from gateway.backends.sim import SimulatedBackend
from gateway.frames import badge_advert
from gateway.journal import Journal
from gateway.models import CardRead
from gateway.runner import MAX_SIGHTINGS_PER_MESSAGE, Gateway
from gateway.uplink import Uplink
from privacy import eid

__all__ = ["DriveMode", "Fleet", "FleetStats", "Identities", "ReaderFleet", "window_sightings"]

log = get_logger(__name__)

FIRMWARE: Final = "campus-sim/0.1"
# How long to wait for every simulated gateway to connect before driving.
CONNECT_TIMEOUT_S: Final = 20.0


class DriveMode(StrEnum):
    GATEWAY = "gateway"
    FAST = "fast"
    AUTO = "auto"


class Identities:
    """What each student carries, by student index: a badge key (rotating ids) and an RFID card."""

    def __init__(
        self, *, badge_keys: Sequence[bytes], cards: Sequence[str], card_ids: Sequence[str], rotation_s: int
    ) -> None:
        self.badge_keys = tuple(badge_keys)
        self.cards = tuple(cards)
        self.card_ids = tuple(card_ids)  # the keyed hash of each card, as the gateways send it (hex)
        self.rotation_s = rotation_s
        self._window = -1
        self._eids: list[bytes] = []
        self._hex: npt.NDArray[np.str_] = np.zeros(0, dtype="<U16")

    def eids_at(self, stamp_ms: int) -> tuple[list[bytes], npt.NDArray[np.str_]]:
        """Every badge's rotating id at ``stamp_ms`` (bytes, and hex as a numpy array for sorting)."""
        window = eid.window_index(stamp_ms / 1000, self.rotation_s)
        if window != self._window:
            self._eids = [eid.eid(key, window) for key in self.badge_keys]
            self._hex = np.array([e.hex() for e in self._eids], dtype="<U16")
            self._window = window
        return self._eids, self._hex


class ReaderFleet(Protocol):
    """What the driver and the run use of a fleet (in-process :class:`Fleet`, or shards of it)."""

    @property
    def mode(self) -> DriveMode: ...

    def start(self) -> None: ...
    def push(self, step: Step, *, anchor_ms: int) -> None: ...
    def poll(self, stamp_ms: int) -> None: ...
    def shut(self, reader_id: str) -> None: ...
    def open(self, reader_id: str) -> None: ...
    def depth(self) -> int: ...
    def drain(self, *, timeout_s: float, stop: Callable[[], bool] = ...) -> bool: ...
    def published(self) -> tuple[int, int]: ...
    def issued(self) -> dict[tuple[str, int], int]: ...
    def close(self) -> None: ...


@dataclass(slots=True)
class FleetStats:
    sightings: int = 0  # BLE sightings journalled
    taps: int = 0  # card taps journalled
    adverts: int = 0  # adverts pushed into gateways (gateway mode)


@dataclass(slots=True)
class _Link:
    reader: ReaderSpec
    gateway_id: str
    journal_path: Path
    skew_ms: int
    uplink: Uplink | None = None
    gateway: Gateway | None = None
    backend: SimulatedBackend | None = None
    journal: Journal | None = None
    boots: list[int] = field(default_factory=list)
    pending: list[wire.Sighting] = field(default_factory=list)

    @property
    def up(self) -> bool:
        return self.uplink is not None


class Fleet:
    """Opens, drives, faults and closes the gateways of a simulated site's readers."""

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
        clock: Callable[[], float],
        badge_hash_key: bytes,
        identities: Identities,
        skews: dict[str, int] | None = None,
    ) -> None:
        if mode is DriveMode.AUTO:
            raise ValueError("choose gateway or fast before building the fleet")
        self.site_id = site_id
        self.seed = seed
        self.mode = mode
        self._clock = clock
        self._address = address
        self._hash_key = badge_hash_key
        self.identities = identities
        self.stats = FleetStats()
        skews = skews or {}
        self.links = {
            r.reader_id: _Link(
                reader=r,
                gateway_id=gateway_id(site_id, r.reader_id),
                journal_path=journal_dir / f"{r.reader_id}.journal",
                skew_ms=skews.get(r.reader_id, 0),
            )
            for r in readers
        }
        self._ble = [self.links[r] for r in ble_readers]
        self._readers = [self.links[r.reader_id] for r in readers]

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> None:
        """Open every reader's gateway and wait until all are connected."""
        for link in self.links.values():
            self.open(link.reader.reader_id)
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        for link in self.links.values():
            assert link.uplink is not None
            if not link.uplink.link.wait_connected(max(0.1, deadline - time.monotonic())):
                raise ConnectionError(f"simulated gateway {link.gateway_id} could not connect to the broker")

    def open(self, reader_id: str) -> None:
        """Power a reader on: a new boot of its journal, a new MQTT session."""
        link = self.links[reader_id]
        if link.up:
            return
        key = signing.load_private_key(gateway_seed(self.site_id, self.seed, reader_id))
        journal = Journal(link.journal_path)
        if not link.boots:
            # First power-on of this run: what an interrupted earlier run left
            # unsent belongs to that run's time line, not this one.
            for boot, last_seq in journal.boots().items():
                if boot != journal.boot:
                    journal.trim(boot=boot, hwm=last_seq)
        skew_s = link.skew_ms / 1000
        clock = self._clock
        uplink = Uplink(
            gateway_id=link.gateway_id,
            site=self.site_id,
            key=key,
            journal=journal,
            address=self._address,
            firmware=FIRMWARE,
            clock=(lambda: clock() + skew_s) if skew_s else clock,
        )
        link.journal, link.uplink = journal, uplink
        link.boots.append(journal.boot)
        if self.mode is DriveMode.GATEWAY:
            link.backend = SimulatedBackend()
            link.gateway = Gateway(
                uplink=uplink, backend=link.backend, badge_hash_key=self._hash_key, window_ms=WINDOW_MS
            )
            link.gateway.start()
        else:
            uplink.start()

    def shut(self, reader_id: str) -> None:
        """Power a reader off: what it aggregated is journalled, it says "offline", its session ends."""
        link = self.links[reader_id]
        if not link.up:
            return
        if link.gateway is not None:
            link.gateway.close()  # journals what it still aggregates, says "offline"
            self._count_gateway(link)
        else:
            self._flush(link)
            assert link.uplink is not None
            link.uplink.close()
        assert link.journal is not None
        link.journal.close()
        link.uplink = link.gateway = link.backend = link.journal = None

    def close(self) -> None:
        for reader_id in self.links:
            self.shut(reader_id)

    # -- driving -----------------------------------------------------------
    def push(self, step: Step, *, anchor_ms: int) -> None:
        """Hand the readers what they heard in this window (stamps = anchor + simulation time)."""
        adverts = step.adverts
        eids, eid_hex = self.identities.eids_at(anchor_ms + step.sim_ms)
        for t, student, reader in zip(
            step.tap_t_ms.tolist(), step.tap_student.tolist(), step.tap_reader.tolist(), strict=True
        ):
            link = self._readers[reader]
            if not link.up:
                continue
            stamp = anchor_ms + t + link.skew_ms
            if link.backend is not None:
                link.backend.push_card(CardRead(received_ms=stamp, card=self.identities.cards[student]))
            else:
                tap = wire.Sighting(
                    kind=wire.SightingKind.RFID,
                    id=self.identities.card_ids[student],
                    first_ms=stamp,
                    last_ms=stamp,
                )
                assert link.uplink is not None
                link.uplink.submit([tap])
                self.stats.taps += 1
        if self.mode is DriveMode.GATEWAY:
            self.stats.adverts += len(adverts)
            for reader, student, t, rssi in zip(
                adverts.reader.tolist(),
                adverts.student.tolist(),
                adverts.t_ms.tolist(),
                adverts.rssi.tolist(),
                strict=True,
            ):
                link = self._ble[reader]
                if link.backend is None:
                    continue
                badge = eids[student]
                link.backend.push_advert(
                    badge_advert(
                        eid=badge,
                        received_ms=anchor_ms + t + link.skew_ms,
                        address="c0:" + ":".join(f"{b:02x}" for b in badge[:5]),
                        rssi=rssi,
                    )
                )
            return
        for reader, heard in window_sightings(adverts, eid_hex=eid_hex, anchor_ms=anchor_ms):
            link = self._ble[reader]
            if not link.up:
                continue
            skew = link.skew_ms
            link.pending.append(
                msgspec.structs.replace(heard, first_ms=heard.first_ms + skew, last_ms=heard.last_ms + skew)
                if skew
                else heard
            )

    def poll(self, stamp_ms: int) -> None:
        """Every reader journals the windows that ended by ``stamp_ms`` (its own clock: plus its skew)."""
        for link in self.links.values():
            if link.gateway is not None:
                link.gateway.poll(stamp_ms + link.skew_ms)
            elif link.up:
                self._flush(link)

    def _flush(self, link: _Link) -> None:
        if not link.pending:
            return
        assert link.uplink is not None
        for start in range(0, len(link.pending), MAX_SIGHTINGS_PER_MESSAGE):
            link.uplink.submit(link.pending[start : start + MAX_SIGHTINGS_PER_MESSAGE])
        self.stats.sightings += len(link.pending)
        link.pending = []

    def _count_gateway(self, link: _Link) -> None:
        assert link.gateway is not None
        stats = link.gateway.stats
        self.stats.sightings += stats.sightings
        self.stats.taps += stats.taps

    def published(self) -> tuple[int, int]:
        """(BLE sightings, taps) journalled so far, including those of gateways still running."""
        sightings, taps = self.stats.sightings, self.stats.taps
        for link in self.links.values():
            if link.gateway is not None:
                sightings += link.gateway.stats.sightings
                taps += link.gateway.stats.taps
        return sightings, taps

    def depth(self) -> int:
        """Batches journalled and not yet acknowledged as committed, over all running readers."""
        return sum(link.journal.depth() for link in self.links.values() if link.journal is not None)

    def drain(self, *, timeout_s: float, stop: Callable[[], bool] = lambda: False) -> bool:
        """Wait until ingest has committed everything journalled; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not stop():
            if self.depth() == 0:
                return True
            time.sleep(0.1)
        return self.depth() == 0

    def issued(self) -> dict[tuple[str, int], int]:
        """(gateway, boot) -> batches issued, for the boots opened by this fleet."""
        out: dict[tuple[str, int], int] = {}
        for link in self.links.values():
            boots = link.journal.boots() if link.journal is not None else _read_boots(link.journal_path)
            for boot in link.boots:
                out[(link.gateway_id, boot)] = boots.get(boot, 0)
        return out

    @property
    def ble_count(self) -> int:
        return len(self._ble)

    def reader_kinds(self) -> dict[ReaderKind, int]:
        out: dict[ReaderKind, int] = {}
        for link in self.links.values():
            out[link.reader.kind] = out.get(link.reader.kind, 0) + 1
        return out


def window_sightings(
    adverts: Adverts, *, eid_hex: npt.NDArray[np.str_], anchor_ms: int
) -> list[tuple[int, wire.Sighting]]:
    """What each BLE reader's gateway reports for one window's adverts, in the gateway's order.

    The same numbers as :class:`gateway.aggregate.WindowAggregator` (count,
    first and last stamp, max and lower-median RSSI), readers in order and
    each reader's sightings sorted by id; vectorised, for the fast mode.
    """
    windows = aggregate(adverts, students=len(eid_hex))
    order = np.lexsort((eid_hex[windows.student], windows.reader))
    return [
        (
            int(windows.reader[i]),
            wire.Sighting(
                kind=wire.SightingKind.BLE_EID,
                id=str(eid_hex[windows.student[i]]),
                first_ms=anchor_ms + int(windows.first_ms[i]),
                last_ms=anchor_ms + int(windows.last_ms[i]),
                count=int(windows.count[i]),
                rssi_max=int(windows.rssi_max[i]),
                rssi_median=int(windows.rssi_median[i]),
            ),
        )
        for i in order.tolist()
    ]


def _read_boots(path: Path) -> dict[int, int]:
    """A closed journal's boots, read without opening it as a Journal (which would start a new boot)."""
    if not path.exists():
        return {}
    with closing(sqlite3.connect(path)) as db:
        return {int(b): int(s) for b, s in db.execute("SELECT boot, last_seq FROM boots")}
