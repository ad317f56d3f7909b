"""All SQL of ingest."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from campus.logs import get_logger
from campus.wire import SightingKind
from ingest.directory import BadgeRecord
from ingest.ledger import BatchKey
from ingest.verify import KnownGateway
from privacy.enrolment import EID_KEY_PURPOSE
from privacy.errors import KeyUnavailableError
from privacy.keyring import MasterKeyring

log = get_logger(__name__)

__all__ = [
    "CurrentState",
    "DeadLetter",
    "FlushContent",
    "GatewayPlacement",
    "GatewayStatusRow",
    "PresenceRow",
    "TapRow",
    "TransitionRow",
    "ZoneInfo",
    "commit_flush",
    "load_badges",
    "load_consents",
    "load_current",
    "load_gateways",
    "load_offline_gateways",
    "load_progress",
    "load_site_ticks",
    "load_zones",
    "prune_ledger",
    "student_keys",
    "write_heartbeat",
]


@dataclass(frozen=True, slots=True)
class GatewayPlacement:
    gateway_id: str
    kind: str
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


@dataclass(frozen=True, slots=True)
class TransitionRow:
    time: datetime
    site_id: str
    student_key: int
    from_zone: str | None
    to_zone: str | None
    confidence: float


@dataclass(frozen=True, slots=True)
class CurrentState:
    student_key: int
    site_id: str
    zone_id: str | None
    since: datetime
    last_zone_id: str | None
    last_seen: datetime | None
    confidence: float


@dataclass(frozen=True, slots=True)
class TapRow:
    time: datetime
    site_id: str
    student_key: int
    zone_id: str | None
    gateway_id: str


@dataclass(frozen=True, slots=True)
class GatewayStatusRow:
    gateway_id: str
    state: str
    boot: int
    firmware: str
    uptime_s: float
    journal_depth: int
    scan_rate: float
    clock_offset_ms: int
    sent_at: datetime
    received_at: datetime


@dataclass(frozen=True, slots=True)
class ZoneInfo:
    zone_id: str
    kind: str
    floor: int | None
    polygon: tuple[tuple[float, float], ...] | None


@dataclass
class FlushContent:
    """Everything one ingest transaction writes."""

    batches: list[BatchKey]
    progress: dict[tuple[str, int], int]
    presence: list[PresenceRow]
    transitions: list[TransitionRow]
    current: list[CurrentState]
    taps: list[TapRow]
    statuses: list[GatewayStatusRow]
    dead_letters: list[DeadLetter]
    site_ticks: dict[str, int]


def load_gateways(
    conn: psycopg.Connection, sites: Sequence[str]
) -> tuple[dict[str, KnownGateway], dict[str, GatewayPlacement]]:
    rows = conn.execute(
        """SELECT gateway_id, site_id, public_key, revoked_at IS NOT NULL, kind, zone_id, x, y, floor,
                  rssi_at_1m, path_loss_exponent
           FROM gateways WHERE site_id = ANY(%s)""",
        (list(sites),),
    ).fetchall()
    known: dict[str, KnownGateway] = {}
    placements: dict[str, GatewayPlacement] = {}
    for gw, site, key, revoked, kind, zone, x, y, floor, rssi1m, ple in rows:
        known[gw] = KnownGateway(gw, site, Ed25519PublicKey.from_public_bytes(bytes(key)), revoked=revoked)
        placements[gw] = GatewayPlacement(gw, kind, zone, x, y, floor, rssi1m, ple)
    return known, placements


def load_badges(
    conn: psycopg.Connection,
    sites: Sequence[str],
    *,
    master_key: bytes,
    previous_master_keys: Sequence[bytes] = (),
) -> list[BadgeRecord]:
    """Active badges; rotating-id keys unwrapped with the master key that wrapped them (during a
    rotation, a previous one)."""
    keyring = MasterKeyring.of(master_key, previous_master_keys)
    rows = conn.execute(
        """SELECT s.student_key, b.kind, b.static_hash, b.eid_key_wrapped, b.eid_key_master_id, b.rotation_s
           FROM badges b JOIN students s USING (student_id)
           WHERE b.site_id = ANY(%s) AND b.revoked_at IS NULL""",
        (list(sites),),
    ).fetchall()
    badges = []
    unreadable = 0
    for student_key, kind, static_hash, wrapped, master_id, rotation_s in rows:
        eid_key = None
        if wrapped is not None:
            try:
                eid_key = keyring.unwrap(bytes(wrapped), purpose=EID_KEY_PURPOSE, wrapped_by=master_id)
            except KeyUnavailableError:
                # A wrong or missing master key must not stop every other badge
                # from resolving: this one is skipped, loudly.
                unreadable += 1
                continue
        badges.append(
            BadgeRecord(
                student_key=student_key,
                kind=SightingKind(kind),
                static_hash=bytes(static_hash) if static_hash is not None else None,
                eid_key=eid_key,
                rotation_s=rotation_s,
            )
        )
    if unreadable:
        log.error(
            "ingest.badge_keys_unreadable",
            badges=unreadable,
            hint="check master_key and previous_master_keys",
        )
    return badges


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


def _copy(
    conn: psycopg.Connection,
    table: str,
    columns: tuple[str, ...],
    types: list[str],
    rows: Iterable[tuple[object, ...]],
) -> None:
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def commit_flush(
    conn: psycopg.Connection, content: FlushContent, *, dead_letter_max_rows: int
) -> set[BatchKey]:
    """Commit one flush in one transaction; return the batches that were new.

    A batch already in ``ingest_batches`` (committed by an earlier life of this
    worker) is reported as not new: ``ON CONFLICT DO NOTHING ... RETURNING``.
    Rows derived from batches are written once per batch by construction: the
    in-memory ledger admits each batch once, and is loaded from these tables
    at start.
    """
    with conn.transaction():
        new: set[BatchKey] = set()
        if content.batches:
            gws, boots, seqs = zip(*content.batches, strict=True)
            cur = conn.execute(
                """INSERT INTO ingest_batches (gateway_id, boot, seq)
                   SELECT * FROM unnest(%s::text[], %s::int[], %s::bigint[])
                   ON CONFLICT DO NOTHING RETURNING gateway_id, boot, seq""",
                (list(gws), list(boots), list(seqs)),
            )
            new = {(gw, boot, seq) for gw, boot, seq in cur.fetchall()}
        if content.presence:
            _copy(
                conn,
                "presence",
                ("time", "site_id", "student_key", "zone_id", "source", "confidence", "gateway_id"),
                ["timestamptz", "text", "int8", "text", "text", "float4", "text"],
                (
                    (r.time, r.site_id, r.student_key, r.zone_id, r.source, r.confidence, r.gateway_id)
                    for r in content.presence
                ),
            )
        if content.transitions:
            _copy(
                conn,
                "zone_transitions",
                ("time", "site_id", "student_key", "from_zone", "to_zone", "confidence"),
                ["timestamptz", "text", "int8", "text", "text", "float4"],
                (
                    (t.time, t.site_id, t.student_key, t.from_zone, t.to_zone, t.confidence)
                    for t in content.transitions
                ),
            )
        if content.taps:
            _copy(
                conn,
                "attendance_taps",
                ("time", "site_id", "student_key", "zone_id", "gateway_id"),
                ["timestamptz", "text", "int8", "text", "text"],
                ((t.time, t.site_id, t.student_key, t.zone_id, t.gateway_id) for t in content.taps),
            )
        if content.current:
            c = content.current
            conn.execute(
                """INSERT INTO presence_current AS p
                       (student_key, site_id, zone_id, since, last_zone_id, last_seen, confidence, updated_at)
                   SELECT *, now() FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[], %s::text[],
                                               %s::timestamptz[], %s::real[])
                   ON CONFLICT (student_key) DO UPDATE SET
                     site_id = EXCLUDED.site_id, zone_id = EXCLUDED.zone_id, since = EXCLUDED.since,
                     last_zone_id = EXCLUDED.last_zone_id, last_seen = EXCLUDED.last_seen,
                     confidence = EXCLUDED.confidence, updated_at = now()""",
                (
                    [x.student_key for x in c],
                    [x.site_id for x in c],
                    [x.zone_id for x in c],
                    [x.since for x in c],
                    [x.last_zone_id for x in c],
                    [x.last_seen for x in c],
                    [x.confidence for x in c],
                ),
            )
        if content.progress:
            keys = list(content.progress)
            conn.execute(
                """INSERT INTO gateway_progress AS p (gateway_id, boot, hwm)
                   SELECT * FROM unnest(%s::text[], %s::int[], %s::bigint[])
                   ON CONFLICT (gateway_id, boot) DO UPDATE
                   SET hwm = GREATEST(p.hwm, EXCLUDED.hwm), updated_at = now()""",
                ([k[0] for k in keys], [k[1] for k in keys], [content.progress[k] for k in keys]),
            )
        if content.site_ticks:
            conn.execute(
                """INSERT INTO site_progress AS p (site_id, last_tick_ms)
                   SELECT * FROM unnest(%s::text[], %s::bigint[])
                   ON CONFLICT (site_id) DO UPDATE
                   SET last_tick_ms = GREATEST(p.last_tick_ms, EXCLUDED.last_tick_ms), updated_at = now()""",
                (list(content.site_ticks), list(content.site_ticks.values())),
            )
        for st in content.statuses:
            conn.execute(
                """INSERT INTO gateway_status (gateway_id, state, boot, firmware, uptime_s, journal_depth, scan_rate,
                                              clock_offset_ms, sent_at, received_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (gateway_id) DO UPDATE SET state = EXCLUDED.state, boot = EXCLUDED.boot,
                     firmware = EXCLUDED.firmware, uptime_s = EXCLUDED.uptime_s, journal_depth = EXCLUDED.journal_depth,
                     scan_rate = EXCLUDED.scan_rate, clock_offset_ms = EXCLUDED.clock_offset_ms,
                     sent_at = EXCLUDED.sent_at, received_at = EXCLUDED.received_at
                   WHERE gateway_status.sent_at <= EXCLUDED.sent_at""",
                (
                    st.gateway_id,
                    st.state,
                    st.boot,
                    st.firmware,
                    st.uptime_s,
                    st.journal_depth,
                    st.scan_rate,
                    st.clock_offset_ms,
                    st.sent_at,
                    st.received_at,
                ),
            )
        if content.dead_letters:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO dead_letters (topic, reason, detail, gateway_id, payload) VALUES (%s, %s, %s, %s, %s)",
                    [
                        (d.topic, d.reason, d.detail[:1000], d.gateway_id, d.payload[:4096])
                        for d in content.dead_letters
                    ],
                )
            conn.execute(
                "DELETE FROM dead_letters WHERE id <= (SELECT max(id) - %s FROM dead_letters)",
                (dead_letter_max_rows,),
            )
    return new


def load_zones(conn: psycopg.Connection, sites: Sequence[str]) -> dict[str, dict[str, ZoneInfo]]:
    """Zones per site, with the exterior ring of polygon geometries (for reader claim radii)."""
    out: dict[str, dict[str, ZoneInfo]] = {site: {} for site in sites}
    for site, zone_id, kind, floor, geometry in conn.execute(
        "SELECT site_id, zone_id, kind, floor, geometry FROM zones WHERE site_id = ANY(%s)", (list(sites),)
    ):
        polygon = None
        if isinstance(geometry, dict) and geometry.get("type") == "Polygon" and geometry.get("coordinates"):
            polygon = tuple((float(x), float(y)) for x, y, *_ in geometry["coordinates"][0])
        out[site][zone_id] = ZoneInfo(zone_id, kind, floor, polygon)
    return out


def load_current(conn: psycopg.Connection, sites: Sequence[str]) -> list[CurrentState]:
    rows = conn.execute(
        """SELECT student_key, site_id, zone_id, since, last_zone_id, last_seen, confidence
           FROM presence_current WHERE site_id = ANY(%s)""",
        (list(sites),),
    ).fetchall()
    return [CurrentState(*row) for row in rows]


def load_site_ticks(conn: psycopg.Connection, sites: Sequence[str]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT site_id, last_tick_ms FROM site_progress WHERE site_id = ANY(%s)", (list(sites),)
    )
    return dict(rows)


def load_offline_gateways(conn: psycopg.Connection, sites: Sequence[str]) -> set[str]:
    rows = conn.execute(
        """SELECT s.gateway_id FROM gateway_status s JOIN gateways g USING (gateway_id)
           WHERE g.site_id = ANY(%s) AND s.state = 'offline'""",
        (list(sites),),
    )
    return {r[0] for r in rows}


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
