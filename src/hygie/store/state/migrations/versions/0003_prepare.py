"""prepare: assessment campaigns, answers (history kept), evidence, telemetry proposals

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'assessment_campaigns',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('frameworks', sa.JSON(), nullable=False),
        sa.Column('size', sa.String(length=10), nullable=False),
        sa.Column('beds', sa.Integer(), nullable=True),
        sa.Column('sites', sa.Integer(), nullable=True),
        sa.Column('it_staff', sa.Integer(), nullable=True),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.Column('closed', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_assessment_campaigns_tenant_id', 'assessment_campaigns', ['tenant_id'])
    op.create_table(
        'assessment_proposals',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('question_id', sa.String(length=100), nullable=False),
        sa.Column('check', sa.String(length=40), nullable=False),
        sa.Column('value', sa.String(length=10), nullable=False),
        sa.Column('proof', sa.Text(), nullable=False),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.Column('observed', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('decided_by', sa.String(length=100), nullable=True),
        sa.Column('decided', sa.DateTime(timezone=True), nullable=True),
        sa.Column('final_value', sa.String(length=10), nullable=True),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['assessment_campaigns.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_assessment_proposals_campaign_id', 'assessment_proposals', ['campaign_id'])
    op.create_table(
        'assessment_answers',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('question_id', sa.String(length=100), nullable=False),
        sa.Column('value', sa.String(length=10), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('answered_by', sa.String(length=100), nullable=False),
        sa.Column('answered', sa.DateTime(timezone=True), nullable=False),
        sa.Column('origin', sa.String(length=20), nullable=False),
        sa.Column('proposal_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['campaign_id'], ['assessment_campaigns.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['proposal_id'], ['assessment_proposals.id']),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('assessment_answers_latest', 'assessment_answers',
                    ['tenant_id', 'campaign_id', 'question_id', 'answered'])
    op.create_table(
        'assessment_evidence',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('question_id', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=True),
        sa.Column('filename', sa.String(length=255), nullable=True),
        sa.Column('size', sa.Integer(), nullable=True),
        sa.Column('url', sa.String(length=2000), nullable=True),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('added_by', sa.String(length=100), nullable=False),
        sa.Column('added', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['assessment_campaigns.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_assessment_evidence_campaign_id', 'assessment_evidence', ['campaign_id'])


def downgrade() -> None:
    op.drop_index('ix_assessment_evidence_campaign_id', table_name='assessment_evidence')
    op.drop_table('assessment_evidence')
    op.drop_index('assessment_answers_latest', table_name='assessment_answers')
    op.drop_table('assessment_answers')
    op.drop_index('ix_assessment_proposals_campaign_id', table_name='assessment_proposals')
    op.drop_table('assessment_proposals')
    op.drop_index('ix_assessment_campaigns_tenant_id', table_name='assessment_campaigns')
    op.drop_table('assessment_campaigns')
