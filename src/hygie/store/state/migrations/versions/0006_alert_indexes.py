"""Covering indexes for the console's overview and queue (benchmarks/console.py): the grouped
counts of the overview and the queue's filters read the index only, not the alert rows (which
carry the event JSON and are large).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

COLUMNS = ["level", "status", "rule_id", "host"]


def upgrade() -> None:
    op.drop_index("alerts_tenant_time", table_name="alerts")
    op.create_index("alerts_tenant_time", "alerts", ["tenant_id", "last_seen", *COLUMNS])
    op.create_index("alerts_time", "alerts", ["last_seen", "tenant_id", *COLUMNS])


def downgrade() -> None:
    op.drop_index("alerts_time", table_name="alerts")
    op.drop_index("alerts_tenant_time", table_name="alerts")
    op.create_index("alerts_tenant_time", "alerts", ["tenant_id", "last_seen"])
