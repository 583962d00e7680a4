"""Assets from what the pipeline observes (issue 5): when an asset's host was first and last
seen in the event store, and what its events said about it (names, addresses, OS, sending
applications).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD/DROP COLUMN (SQLite >= 3.35 too), as 0007: a batch copy of intel_assets would drop
    # the table and, foreign keys on, cascade the delete to the warnings and exposures of its assets
    op.add_column('intel_assets', sa.Column('first_seen', sa.DateTime(timezone=True), nullable=True))
    op.add_column('intel_assets', sa.Column('last_seen', sa.DateTime(timezone=True), nullable=True))
    op.add_column('intel_assets', sa.Column('observed', sa.JSON(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE intel_assets DROP COLUMN observed")
    op.execute("ALTER TABLE intel_assets DROP COLUMN last_seen")
    op.execute("ALTER TABLE intel_assets DROP COLUMN first_seen")
