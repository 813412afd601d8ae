"""quota clears

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 06:18:39

Open Platform quota resets made from here, counted against the platform's 10 a month.
"""

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('quota_clears',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_pk', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('via', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('cleared_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['app_pk'], ['apps.id'], name=op.f('fk_quota_clears_app_pk_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quota_clears'))
    )
    with op.batch_alter_table('quota_clears', schema=None) as batch_op:
        batch_op.create_index('ix_quota_clears_app_pk_tenant_id', ['app_pk', 'tenant_id', 'cleared_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('quota_clears', schema=None) as batch_op:
        batch_op.drop_index('ix_quota_clears_app_pk_tenant_id')

    op.drop_table('quota_clears')
