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
    op.execute("SELECT 1")


def downgrade() -> None:
    op.execute("SELECT 1")
