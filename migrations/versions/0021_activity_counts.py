"""activity counts

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01 09:21:48

The charts' hourly counts, the token refresh history they count, and indexes on the time
columns the fold reads (inbound_events.received_at, webhook_attempts.attempted_at).
"""

from alembic import op
import sqlalchemy as sa


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('activity_counts',
    sa.Column('app_pk', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('metric', sa.String(length=24), nullable=False),
    sa.Column('hour', sa.DateTime(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['app_pk'], ['apps.id'], name=op.f('fk_activity_counts_app_pk_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_pk', 'tenant_id', 'metric', 'hour', name=op.f('pk_activity_counts'))
    )
    with op.batch_alter_table('activity_counts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_counts_hour'), ['hour'], unique=False)

    op.create_table('token_refreshes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('app_pk', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('errcode', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['app_pk'], ['apps.id'], name=op.f('fk_token_refreshes_app_pk_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_token_refreshes'))
    )
    with op.batch_alter_table('token_refreshes', schema=None) as batch_op:
        batch_op.create_index('ix_token_refreshes_app_pk_tenant_id_at', ['app_pk', 'tenant_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_token_refreshes_at'), ['at'], unique=False)

    with op.batch_alter_table('inbound_events', schema=None) as batch_op:
        batch_op.create_index('ix_inbound_events_received_at', ['received_at'], unique=False)

    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_attempts_attempted_at'), ['attempted_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_attempts_attempted_at'))

    with op.batch_alter_table('inbound_events', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_events_received_at')

    with op.batch_alter_table('token_refreshes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_token_refreshes_at'))
        batch_op.drop_index('ix_token_refreshes_app_pk_tenant_id_at')

    op.drop_table('token_refreshes')
    with op.batch_alter_table('activity_counts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_counts_hour'))

    op.drop_table('activity_counts')
