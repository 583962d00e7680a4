"""Intel assets: NVD applicability (CVE records and their product index), internet exposure
found by scans, early warnings of two kinds (KEV, exposure) raised as alerts (issue 5).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD/DROP COLUMN (SQLite >= 3.35 too): a batch copy of intel_assets would drop the
    # table and, foreign keys on, cascade the delete to the warnings that reference it
    op.add_column('intel_assets', sa.Column('source', sa.String(length=20), server_default=sa.text("'csv'"),
                                            nullable=False))
    op.add_column('intel_assets', sa.Column('exposure_seen', sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        'intel_exposures',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('asset_id', sa.Integer(), nullable=False),
        sa.Column('ip', sa.String(length=45), nullable=False),
        sa.Column('port', sa.Integer(), nullable=False),
        sa.Column('transport', sa.String(length=4), nullable=False),
        sa.Column('service', sa.String(length=100), nullable=False),
        sa.Column('product', sa.String(length=200), nullable=False),
        sa.Column('version', sa.String(length=100), nullable=False),
        sa.Column('cpe', sa.String(length=500), nullable=False),
        sa.Column('risk', sa.String(length=40), nullable=False),
        sa.Column('severity', sa.String(length=20), nullable=False),
        sa.Column('cves', sa.JSON(), nullable=False),
        sa.Column('source', sa.String(length=20), nullable=False),
        sa.Column('open', sa.Boolean(), nullable=False),
        sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['asset_id'], ['intel_assets.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('asset_id', 'ip', 'port', 'transport', name='intel_exposures_unique'),
    )
    op.create_index('ix_intel_exposures_tenant_id', 'intel_exposures', ['tenant_id'])
    op.create_index('ix_intel_exposures_asset_id', 'intel_exposures', ['asset_id'])
    op.create_table(
        'intel_cves',
        sa.Column('cve_id', sa.String(length=30), nullable=False),
        sa.Column('published', sa.String(length=30), nullable=False),
        sa.Column('last_modified', sa.String(length=30), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('severity', sa.String(length=12), nullable=False),
        sa.Column('score', sa.Float(), nullable=True),
        sa.Column('configurations', sa.JSON(), nullable=False),
        sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('cve_id'),
    )
    op.create_table(
        'intel_cve_products',
        sa.Column('cve_id', sa.String(length=30), nullable=False),
        sa.Column('vendor', sa.String(length=200), nullable=False),
        sa.Column('product', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['cve_id'], ['intel_cves.cve_id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('cve_id', 'vendor', 'product'),
    )
    op.create_index('intel_cve_products_name', 'intel_cve_products', ['vendor', 'product'])
    with op.batch_alter_table('intel_warnings') as batch:
        batch.alter_column('cve_id', existing_type=sa.String(length=30), nullable=True)
        batch.add_column(sa.Column('kind', sa.String(length=12), server_default=sa.text("'kev'"), nullable=False))
        batch.add_column(sa.Column('exposure_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('level', sa.String(length=20), server_default=sa.text("'medium'"),
                                   nullable=False))
        batch.add_column(sa.Column('detail', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('alert_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('updated', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('note', sa.String(length=500), server_default=sa.text("''"), nullable=False))
        batch.create_foreign_key('intel_warnings_exposure_fk', 'intel_exposures', ['exposure_id'], ['id'],
                                 ondelete='CASCADE')
        batch.create_unique_constraint('intel_warnings_exposure', ['exposure_id'])


def downgrade() -> None:
    op.execute("DELETE FROM intel_warnings WHERE cve_id IS NULL")  # exposure warnings have no place before
    with op.batch_alter_table('intel_warnings') as batch:
        batch.drop_constraint('intel_warnings_exposure', type_='unique')
        batch.drop_constraint('intel_warnings_exposure_fk', type_='foreignkey')
        for name in ('note', 'updated', 'alert_id', 'detail', 'level', 'exposure_id', 'kind'):
            batch.drop_column(name)
        batch.alter_column('cve_id', existing_type=sa.String(length=30), nullable=False)
    op.drop_index('intel_cve_products_name', table_name='intel_cve_products')
    op.drop_table('intel_cve_products')
    op.drop_table('intel_cves')
    op.drop_index('ix_intel_exposures_asset_id', table_name='intel_exposures')
    op.drop_index('ix_intel_exposures_tenant_id', table_name='intel_exposures')
    op.drop_table('intel_exposures')
    op.execute("ALTER TABLE intel_assets DROP COLUMN exposure_seen")
    op.execute("ALTER TABLE intel_assets DROP COLUMN source")
