"""licenses

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 05:59:36

WeCom interface licenses: the provider's license orders, the members holding an account, and
each tenant's license state (trial, check, unlicensed members seen); which lifecycle kinds
were told of each order, so a push and the daily catch-up tell each once.
"""

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('license_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_pk', sa.Integer(), nullable=False),
    sa.Column('corpid', sa.String(length=64), nullable=False),
    sa.Column('userid', sa.String(length=64), nullable=False),
    sa.Column('type', sa.Integer(), nullable=False),
    sa.Column('active_code', sa.String(length=64), nullable=True),
    sa.Column('active_time', sa.DateTime(), nullable=True),
    sa.Column('expire_time', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['provider_pk'], ['apps.id'], name=op.f('fk_license_accounts_provider_pk_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_license_accounts')),
    sa.UniqueConstraint('provider_pk', 'corpid', 'userid', 'type', name=op.f('uq_license_accounts_provider_pk_corpid_userid_type'))
    )
    op.create_table('license_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_pk', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('corpid', sa.String(length=64), nullable=False),
    sa.Column('order_type', sa.Integer(), nullable=False),
    sa.Column('order_status', sa.Integer(), nullable=False),
    sa.Column('base_count', sa.Integer(), nullable=False),
    sa.Column('external_contact_count', sa.Integer(), nullable=False),
    sa.Column('months', sa.Integer(), nullable=False),
    sa.Column('days', sa.Integer(), nullable=False),
    sa.Column('price', sa.Integer(), nullable=False),
    sa.Column('create_time', sa.DateTime(), nullable=True),
    sa.Column('pay_time', sa.DateTime(), nullable=True),
    sa.Column('answer', sa.JSON(), nullable=False),
    sa.Column('told', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['provider_pk'], ['apps.id'], name=op.f('fk_license_orders_provider_pk_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_license_orders')),
    sa.UniqueConstraint('provider_pk', 'order_id', name=op.f('uq_license_orders_provider_pk_order_id'))
    )
    with op.batch_alter_table('license_orders', schema=None) as batch_op:
        batch_op.create_index('ix_license_orders_provider_pk_corpid', ['provider_pk', 'corpid', 'create_time'], unique=False)

    op.create_table('tenant_licenses',
    sa.Column('tenant_pk', sa.Integer(), nullable=False),
    sa.Column('license_status', sa.Integer(), nullable=True),
    sa.Column('trial_start', sa.DateTime(), nullable=True),
    sa.Column('trial_end', sa.DateTime(), nullable=True),
    sa.Column('check_time', sa.DateTime(), nullable=True),
    sa.Column('active_accounts', sa.Integer(), nullable=False),
    sa.Column('checked_at', sa.DateTime(), nullable=True),
    sa.Column('check_error', sa.String(length=300), nullable=True),
    sa.Column('unlicensed_count', sa.Integer(), nullable=False),
    sa.Column('unlicensed_userid', sa.String(length=64), nullable=True),
    sa.Column('unlicensed_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_pk'], ['tenants.id'], name=op.f('fk_tenant_licenses_tenant_pk_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_pk', name=op.f('pk_tenant_licenses'))
    )
    with op.batch_alter_table('tenant_licenses', schema=None) as batch_op:
        batch_op.create_index('ix_tenant_licenses_trial_end', ['trial_end'], unique=False)
    with op.batch_alter_table('app_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('told', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('app_orders', schema=None) as batch_op:
        batch_op.drop_column('told')

    with op.batch_alter_table('tenant_licenses', schema=None) as batch_op:
        batch_op.drop_index('ix_tenant_licenses_trial_end')

    op.drop_table('tenant_licenses')
    with op.batch_alter_table('license_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_license_orders_provider_pk_corpid')

    op.drop_table('license_orders')
    op.drop_table('license_accounts')
