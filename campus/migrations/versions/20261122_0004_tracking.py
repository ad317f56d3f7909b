"""Zone tracking: transitions, current state per student, door taps kept as attendance evidence, gateway status.

Revision ID: 20261122_0004
Revises: 20261122_0001
Create Date: 2026-11-22
"""

from alembic import op

revision = "20261122_0004"
down_revision = "20261122_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- Zone changes decided by ingest's hysteresis. to_zone NULL: whereabouts unknown.
    CREATE TABLE zone_transitions (
        time        timestamptz NOT NULL,
        site_id     text NOT NULL,
        student_key bigint NOT NULL,
        from_zone   text,
        to_zone     text,
        confidence  real NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX zone_transitions_time ON zone_transitions (time);
    CREATE INDEX zone_transitions_student ON zone_transitions (student_key, time);

    -- One row per tracked student: serves live rosters and evacuation lists
    -- (a full roster reads in milliseconds; the hypertable would take 50-300 ms).
    CREATE TABLE presence_current (
        student_key  bigint PRIMARY KEY,
        site_id      text NOT NULL,
        zone_id      text,
        since        timestamptz NOT NULL,
        last_zone_id text,
        last_seen    timestamptz,
        confidence   real NOT NULL,
        updated_at   timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX presence_current_site_zone ON presence_current (site_id, zone_id);

    -- Door taps of students whose families consented to automatic attendance.
    -- For a student without location consent this is all that is kept.
    CREATE TABLE attendance_taps (
        time        timestamptz NOT NULL,
        site_id     text NOT NULL,
        student_key bigint NOT NULL,
        zone_id     text,
        gateway_id  text NOT NULL
    );
    CREATE INDEX attendance_taps_student ON attendance_taps (student_key, time);
    CREATE INDEX attendance_taps_time ON attendance_taps (time);

    -- The last evaluation committed per site: after a restart, evaluation
    -- resumes strictly after it, so no sample or transition is written twice.
    CREATE TABLE site_progress (
        site_id      text PRIMARY KEY,
        last_tick_ms bigint NOT NULL,
        updated_at   timestamptz NOT NULL DEFAULT now()
    );

    -- The latest verified status message of each gateway.
    CREATE TABLE gateway_status (
        gateway_id    text PRIMARY KEY,
        state         text NOT NULL CHECK (state IN ('online', 'offline')),
        boot          integer NOT NULL,
        firmware      text NOT NULL,
        uptime_s      double precision NOT NULL,
        journal_depth integer NOT NULL,
        scan_rate     double precision NOT NULL,
        clock_offset_ms integer NOT NULL,
        sent_at       timestamptz NOT NULL,
        received_at   timestamptz NOT NULL
    );
    """)


def downgrade() -> None:
    op.execute(
        "DROP TABLE gateway_status, site_progress, attendance_taps, presence_current, zone_transitions"
    )
