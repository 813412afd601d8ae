"""install starts: shared pre-auth codes, client address per state

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 10:00:00

Anonymous visits to /install/<app_id> share one pre-auth code while it has minutes left
(pre_auth_codes), are limited per client address (install_states.client_addr, counted over
recent rows), and expired states are pruned in batches (the expires_at index).
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pre_auth_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_pk', sa.Integer(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('test_mode', sa.Boolean(), nullable=False),
    sa.Column('obtained_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['app_pk'], ['apps.id'], name=op.f('fk_pre_auth_codes_app_pk_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pre_auth_codes'))
    )
    with op.batch_alter_table('pre_auth_codes', schema=None) as batch_op:
        batch_op.create_index('ix_pre_auth_codes_app_pk_expires_at', ['app_pk', 'expires_at'], unique=False)

    with op.batch_alter_table('install_states', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_addr', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('pre_auth_code_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_install_states_pre_auth_code_id_pre_auth_codes'), 'pre_auth_codes',
            ['pre_auth_code_id'], ['id'], ondelete='SET NULL',
        )
        batch_op.create_index('ix_install_states_client_addr_created_at', ['client_addr', 'created_at'], unique=False)
        batch_op.create_index('ix_install_states_expires_at', ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('install_states', schema=None) as batch_op:
        batch_op.drop_index('ix_install_states_expires_at')
        batch_op.drop_index('ix_install_states_client_addr_created_at')
        batch_op.drop_constraint(batch_op.f('fk_install_states_pre_auth_code_id_pre_auth_codes'), type_='foreignkey')
        batch_op.drop_column('pre_auth_code_id')
        batch_op.drop_column('client_addr')

    with op.batch_alter_table('pre_auth_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_pre_auth_codes_app_pk_expires_at')

    op.drop_table('pre_auth_codes')
