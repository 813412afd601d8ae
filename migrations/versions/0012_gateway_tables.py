"""gateway tables: JS-SDK tickets and proxy errcodes

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 21:00:00

The tenant gateway keeps each tenant's JS-SDK tickets like tokens (one row per tenant and kind,
the token engine's columns) and counts the errcodes the platforms answer to proxied calls.
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('jsapi_tickets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_pk', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('access_token', sa.Text(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('obtained_at', sa.DateTime(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('refresh_at', sa.DateTime(), nullable=True),
    sa.Column('lease_until', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_error_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_pk'], ['tenants.id'], name=op.f('fk_jsapi_tickets_tenant_pk_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jsapi_tickets')),
    sa.UniqueConstraint('tenant_pk', 'kind', name=op.f('uq_jsapi_tickets_tenant_pk_kind'))
    )
    with op.batch_alter_table('jsapi_tickets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jsapi_tickets_refresh_at'), ['refresh_at'], unique=False)

    op.create_table('proxy_errcodes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_pk', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=200), nullable=False),
    sa.Column('errcode', sa.Integer(), nullable=False),
    sa.Column('count', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('last_errmsg', sa.Text(), nullable=True),
    sa.Column('last_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['app_pk'], ['apps.id'], name=op.f('fk_proxy_errcodes_app_pk_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proxy_errcodes')),
    sa.UniqueConstraint('app_pk', 'tenant_id', 'path', 'errcode', name=op.f('uq_proxy_errcodes_app_pk_tenant_id_path_errcode'))
    )


def downgrade() -> None:
    op.drop_table('proxy_errcodes')
    with op.batch_alter_table('jsapi_tickets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jsapi_tickets_refresh_at'))
    op.drop_table('jsapi_tickets')
