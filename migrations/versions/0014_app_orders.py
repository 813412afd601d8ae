"""app orders

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 04:46:12

WeCom paid apps: the orders corps place for a suite, as service/get_order answers them, listed
per app and per tenant.
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('app_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_pk', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('order_status', sa.Integer(), nullable=False),
    sa.Column('order_type', sa.Integer(), nullable=False),
    sa.Column('edition_id', sa.String(length=64), nullable=True),
    sa.Column('edition_name', sa.String(length=200), nullable=True),
    sa.Column('price', sa.Integer(), nullable=False),
    sa.Column('user_count', sa.Integer(), nullable=False),
    sa.Column('order_period', sa.Integer(), nullable=False),
    sa.Column('order_time', sa.DateTime(), nullable=True),
    sa.Column('paid_time', sa.DateTime(), nullable=True),
    sa.Column('begin_time', sa.DateTime(), nullable=True),
    sa.Column('end_time', sa.DateTime(), nullable=True),
    sa.Column('answer', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['app_pk'], ['apps.id'], name=op.f('fk_app_orders_app_pk_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_orders')),
    sa.UniqueConstraint('app_pk', 'order_id', name=op.f('uq_app_orders_app_pk_order_id'))
    )
    with op.batch_alter_table('app_orders', schema=None) as batch_op:
        batch_op.create_index('ix_app_orders_app_pk_order_time', ['app_pk', 'order_time'], unique=False)
        batch_op.create_index('ix_app_orders_app_pk_tenant_id', ['app_pk', 'tenant_id', 'order_time'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('app_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_app_orders_app_pk_tenant_id')
        batch_op.drop_index('ix_app_orders_app_pk_order_time')

    op.drop_table('app_orders')
