"""Master key rotation: re-wrap every data key and badge key under the current master key, without downtime.

The procedure (``docs/PRIVACY.md``): put the new key in ``master_key`` and the
old one in ``previous_master_keys`` on every process (readers then open
values wrapped by either); run ``campus keys rotate`` (batches, each its own
short transaction, rows locked with SKIP LOCKED so it can run beside normal
work or a second copy of itself); when ``campus keys status`` shows nothing
left under the old key, remove it from ``previous_master_keys``.

Only the small wrapped keys change: the personal fields stay encrypted
under their data keys, so rotation costs one unwrap and one wrap per key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import psycopg

from privacy import repository
from privacy.audit import AuditActor
from privacy.enrolment import EID_KEY_PURPOSE
from privacy.errors import KeyUnavailableError
from privacy.fields import DATA_KEY_PURPOSE
from privacy.keyring import MasterKeyring

__all__ = ["KeyStatus", "RotationReport", "rotate", "status"]

# Keys re-wrapped per transaction: short locks; each badge batch makes
# ingest reload its badge directory once.
ROTATE_BATCH: Final = 500
_PURPOSES: Final = {"student_data_keys": DATA_KEY_PURPOSE, "badges": EID_KEY_PURPOSE}


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """Per table: keys under the current master key, under a previous one, and under none configured."""

    current_id: str
    counts: dict[str, dict[str, int]]

    @property
    def left(self) -> int:
        return sum(c["previous"] + c["unknown"] for c in self.counts.values())


@dataclass
class RotationReport:
    rewrapped: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.failed.values())


def status(conn: psycopg.Connection, *, keyring: MasterKeyring) -> KeyStatus:
    """What each master key wraps (ids without a key in the settings count as unknown)."""
    known = set(keyring.known_ids)
    counts: dict[str, dict[str, int]] = {}
    for table, by_id in repository.wrapped_keys_by_master(conn).items():
        c = {"current": 0, "previous": 0, "unknown": 0}
        for key_id, n in by_id.items():
            if key_id == keyring.current_id:
                c["current"] += n
            elif key_id in known or key_id is None:
                c["previous"] += (
                    n  # no id: written before ids; opens with some configured key or fails rotation
                )
            else:
                c["unknown"] += n
        counts[table] = c
    return KeyStatus(keyring.current_id, counts)


def rotate(
    conn: psycopg.Connection, *, keyring: MasterKeyring, actor: AuditActor, batch: int = ROTATE_BATCH
) -> RotationReport:
    """Re-wrap everything not under the current master key. Values no configured key opens are left and counted."""
    report = RotationReport()
    for table, purpose in _PURPOSES.items():
        report.rewrapped[table] = report.failed[table] = 0
        skip: list[str] = []
        while True:
            with conn.transaction():
                stale = repository.lock_stale_wrapped(
                    conn, table, current_id=keyring.current_id, skip=skip, limit=batch
                )
                if not stale:
                    break
                updates = []
                for key in stale:
                    try:
                        secret = keyring.unwrap(key.wrapped, purpose=purpose, wrapped_by=key.master_key_id)
                    except KeyUnavailableError:
                        skip.append(key.ref)
                        report.failed[table] += 1
                        continue
                    wrapped, key_id = keyring.wrap(secret, purpose=purpose)
                    updates.append((key.ref, wrapped, key_id))
                if updates:
                    repository.store_rewrapped(conn, table, updates)
                report.rewrapped[table] += len(updates)
    with conn.transaction():
        actor.record(
            conn,
            action="keys.rotate",
            subject_count=0,
            detail={
                "master_key_id": keyring.current_id,
                "rewrapped": report.rewrapped,
                "failed": report.failed,
            },
        )
    return report
