"""All SQL of the simulator: its site marker, roster look-ups, resets, and delivery accounting.

Everything that deletes is scoped to one site, and callers only reach it for
a site the simulator created (``sites.name`` starts with ``SIM_SITE_PREFIX``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import psycopg

__all__ = [
    "SIM_SITE_PREFIX",
    "committed_batches",
    "delete_gateways_except",
    "delete_roster",
    "duplicate_rows",
    "granted_consents",
    "lease_is_free",
    "live_ingest_instance",
    "presence_samples",
    "reset_tracking",
    "rfid_students",
    "site_name",
    "student_count",
    "upsert_site",
]

SIM_SITE_PREFIX = "Simulated campus"
# An ingest worker writes its heartbeat every 2 s; one silent for this long is gone.
LIVE_HEARTBEAT_S = 10


def site_name(conn: psycopg.Connection, site_id: str) -> str | None:
    row = conn.execute("SELECT name FROM sites WHERE site_id = %s", (site_id,)).fetchone()
    return None if row is None else str(row[0])


def upsert_site(conn: psycopg.Connection, *, site_id: str, name: str) -> None:
    conn.execute(
        """INSERT INTO sites (site_id, name) VALUES (%s, %s)
           ON CONFLICT (site_id) DO UPDATE SET name = EXCLUDED.name""",
        (site_id, name),
    )


def delete_gateways_except(conn: psycopg.Connection, *, site_id: str, keep: Sequence[str]) -> int:
    """Remove the site's gateways that the current campus no longer has."""
    cur = conn.execute(
        "DELETE FROM gateways WHERE site_id = %s AND NOT (gateway_id = ANY(%s))", (site_id, list(keep))
    )
    return cur.rowcount


def student_count(conn: psycopg.Connection, site_id: str) -> int:
    row = conn.execute("SELECT count(*) FROM students WHERE site_id = %s", (site_id,)).fetchone()
    return int(row[0]) if row else 0


def rfid_students(conn: psycopg.Connection, site_id: str) -> dict[bytes, tuple[UUID, int, int | None]]:
    """Active RFID cards of the site: keyed hash -> (student id, student key, year group)."""
    rows = conn.execute(
        """SELECT b.static_hash, s.student_id, s.student_key, s.year_group
           FROM badges b JOIN students s USING (student_id)
           WHERE b.site_id = %s AND b.kind = 'rfid' AND b.revoked_at IS NULL""",
        (site_id,),
    ).fetchall()
    return {bytes(h): (sid, int(key), year) for h, sid, key, year in rows}


def granted_consents(conn: psycopg.Connection, site_id: str) -> dict[UUID, set[str]]:
    """Purposes currently granted, per student of the site."""
    out: dict[UUID, set[str]] = {}
    for student_id, purpose in conn.execute(
        """SELECT c.student_id, c.purpose FROM consents c JOIN students s USING (student_id)
           WHERE s.site_id = %s AND c.granted""",
        (site_id,),
    ):
        out.setdefault(student_id, set()).add(purpose)
    return out


def delete_roster(conn: psycopg.Connection, site_id: str) -> int:
    """Remove the site's students (badges, consents and personal fields cascade) and their location rows."""
    reset_tracking(conn, site_id=site_id, since=None)
    cur = conn.execute("DELETE FROM students WHERE site_id = %s", (site_id,))
    return cur.rowcount


def reset_tracking(conn: psycopg.Connection, *, site_id: str, since: datetime | None) -> dict[str, int]:
    """Forget the site's live tracking state, and its history from ``since`` on (all of it if None).

    Live state: current zones, the evaluation high-water mark, the gateways'
    last status (a stale "offline" would blind the new run's readers).
    """
    removed: dict[str, int] = {}
    for table in ("presence_current", "site_progress"):
        removed[table] = conn.execute(f"DELETE FROM {table} WHERE site_id = %s", (site_id,)).rowcount
    removed["gateway_status"] = conn.execute(
        "DELETE FROM gateway_status WHERE gateway_id IN (SELECT gateway_id FROM gateways WHERE site_id = %s)",
        (site_id,),
    ).rowcount
    for table in ("presence", "zone_transitions", "attendance_taps"):
        if since is None:
            cur = conn.execute(f"DELETE FROM {table} WHERE site_id = %s", (site_id,))
        else:
            cur = conn.execute(f"DELETE FROM {table} WHERE site_id = %s AND time >= %s", (site_id, since))
        removed[table] = cur.rowcount
    return removed


def live_ingest_instance(conn: psycopg.Connection, site_id: str) -> str | None:
    """An ingest worker that serves the site and wrote its heartbeat within ``LIVE_HEARTBEAT_S``."""
    row = conn.execute(
        """SELECT instance FROM service_heartbeats
           WHERE service = 'ingest' AND seen_at > now() - make_interval(secs => %s)
             AND stats -> 'sites' ? %s
           ORDER BY seen_at DESC LIMIT 1""",
        (LIVE_HEARTBEAT_S, site_id),
    ).fetchone()
    return None if row is None else str(row[0])


def lease_is_free(conn: psycopg.Connection, site_id: str) -> bool:
    """Whether no ingest worker holds the site's lease (ingest.service's advisory lock); takes nothing."""
    row = conn.execute(
        "SELECT pg_try_advisory_lock(hashtext('campus-ingest'), hashtext(%s))", (site_id,)
    ).fetchone()
    if not (row and row[0]):
        return False
    conn.execute("SELECT pg_advisory_unlock(hashtext('campus-ingest'), hashtext(%s))", (site_id,))
    return True


def committed_batches(conn: psycopg.Connection, gateway_ids: Sequence[str]) -> dict[tuple[str, int], int]:
    """(gateway, boot) -> batches committed by ingest: the high-water mark plus committed seqs above it."""
    rows = conn.execute(
        """SELECT p.gateway_id, p.boot, p.hwm, count(b.seq)
           FROM gateway_progress p
           LEFT JOIN ingest_batches b ON b.gateway_id = p.gateway_id AND b.boot = p.boot AND b.seq > p.hwm
           WHERE p.gateway_id = ANY(%s)
           GROUP BY 1, 2, 3""",
        (list(gateway_ids),),
    ).fetchall()
    return {(gw, int(boot)): int(hwm) + int(above) for gw, boot, hwm, above in rows}


def duplicate_rows(conn: psycopg.Connection, *, site_id: str, since: datetime, until: datetime) -> int:
    """Presence rows and transitions stored twice in a time range.

    A presence row is stored twice when student, time, source and gateway
    repeat (two gateways hearing one advert is two pieces of evidence, not a
    duplicate); a transition when student and time repeat.
    """
    presence = conn.execute(
        """SELECT count(*) FROM (SELECT 1 FROM presence WHERE site_id = %s AND time >= %s AND time <= %s
           GROUP BY student_key, time, source, gateway_id HAVING count(*) > 1) d""",
        (site_id, since, until),
    ).fetchone()
    transitions = conn.execute(
        """SELECT count(*) FROM (SELECT 1 FROM zone_transitions WHERE site_id = %s AND time >= %s AND time <= %s
           GROUP BY student_key, time HAVING count(*) > 1) d""",
        (site_id, since, until),
    ).fetchone()
    return (int(presence[0]) if presence else 0) + (int(transitions[0]) if transitions else 0)


def presence_samples(
    conn: psycopg.Connection, *, site_id: str, since: datetime, until: datetime
) -> list[tuple[int, datetime, str | None]]:
    """(student key, time, zone) of the site's presence rows in a time range (for accuracy checks)."""
    rows = conn.execute(
        """SELECT student_key, time, zone_id FROM presence
           WHERE site_id = %s AND time >= %s AND time <= %s ORDER BY time""",
        (site_id, since, until),
    ).fetchall()
    return [(int(k), t, z) for k, t, z in rows]
