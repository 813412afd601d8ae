"""admin sessions and sign-in throttling; pushes no AES key decrypts

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 10:00:00

Admin sessions become rows (admin_sessions), looked up on every request, so that signing out,
changing the password or a lockout ends them, copies of the cookie included. Failed sign-ins are
counted per client address and per account in login_throttles, replacing the per-user counter
(admin_users.failed_logins, locked_until): a lock in progress is forgotten by the upgrade. Apps
record pushes refused because no AES key decrypts them (key_mismatch_since, key_mismatch_at).
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('admin_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('admin_pk', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('client_address', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('end_reason', sa.String(length=32), nullable=True),
    sa.Column('shown_once', sa.String(length=100), nullable=True),
    sa.ForeignKeyConstraint(['admin_pk'], ['admin_users.id'], name=op.f('fk_admin_sessions_admin_pk_admin_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_admin_sessions_token_hash'))
    )
    with op.batch_alter_table('admin_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_admin_sessions_admin_pk_client_address', ['admin_pk', 'client_address'], unique=False)

    op.create_table('login_throttles',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', sa.DateTime(), nullable=False),
    sa.Column('blocked_until', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttles'))
    )
    with op.batch_alter_table('admin_users', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_logins')

    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_mismatch_since', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('key_mismatch_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.drop_column('key_mismatch_at')
        batch_op.drop_column('key_mismatch_since')

    with op.batch_alter_table('admin_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(), nullable=True))

    op.drop_table('login_throttles')
    with op.batch_alter_table('admin_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_admin_sessions_admin_pk_client_address')

    op.drop_table('admin_sessions')
