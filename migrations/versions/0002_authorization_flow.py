"""authorization flow

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:36:53.412935
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('install_states',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_pk', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['app_pk'], ['apps.id'], name=op.f('fk_install_states_app_pk_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_install_states')),
    sa.UniqueConstraint('state', name=op.f('uq_install_states_state'))
    )
    op.create_table('auth_code_claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_pk', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('claimed_at', sa.DateTime(), nullable=False),
    sa.Column('tenant_pk', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['app_pk'], ['apps.id'], name=op.f('fk_auth_code_claims_app_pk_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_pk'], ['tenants.id'], name=op.f('fk_auth_code_claims_tenant_pk_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_code_claims')),
    sa.UniqueConstraint('app_pk', 'code_hash', name=op.f('uq_auth_code_claims_app_pk_code_hash'))
    )
    op.create_table('tenant_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_pk', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_pk'], ['tenants.id'], name=op.f('fk_tenant_history_tenant_pk_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_history'))
    )
    with op.batch_alter_table('tenant_history', schema=None) as batch_op:
        batch_op.create_index('ix_tenant_history_tenant_pk_at', ['tenant_pk', 'at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('tenant_history', schema=None) as batch_op:
        batch_op.drop_index('ix_tenant_history_tenant_pk_at')

    op.drop_table('tenant_history')
    op.drop_table('auth_code_claims')
    op.drop_table('install_states')
