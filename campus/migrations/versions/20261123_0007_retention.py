"""Retention, backups and breach records.

Revision ID: 20261123_0007_retention
Revises: 20261123_0006_privacy
Create Date: 2026-11-23
"""

from alembic import op

revision = "20261123_0007"
down_revision = "20261123_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    -- One row per retention sweep: what it removed, as counts per table (never content).
    CREATE TABLE retention_runs (
        run_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        started_at  timestamptz NOT NULL,
        finished_at timestamptz NOT NULL,
        trigger     text NOT NULL CHECK (trigger IN ('command', 'scheduler')),
        removed     jsonb NOT NULL DEFAULT '{}',   -- table -> rows removed
        unfinished  jsonb NOT NULL DEFAULT '[]',   -- tables with expired rows left for the next sweep
        skipped     jsonb NOT NULL DEFAULT '{}',   -- table -> why it was not swept
        error       text
    );
    CREATE INDEX retention_runs_started ON retention_runs (started_at);

    -- Unusual access found in the audit log. Published on the privacy alerts
    -- topic after commit; published_at stays NULL until the broker took it.
    CREATE TABLE privacy_findings (
        finding_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        rule         text NOT NULL,
        dedupe_key   text NOT NULL,
        actor        text NOT NULL,
        actor_role   text NOT NULL,
        first_seq    bigint NOT NULL,
        last_seq     bigint NOT NULL,
        first_at     timestamptz NOT NULL,
        last_at      timestamptz NOT NULL,
        students     integer NOT NULL CHECK (students >= 0),
        summary      text NOT NULL,
        detected_at  timestamptz NOT NULL,
        published_at timestamptz,
        UNIQUE (rule, dedupe_key)
    );
    CREATE INDEX privacy_findings_actor ON privacy_findings (rule, actor, last_at);
    CREATE INDEX privacy_findings_unpublished ON privacy_findings (finding_id) WHERE published_at IS NULL;

    -- Where the breach scan stopped in the audit log.
    CREATE TABLE privacy_scan_state (
        name      text PRIMARY KEY,
        last_seq  bigint NOT NULL,
        scanned_at timestamptz NOT NULL
    );

    -- Personal-data breaches: awareness starts the regulator's 72-hour clock;
    -- families are told without undue delay.
    CREATE TABLE breaches (
        breach_id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        summary               text NOT NULL,
        aware_at              timestamptz NOT NULL,
        opened_at             timestamptz NOT NULL,
        opened_by             text NOT NULL,
        finding_ids           bigint[] NOT NULL DEFAULT '{}',
        regulator_deadline    timestamptz NOT NULL,
        regulator_notified_at timestamptz,
        families_notified_at  timestamptz,
        status                text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
        closed_at             timestamptz,
        closed_by             text,
        closing_note          text,
        CHECK ((status = 'closed') = (closed_at IS NOT NULL))
    );
    """)


def downgrade() -> None:
    op.execute("DROP TABLE breaches, privacy_scan_state, privacy_findings, retention_runs")
