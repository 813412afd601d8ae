"""deployments

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 06:43:35

Mini-program code deployments to many authorizers, and each target's steps.
"""

from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('deployments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_pk', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.String(length=64), nullable=False),
    sa.Column('user_version', sa.String(length=64), nullable=False),
    sa.Column('user_desc', sa.Text(), nullable=False),
    sa.Column('ext_json', sa.Text(), nullable=False),
    sa.Column('gray_percentage', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['app_pk'], ['apps.id'], name=op.f('fk_deployments_app_pk_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deployments'))
    )
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.create_index('ix_deployments_app_pk_created_at', ['app_pk', 'created_at'], unique=False)

    op.create_table('deployment_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('deployment_pk', sa.Integer(), nullable=False),
    sa.Column('tenant_pk', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('step', sa.String(length=16), nullable=False),
    sa.Column('failed_step', sa.String(length=16), nullable=True),
    sa.Column('claimed_at', sa.DateTime(), nullable=True),
    sa.Column('uncertain', sa.Boolean(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('auditid', sa.String(length=64), nullable=True),
    sa.Column('audit_status', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('log', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['deployment_pk'], ['deployments.id'], name=op.f('fk_deployment_targets_deployment_pk_deployments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_pk'], ['tenants.id'], name=op.f('fk_deployment_targets_tenant_pk_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deployment_targets')),
    sa.UniqueConstraint('deployment_pk', 'tenant_pk', name=op.f('uq_deployment_targets_deployment_pk_tenant_pk'))
    )
    with op.batch_alter_table('deployment_targets', schema=None) as batch_op:
        batch_op.create_index('ix_deployment_targets_step_updated_at', ['step', 'updated_at'], unique=False)
        batch_op.create_index('ix_deployment_targets_tenant_pk_step', ['tenant_pk', 'step'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('deployment_targets', schema=None) as batch_op:
        batch_op.drop_index('ix_deployment_targets_tenant_pk_step')
        batch_op.drop_index('ix_deployment_targets_step_updated_at')

    op.drop_table('deployment_targets')
    with op.batch_alter_table('deployments', schema=None) as batch_op:
        batch_op.drop_index('ix_deployments_app_pk_created_at')

    op.drop_table('deployments')
