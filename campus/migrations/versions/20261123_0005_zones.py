"""Zones: hierarchy, floors, schedules, georeference; ingest reloads when zones change.

Revision ID: 20261123_0005_zones
Revises: 20261122_0004
Create Date: 2026-11-23
"""

from alembic import op

revision = "20261123_0005"
down_revision = "20261122_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- The file format's rules that the database can hold on its own (zones.geometry.check does the rest).
    ALTER TABLE zones
        ADD CONSTRAINT zones_geometry_type CHECK (geometry->>'type' IN ('Polygon', 'MultiPolygon')),
        ADD CONSTRAINT zones_not_own_parent CHECK (parent_id IS NULL OR parent_id <> zone_id),
        -- Deferred: an import replaces a site's zones in one transaction, children and parents in any order.
        ADD CONSTRAINT zones_parent FOREIGN KEY (site_id, parent_id) REFERENCES zones (site_id, zone_id)
            DEFERRABLE INITIALLY DEFERRED;

    -- When a zone is allowed or restricted, for which groups (empty: every student).
    -- Minutes after local midnight; start inclusive, end exclusive, same day.
    CREATE TABLE zone_schedules (
        site_id      text NOT NULL,
        zone_id      text NOT NULL,
        position     smallint NOT NULL CHECK (position >= 0),
        days         text[] NOT NULL
            CHECK (cardinality(days) > 0 AND days <@ ARRAY['mon','tue','wed','thu','fri','sat','sun']),
        start_minute smallint NOT NULL CHECK (start_minute >= 0),
        end_minute   smallint NOT NULL CHECK (end_minute > start_minute AND end_minute <= 1440),
        restricted   boolean NOT NULL,
        groups       text[] NOT NULL DEFAULT '{}',
        PRIMARY KEY (site_id, zone_id, position),
        FOREIGN KEY (site_id, zone_id) REFERENCES zones ON DELETE CASCADE
    );

    -- Where a site's local frame sits on the globe (optional).
    CREATE TABLE site_georeferences (
        site_id      text PRIMARY KEY REFERENCES sites ON DELETE CASCADE,
        origin_lat   double precision NOT NULL CHECK (origin_lat > -90 AND origin_lat < 90),
        origin_lon   double precision NOT NULL CHECK (origin_lon BETWEEN -180 AND 180),
        rotation_deg double precision NOT NULL DEFAULT 0 CHECK (rotation_deg > -360 AND rotation_deg < 360)
    );

    -- Ingest reads zones with gateways (reader claim radii): tell it when they change.
    CREATE TRIGGER zones_notify AFTER INSERT OR UPDATE OR DELETE ON zones
        FOR EACH STATEMENT EXECUTE FUNCTION notify_directory_change();
    """)


def downgrade() -> None:
    op.execute("""
    DROP TRIGGER zones_notify ON zones;
    DROP TABLE site_georeferences, zone_schedules;
    ALTER TABLE zones
        DROP CONSTRAINT zones_parent,
        DROP CONSTRAINT zones_not_own_parent,
        DROP CONSTRAINT zones_geometry_type;
    """)
