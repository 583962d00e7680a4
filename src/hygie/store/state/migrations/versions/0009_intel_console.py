"""Intel console and API additions (issue 5): a feed's encrypted credential (MISP API key or
TAXII password given in the console) and its TAXII ``added_after`` cursor.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('intel_feeds') as batch:
        batch.add_column(sa.Column('credential', sa.Text(), nullable=True))
        batch.add_column(sa.Column('cursor', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('intel_feeds') as batch:
        batch.drop_column('cursor')
        batch.drop_column('credential')
