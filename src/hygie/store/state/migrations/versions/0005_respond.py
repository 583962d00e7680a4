"""respond: playbook triggers and runs, auto-approved actions, connector secrets, NIS 2
incidents and reports, care service status

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'respond_triggers',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('playbook_id', sa.String(length=200), nullable=False),
        sa.Column('rule_id', sa.String(length=100), nullable=True),
        sa.Column('min_severity', sa.String(length=20), nullable=True),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_respond_triggers_tenant_id', 'respond_triggers', ['tenant_id'])
    op.create_table(
        'respond_auto_actions',
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('action', sa.String(length=100), nullable=False),
        sa.Column('created_by', sa.String(length=100), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('tenant_id', 'action'),
    )
    op.create_table(
        'playbook_runs',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('alert_id', sa.Integer(), nullable=True),
        sa.Column('playbook_id', sa.String(length=200), nullable=False),
        sa.Column('playbook_name', sa.String(length=300), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('dry_run', sa.Boolean(), nullable=False),
        sa.Column('trigger', sa.String(length=100), nullable=False),
        sa.Column('started_by', sa.String(length=100), nullable=False),
        sa.Column('started', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished', sa.DateTime(timezone=True), nullable=True),
        sa.Column('variables', sa.JSON(), nullable=False),
        sa.Column('stack', sa.JSON(), nullable=False),
        sa.Column('error', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_playbook_runs_case_id', 'playbook_runs', ['case_id'])
    op.create_index('playbook_runs_tenant_status', 'playbook_runs', ['tenant_id', 'status'])
    op.create_table(
        'playbook_run_steps',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('step_ref', sa.String(length=300), nullable=False),
        sa.Column('step_type', sa.String(length=30), nullable=False),
        sa.Column('name', sa.String(length=300), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('commands', sa.JSON(), nullable=False),
        sa.Column('idem_key', sa.String(length=64), nullable=True),
        sa.Column('decided_by', sa.String(length=100), nullable=True),
        sa.Column('decided', sa.DateTime(timezone=True), nullable=True),
        sa.Column('started', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished', sa.DateTime(timezone=True), nullable=True),
        sa.Column('result', sa.JSON(), nullable=False),
        sa.Column('rollback', sa.JSON(), nullable=False),
        sa.Column('rolled_back', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['run_id'], ['playbook_runs.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_playbook_run_steps_run_id', 'playbook_run_steps', ['run_id'])
    op.create_index('ix_playbook_run_steps_idem_key', 'playbook_run_steps', ['idem_key'])
    op.create_table(
        'respond_secrets',
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
        sa.Column('updated_by', sa.String(length=100), nullable=False),
        sa.Column('updated', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('tenant_id', 'name'),
    )
    op.create_table(
        'nis2_incidents',
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('aware_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('suspected_malicious', sa.Boolean(), nullable=False),
        sa.Column('cross_border', sa.Boolean(), nullable=False),
        sa.Column('cross_border_detail', sa.Text(), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('flagged_by', sa.String(length=100), nullable=False),
        sa.Column('flagged', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('case_id'),
    )
    op.create_index('ix_nis2_incidents_tenant_id', 'nis2_incidents', ['tenant_id'])
    op.create_table(
        'nis2_reports',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('due', sa.DateTime(timezone=True), nullable=False),
        sa.Column('requested', sa.DateTime(timezone=True), nullable=True),
        sa.Column('submitted', sa.DateTime(timezone=True), nullable=True),
        sa.Column('submitted_by', sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['nis2_incidents.case_id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_nis2_reports_case_id', 'nis2_reports', ['case_id'])
    op.create_table(
        'care_service_status',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.String(length=64), nullable=False),
        sa.Column('service', sa.String(length=100), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('author', sa.String(length=100), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_care_service_status_case_id', 'care_service_status', ['case_id'])


def downgrade() -> None:
    op.drop_index('ix_care_service_status_case_id', table_name='care_service_status')
    op.drop_table('care_service_status')
    op.drop_index('ix_nis2_reports_case_id', table_name='nis2_reports')
    op.drop_table('nis2_reports')
    op.drop_index('ix_nis2_incidents_tenant_id', table_name='nis2_incidents')
    op.drop_table('nis2_incidents')
    op.drop_table('respond_secrets')
    op.drop_index('ix_playbook_run_steps_idem_key', table_name='playbook_run_steps')
    op.drop_index('ix_playbook_run_steps_run_id', table_name='playbook_run_steps')
    op.drop_table('playbook_run_steps')
    op.drop_index('playbook_runs_tenant_status', table_name='playbook_runs')
    op.drop_index('ix_playbook_runs_case_id', table_name='playbook_runs')
    op.drop_table('playbook_runs')
    op.drop_table('respond_auto_actions')
    op.drop_index('ix_respond_triggers_tenant_id', table_name='respond_triggers')
    op.drop_table('respond_triggers')
