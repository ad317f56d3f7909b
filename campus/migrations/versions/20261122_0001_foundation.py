"""Foundation schema: sites, zones, gateways, students, badges, consent, presence, ingest ledger.

Revision ID: 20261122_0001
Revises:
Create Date: 2026-11-22
"""

from alembic import op

revision = "20261122_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    op.execute("""
    CREATE TABLE sites (
        site_id     text PRIMARY KEY CHECK (site_id ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
        name        text NOT NULL,
        timezone    text NOT NULL DEFAULT 'UTC',
        created_at  timestamptz NOT NULL DEFAULT now()
    );

    -- Geofences in site-local metres; geometry is a GeoJSON geometry object.
    CREATE TABLE zones (
        site_id     text NOT NULL REFERENCES sites ON DELETE CASCADE,
        zone_id     text NOT NULL,
        name        text NOT NULL,
        kind        text NOT NULL,
        building    text,
        floor       integer,
        capacity    integer CHECK (capacity IS NULL OR capacity >= 0),
        parent_id   text,
        geometry    jsonb NOT NULL,
        properties  jsonb NOT NULL DEFAULT '{}',
        PRIMARY KEY (site_id, zone_id)
    );

    CREATE TABLE gateways (
        gateway_id  text PRIMARY KEY,
        site_id     text NOT NULL REFERENCES sites,
        public_key  bytea NOT NULL CHECK (length(public_key) = 32),
        kind        text NOT NULL DEFAULT 'ble' CHECK (kind IN ('ble', 'rfid', 'ble+rfid')),
        zone_id     text,
        x           double precision,
        y           double precision,
        floor       integer,
        -- Radio calibration: expected RSSI at 1 m and log-distance path-loss exponent.
        rssi_at_1m  real NOT NULL DEFAULT -59,
        path_loss_exponent real NOT NULL DEFAULT 2.2,
        enrolled_at timestamptz NOT NULL DEFAULT now(),
        revoked_at  timestamptz
    );
    CREATE INDEX gateways_site ON gateways (site_id);

    -- Students carry no name or contact here: personal fields are encrypted
    -- elsewhere (privacy). student_key is the keyed pseudonym that presence
    -- and transitions store instead of the student id.
    CREATE TABLE students (
        student_id  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        site_id     text NOT NULL REFERENCES sites,
        student_key bigint NOT NULL UNIQUE,
        year_group  smallint,
        created_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX students_site ON students (site_id);

    -- A rotating-id badge stores its identity key wrapped by the master key;
    -- static identifiers (RFID cards, iBeacon, Eddystone-UID) are stored only
    -- as the keyed hash gateways send.
    CREATE TABLE badges (
        badge_id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        site_id         text NOT NULL REFERENCES sites,
        student_id      uuid REFERENCES students ON DELETE CASCADE,
        kind            text NOT NULL CHECK (kind IN ('ble-eid', 'ble-ibeacon', 'ble-uid', 'rfid')),
        static_hash     bytea UNIQUE CHECK (static_hash IS NULL OR length(static_hash) = 16),
        eid_key_wrapped bytea,
        rotation_s      integer CHECK (rotation_s IS NULL OR rotation_s BETWEEN 60 AND 86400),
        issued_at       timestamptz NOT NULL DEFAULT now(),
        revoked_at      timestamptz,
        CHECK ((kind = 'ble-eid') = (eid_key_wrapped IS NOT NULL AND rotation_s IS NOT NULL)),
        CHECK ((kind = 'ble-eid') = (static_hash IS NULL))
    );
    CREATE INDEX badges_student ON badges (student_id);

    -- Consent: off unless a current row says granted. consent_events is the
    -- full history; consents is the current state, kept by the same transaction.
    CREATE TABLE consent_purposes (
        purpose       text PRIMARY KEY,
        description   text NOT NULL,
        lawful_basis  text NOT NULL
    );
    INSERT INTO consent_purposes (purpose, description, lawful_basis) VALUES
      ('location_tracking',
       'Where your child is on the school site, room by room, used for live rosters and emergency evacuation.',
       'consent'),
      ('automatic_attendance',
       'Marking your child present in lessons automatically from door taps and the timetable.',
       'consent');

    CREATE TABLE consents (
        student_id  uuid NOT NULL REFERENCES students ON DELETE CASCADE,
        purpose     text NOT NULL REFERENCES consent_purposes,
        granted     boolean NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (student_id, purpose)
    );
    CREATE TABLE consent_events (
        event_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        student_id  uuid NOT NULL REFERENCES students ON DELETE CASCADE,
        purpose     text NOT NULL REFERENCES consent_purposes,
        granted     boolean NOT NULL,
        actor       text NOT NULL,
        actor_role  text NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        note        text
    );
    CREATE INDEX consent_events_student ON consent_events (student_id, recorded_at);

    -- Ingest is told of consent changes within a second (LISTEN campus_consent).
    CREATE FUNCTION notify_consent_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('campus_consent', COALESCE(NEW.student_id, OLD.student_id)::text);
        RETURN NULL;
    END $$;
    CREATE TRIGGER consents_notify AFTER INSERT OR UPDATE OR DELETE ON consents
        FOR EACH ROW EXECUTE FUNCTION notify_consent_change();

    -- Ingest reloads gateways and badges when they change (LISTEN campus_directory).
    CREATE FUNCTION notify_directory_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('campus_directory', TG_TABLE_NAME);
        RETURN NULL;
    END $$;
    CREATE TRIGGER gateways_notify AFTER INSERT OR UPDATE OR DELETE ON gateways
        FOR EACH STATEMENT EXECUTE FUNCTION notify_directory_change();
    CREATE TRIGGER badges_notify AFTER INSERT OR UPDATE OR DELETE ON badges
        FOR EACH STATEMENT EXECUTE FUNCTION notify_directory_change();

    -- Presence history. One-hour chunks: retention drops whole chunks, so no
    -- row outlives its window by more than an hour.
    CREATE TABLE presence (
        time        timestamptz NOT NULL,
        site_id     text NOT NULL,
        student_key bigint NOT NULL,
        zone_id     text,
        source      text NOT NULL,
        confidence  real NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
        gateway_id  text
    );
    SELECT create_hypertable('presence', by_range('time', INTERVAL '1 hour'));
    CREATE INDEX presence_student_time ON presence (student_key, time DESC);

    -- End-to-end acknowledgement. Every seq <= hwm of (gateway, boot) is
    -- committed; committed seqs above it (arrived out of order) are listed in
    -- ingest_batches until the high-water mark passes them. Updated in the
    -- same transaction as the rows the batches produced.
    CREATE TABLE gateway_progress (
        gateway_id  text NOT NULL,
        boot        integer NOT NULL,
        hwm         bigint NOT NULL CHECK (hwm >= 0),
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (gateway_id, boot)
    );
    CREATE TABLE ingest_batches (
        gateway_id  text NOT NULL,
        boot        integer NOT NULL,
        seq         bigint NOT NULL,
        committed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (gateway_id, boot, seq)
    );

    -- Rejected messages, bounded, for an operator to inspect.
    CREATE TABLE dead_letters (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        received_at timestamptz NOT NULL DEFAULT now(),
        topic       text NOT NULL,
        reason      text NOT NULL,
        detail      text NOT NULL,
        gateway_id  text,
        payload     bytea
    );
    CREATE INDEX dead_letters_received ON dead_letters (received_at);

    -- Liveness and counters of each running service instance.
    CREATE TABLE service_heartbeats (
        service     text NOT NULL,
        instance    text NOT NULL,
        started_at  timestamptz NOT NULL,
        seen_at     timestamptz NOT NULL,
        stats       jsonb NOT NULL DEFAULT '{}',
        PRIMARY KEY (service, instance)
    );
    """)


def downgrade() -> None:
    op.execute("""
    DROP TABLE service_heartbeats, dead_letters, ingest_batches, gateway_progress, presence,
               consent_events, consents, consent_purposes, badges, students, gateways, zones, sites;
    DROP FUNCTION notify_consent_change();
    DROP FUNCTION notify_directory_change();
    """)
