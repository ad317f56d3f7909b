"""A fleet of real gateways (Uplink + on-disk Journal) publishing students' sightings, for fault tests.

In-process: ``Fleet(...).start()`` / ``stop_publishing()`` / ``drained()``.
As a process (to be killed with SIGKILL):
``python -m tests.load --spec spec.json`` where the spec names the broker,
site, gateway keys, journal directory, students' badge keys and a rate.

Each gateway reports every student assigned to it in each window; the
student set and RSSI are fixed, so the tracker places each in the gateway's
zone. What matters here is the delivery accounting, not the radio.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from campus import signing, wire
from campus.mqtt import BrokerAddress
from gateway.journal import Journal
from gateway.uplink import Uplink
from privacy import eid


@dataclass(frozen=True)
class GatewaySpec:
    gateway_id: str
    key_hex: str  # Ed25519 seed
    badge_keys_hex: tuple[str, ...]


class Fleet:
    def __init__(
        self,
        *,
        address: BrokerAddress,
        site: str,
        gateways: list[GatewaySpec],
        journal_dir: Path,
        interval_s: float = 0.3,
        resend_after_s: float = 5.0,
    ) -> None:
        self.interval_s = interval_s
        self.uplinks = [
            Uplink(
                gateway_id=g.gateway_id,
                site=site,
                key=signing.load_private_key(bytes.fromhex(g.key_hex)),
                journal=Journal(journal_dir / f"{g.gateway_id}.journal"),
                address=address,
                resend_after_s=resend_after_s,
            )
            for g in gateways
        ]
        self._badges = [[bytes.fromhex(k) for k in g.badge_keys_hex] for g in gateways]
        self._publishing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet", daemon=True)
        self.submitted = 0

    def start(self) -> Fleet:
        for uplink in self.uplinks:
            uplink.start()
        self._publishing.set()
        self._thread.start()
        return self

    def _run(self) -> None:
        while self._publishing.is_set():
            now = time.time()
            for uplink, badges in zip(self.uplinks, self._badges, strict=True):
                at_ms = int(now * 1000)
                sightings = [
                    wire.Sighting(
                        kind=wire.SightingKind.BLE_EID,
                        id=eid.eid(key, eid.window_index(now, eid.DEFAULT_ROTATION_S)).hex(),
                        first_ms=at_ms - 1000,
                        last_ms=at_ms,
                        count=4,
                        rssi_max=-58,
                        rssi_median=-62,
                    )
                    for key in badges
                ]
                uplink.submit(sightings)
                self.submitted += 1
            time.sleep(self.interval_s)

    def stop_publishing(self) -> None:
        self._publishing.clear()
        self._thread.join(timeout=10)

    def depth(self) -> int:
        return sum(u.journal.depth() for u in self.uplinks)

    def close(self) -> None:
        self.stop_publishing()
        for uplink in self.uplinks:
            uplink.close()
            uplink.journal.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", type=Path, required=True)
    args = parser.parse_args()
    spec = json.loads(args.spec.read_text())
    fleet = Fleet(
        address=BrokerAddress(host=spec["host"], port=spec["port"]),
        site=spec["site"],
        gateways=[
            GatewaySpec(g["gateway_id"], g["key_hex"], tuple(g["badge_keys_hex"])) for g in spec["gateways"]
        ],
        journal_dir=Path(spec["journal_dir"]),
        interval_s=spec.get("interval_s", 0.3),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if spec.get("drain_only"):
        for uplink in fleet.uplinks:  # send what the journals hold, publish nothing new
            uplink.start()
    else:
        fleet.start()
    stop.wait()
    fleet.close()


if __name__ == "__main__":
    main()


def published_by_boot(journal_dir: Path) -> dict[tuple[str, int], int]:
    """For every gateway journal in ``journal_dir``: (gateway, boot) -> last seq ever issued.

    Read directly from the SQLite files (opening a Journal would start a new boot).
    """
    import sqlite3

    out: dict[tuple[str, int], int] = {}
    for path in sorted(journal_dir.glob("*.journal")):
        with sqlite3.connect(path) as db:
            for boot, last_seq in db.execute("SELECT boot, last_seq FROM boots"):
                out[(path.stem, boot)] = last_seq
    return out
