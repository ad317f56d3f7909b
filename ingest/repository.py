"""All SQL of ingest."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from campus.wire import SightingKind
from ingest.directory import BadgeRecord
from ingest.ledger import BatchKey
from ingest.verify import KnownGateway
from privacy import keywrap
from privacy.enrolment import EID_KEY_PURPOSE

__all__ = [
    "DeadLetter",
    "GatewayPlacement",
    "PresenceRow",
    "commit_flush",
    "load_badges",
    "load_consents",
    "load_gateways",
    "load_progress",
    "prune_ledger",
    "write_heartbeat",
]


@dataclass(frozen=True, slots=True)
class GatewayPlacement:
    gateway_id: str
    zone_id: str | None
    x: float | None
    y: float | None
    floor: int | None
    rssi_at_1m: float
    path_loss_exponent: float


@dataclass(frozen=True, slots=True)
class PresenceRow:
    time: datetime
    site_id: str
    student_key: int
    zone_id: str | None
    source: str
    confidence: float
    gateway_id: str | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    reason: str
    detail: str
    gateway_id: str | None
    payload: bytes


def load_gateways(
    conn: psycopg.Connection, sites: Sequence[str]
) -> tuple[dict[str, KnownGateway], dict[str, GatewayPlacement]]:
    rows = conn.execute(
        """SELECT gateway_id, site_id, public_key, revoked_at IS NOT NULL, zone_id, x, y, floor,
                  rssi_at_1m, path_loss_exponent
           FROM gateways WHERE site_id = ANY(%s)""",
        (list(sites),),
    ).fetchall()
    known: dict[str, KnownGateway] = {}
    placements: dict[str, GatewayPlacement] = {}
    for gw, site, key, revoked, zone, x, y, floor, rssi1m, ple in rows:
        known[gw] = KnownGateway(gw, site, Ed25519PublicKey.from_public_bytes(bytes(key)), revoked=revoked)
        placements[gw] = GatewayPlacement(gw, zone, x, y, floor, rssi1m, ple)
    return known, placements


def load_badges(conn: psycopg.Connection, sites: Sequence[str], *, master_key: bytes) -> list[BadgeRecord]:
    rows = conn.execute(
        """SELECT s.student_key, b.kind, b.static_hash, b.eid_key_wrapped, b.rotation_s
           FROM badges b JOIN students s USING (student_id)
           WHERE b.site_id = ANY(%s) AND b.revoked_at IS NULL""",
        (list(sites),),
    ).fetchall()
    return [
        BadgeRecord(
            student_key=student_key,
            kind=SightingKind(kind),
            static_hash=bytes(static_hash) if static_hash is not None else None,
            eid_key=keywrap.unwrap(master_key, bytes(wrapped), purpose=EID_KEY_PURPOSE)
            if wrapped is not None
            else None,
            rotation_s=rotation_s,
        )
        for student_key, kind, static_hash, wrapped, rotation_s in rows
    ]


def load_consents(
    conn: psycopg.Connection, sites: Sequence[str], *, student_ids: Sequence[str] | None = None
) -> dict[int, set[str]]:
    """Granted purposes per student key (students without a grant are absent)."""
    query = """SELECT s.student_key, c.purpose FROM consents c JOIN students s USING (student_id)
               WHERE c.granted AND s.site_id = ANY(%s)"""
    params: list[object] = [list(sites)]
    if student_ids is not None:
        query += " AND s.student_id = ANY(%s::uuid[])"
        params.append(list(student_ids))
    grants: dict[int, set[str]] = {}
    for student_key, purpose in conn.execute(query, params):
        grants.setdefault(student_key, set()).add(purpose)
    return grants


def student_keys(conn: psycopg.Connection, student_ids: Sequence[str]) -> list[int]:
    rows = conn.execute(
        "SELECT student_key FROM students WHERE student_id = ANY(%s::uuid[])", (list(student_ids),)
    )
    return [r[0] for r in rows]


def load_progress(
    conn: psycopg.Connection, gateway_ids: Iterable[str]
) -> list[tuple[str, int, int, list[int]]]:
    """(gateway, boot, hwm, committed seqs above hwm) for every known boot."""
    rows = conn.execute(
        """SELECT p.gateway_id, p.boot, p.hwm,
                  COALESCE(array_agg(b.seq ORDER BY b.seq) FILTER (WHERE b.seq IS NOT NULL), '{}')
           FROM gateway_progress p
           LEFT JOIN ingest_batches b ON b.gateway_id = p.gateway_id AND b.boot = p.boot AND b.seq > p.hwm
           WHERE p.gateway_id = ANY(%s)
           GROUP BY p.gateway_id, p.boot, p.hwm""",
        (list(gateway_ids),),
    ).fetchall()
    return [(gw, boot, hwm, list(above)) for gw, boot, hwm, above in rows]


def commit_flush(
    conn: psycopg.Connection,
    *,
    batches: Sequence[BatchKey],
    rows_by_batch: dict[BatchKey, list[PresenceRow]],
    progress: dict[tuple[str, int], int],
    dead_letters: Sequence[DeadLetter],
    dead_letter_max_rows: int,
) -> set[BatchKey]:
    """Commit one flush in one transaction; return the batches that were new.

    A batch already in ``ingest_batches`` (committed by an earlier life of this
    worker) contributes no rows: ``ON CONFLICT DO NOTHING ... RETURNING``
    tells which are new before their rows are copied.
    """
    with conn.transaction():
        new: set[BatchKey] = set()
        if batches:
            gws, boots, seqs = zip(*batches, strict=True)
            cur = conn.execute(
                """INSERT INTO ingest_batches (gateway_id, boot, seq)
                   SELECT * FROM unnest(%s::text[], %s::int[], %s::bigint[])
                   ON CONFLICT DO NOTHING RETURNING gateway_id, boot, seq""",
                (list(gws), list(boots), list(seqs)),
            )
            new = {(gw, boot, seq) for gw, boot, seq in cur.fetchall()}
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY presence (time, site_id, student_key, zone_id, source, confidence, gateway_id) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["timestamptz", "text", "int8", "text", "text", "float4", "text"])
            for key in new:
                for r in rows_by_batch.get(key, ()):
                    copy.write_row(
                        (r.time, r.site_id, r.student_key, r.zone_id, r.source, r.confidence, r.gateway_id)
                    )
        if progress:
            keys = list(progress)
            conn.execute(
                """INSERT INTO gateway_progress AS p (gateway_id, boot, hwm)
                   SELECT * FROM unnest(%s::text[], %s::int[], %s::bigint[])
                   ON CONFLICT (gateway_id, boot) DO UPDATE
                   SET hwm = GREATEST(p.hwm, EXCLUDED.hwm), updated_at = now()""",
                ([k[0] for k in keys], [k[1] for k in keys], [progress[k] for k in keys]),
            )
        if dead_letters:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO dead_letters (topic, reason, detail, gateway_id, payload) VALUES (%s, %s, %s, %s, %s)",
                    [
                        (d.topic, d.reason, d.detail[:1000], d.gateway_id, d.payload[:4096])
                        for d in dead_letters
                    ],
                )
            conn.execute(
                """DELETE FROM dead_letters WHERE id <= (SELECT max(id) - %s FROM dead_letters)""",
                (dead_letter_max_rows,),
            )
    return new


def prune_ledger(conn: psycopg.Connection, *, older_than_s: int = 600) -> int:
    """Remove ledger entries the high-water mark has passed (kept a while for late redeliveries)."""
    with conn.transaction():
        cur = conn.execute(
            """DELETE FROM ingest_batches b USING gateway_progress p
               WHERE b.gateway_id = p.gateway_id AND b.boot = p.boot AND b.seq <= p.hwm
                 AND b.committed_at < now() - make_interval(secs => %s)""",
            (older_than_s,),
        )
        return cur.rowcount


def write_heartbeat(
    conn: psycopg.Connection, *, service: str, instance: str, started_at: datetime, stats: dict[str, object]
) -> None:
    with conn.transaction():
        conn.execute(
            """INSERT INTO service_heartbeats (service, instance, started_at, seen_at, stats)
               VALUES (%s, %s, %s, %s, %s)
               ON CONFLICT (service, instance) DO UPDATE
               SET started_at = EXCLUDED.started_at, seen_at = EXCLUDED.seen_at, stats = EXCLUDED.stats""",
            (service, instance, started_at, datetime.now(UTC), json.dumps(stats)),
        )
