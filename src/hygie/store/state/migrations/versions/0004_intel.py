"""intel: feeds, indicators, sightings, sharing consent, assets, KEV catalog, early warnings

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'intel_feeds',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=True),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('location', sa.String(length=2000), nullable=False),
        sa.Column('options', sa.JSON(), nullable=False),
        sa.Column('schedule_minutes', sa.Integer(), nullable=True),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_run', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_success', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('indicator_count', sa.Integer(), nullable=False),
        sa.Column('problem_count', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_intel_feeds_tenant_id', 'intel_feeds', ['tenant_id'])
    op.create_table(
        'intel_indicators',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('feed_id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=True),
        sa.Column('type', sa.String(length=10), nullable=False),
        sa.Column('value', sa.String(length=2048), nullable=False),
        sa.Column('confidence', sa.Integer(), nullable=False),
        sa.Column('tlp', sa.String(length=12), nullable=False),
        sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires', sa.DateTime(timezone=True), nullable=True),
        sa.Column('description', sa.String(length=500), nullable=False),
        sa.Column('tags', sa.JSON(), nullable=False),
        sa.Column('ref', sa.String(length=200), nullable=False),
        sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['feed_id'], ['intel_feeds.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('feed_id', 'type', 'value', name='intel_indicators_unique'),
    )
    op.create_index('ix_intel_indicators_tenant_id', 'intel_indicators', ['tenant_id'])
    op.create_index('intel_indicators_value', 'intel_indicators', ['type', 'value'])
    op.create_index('intel_indicators_updated', 'intel_indicators', ['updated'])
    op.create_table(
        'intel_sightings',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('indicator_id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('record_key', sa.String(length=64), nullable=False),
        sa.Column('field', sa.String(length=200), nullable=False),
        sa.Column('seen', sa.DateTime(timezone=True), nullable=False),
        sa.Column('anonymised', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['indicator_id'], ['intel_indicators.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('indicator_id', 'tenant_id', 'record_key', name='intel_sightings_unique'),
    )
    op.create_index('ix_intel_sightings_indicator_id', 'intel_sightings', ['indicator_id'])
    op.create_index('intel_sightings_tenant_seen', 'intel_sightings', ['tenant_id', 'seen'])
    op.create_table(
        'intel_sharing',
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('named', sa.Boolean(), nullable=False),
        sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('tenant_id'),
    )
    op.create_table(
        'intel_assets',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('ip', sa.String(length=45), nullable=False),
        sa.Column('vendor', sa.String(length=200), nullable=False),
        sa.Column('product', sa.String(length=200), nullable=False),
        sa.Column('version', sa.String(length=100), nullable=False),
        sa.Column('cpe', sa.String(length=500), nullable=False),
        sa.Column('criticality', sa.String(length=12), nullable=False),
        sa.Column('exposed', sa.Boolean(), nullable=False),
        sa.Column('owner', sa.String(length=200), nullable=False),
        sa.Column('zone', sa.String(length=100), nullable=False),
        sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('tenant_id', 'host', 'vendor', 'product', name='intel_assets_unique'),
    )
    op.create_index('ix_intel_assets_tenant_id', 'intel_assets', ['tenant_id'])
    op.create_table(
        'intel_kev',
        sa.Column('cve_id', sa.String(length=30), nullable=False),
        sa.Column('vendor', sa.String(length=200), nullable=False),
        sa.Column('product', sa.String(length=200), nullable=False),
        sa.Column('name', sa.String(length=500), nullable=False),
        sa.Column('date_added', sa.String(length=10), nullable=False),
        sa.Column('due_date', sa.String(length=10), nullable=False),
        sa.Column('ransomware', sa.String(length=20), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('action', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('cve_id'),
    )
    op.create_table(
        'intel_warnings',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('asset_id', sa.Integer(), nullable=False),
        sa.Column('cve_id', sa.String(length=30), nullable=False),
        sa.Column('rank', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['asset_id'], ['intel_assets.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['cve_id'], ['intel_kev.cve_id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('asset_id', 'cve_id', name='intel_warnings_unique'),
    )
    op.create_index('intel_warnings_tenant', 'intel_warnings', ['tenant_id', 'rank'])


def downgrade() -> None:
    op.drop_index('intel_warnings_tenant', table_name='intel_warnings')
    op.drop_table('intel_warnings')
    op.drop_table('intel_kev')
    op.drop_index('ix_intel_assets_tenant_id', table_name='intel_assets')
    op.drop_table('intel_assets')
    op.drop_table('intel_sharing')
    op.drop_index('intel_sightings_tenant_seen', table_name='intel_sightings')
    op.drop_index('ix_intel_sightings_indicator_id', table_name='intel_sightings')
    op.drop_table('intel_sightings')
    op.drop_index('intel_indicators_updated', table_name='intel_indicators')
    op.drop_index('intel_indicators_value', table_name='intel_indicators')
    op.drop_index('ix_intel_indicators_tenant_id', table_name='intel_indicators')
    op.drop_table('intel_indicators')
    op.drop_index('ix_intel_feeds_tenant_id', table_name='intel_feeds')
    op.drop_table('intel_feeds')
