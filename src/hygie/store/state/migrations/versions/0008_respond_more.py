"""Response additions (issue 6): what the analyst adds to a NIS 2 significant incident for the
reports (contact, threat type and root cause, status, measures still in progress, other
declarations...), as one JSON object per incident (``respond/templates/nis2_fields.json``
names its keys).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD/DROP COLUMN (SQLite >= 3.35 too): a batch copy of nis2_incidents would drop the
    # table and, foreign keys on, cascade the delete to its reports
    op.add_column('nis2_incidents', sa.Column('details', sa.JSON(), server_default=sa.text("'{}'"), nullable=False))


def downgrade() -> None:
    op.drop_column('nis2_incidents', 'details')
