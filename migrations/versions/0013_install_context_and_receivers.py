"""install context and receivers

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 03:12:26

Tenant lifecycle reaches the ISV: the install context (a `ref` kept on the install state and the
tenant, one-time install links, the app's landing secret and return_to allow-list, pre-auth codes
dedicated to one install) and webhook receivers, each delivery naming its receiver.
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('install_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_pk', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('ref', sa.String(length=128), nullable=True),
    sa.Column('return_to', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['app_pk'], ['apps.id'], name=op.f('fk_install_links_app_pk_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_install_links')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_install_links_token_hash'))
    )
    with op.batch_alter_table('install_links', schema=None) as batch_op:
        batch_op.create_index('ix_install_links_expires_at', ['expires_at'], unique=False)

    op.create_table('webhook_receivers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_pk', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('secret', sa.Text(), nullable=False),
    sa.Column('matches', sa.String(length=500), nullable=False),
    sa.Column('sync', sa.Boolean(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['app_pk'], ['apps.id'], name=op.f('fk_webhook_receivers_app_pk_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_receivers')),
    sa.UniqueConstraint('app_pk', 'name', name=op.f('uq_webhook_receivers_app_pk_name')),
    sa.UniqueConstraint('app_pk', 'url', name=op.f('uq_webhook_receivers_app_pk_url'))
    )
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('landing_secret', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('return_to_allowed', sa.Text(), nullable=True))

    with op.batch_alter_table('install_states', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ref', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('ref_from', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('return_to', sa.String(length=500), nullable=True))
        batch_op.create_index(batch_op.f('ix_install_states_pre_auth_code_id'), ['pre_auth_code_id'], unique=False)

    with op.batch_alter_table('pre_auth_codes', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('dedicated', sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table('pre_auth_codes', schema=None) as batch_op:
        batch_op.alter_column('dedicated', server_default=None)

    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('install_ref', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('install_ref_from', sa.String(length=8), nullable=True))

    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('receiver_pk', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_receiver_pk'), ['receiver_pk'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_webhook_deliveries_receiver_pk_webhook_receivers'), 'webhook_receivers', ['receiver_pk'], ['id'], ondelete='CASCADE')



def downgrade() -> None:
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_webhook_deliveries_receiver_pk_webhook_receivers'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_webhook_deliveries_receiver_pk'))
        batch_op.drop_column('receiver_pk')

    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('install_ref_from')
        batch_op.drop_column('install_ref')

    with op.batch_alter_table('pre_auth_codes', schema=None) as batch_op:
        batch_op.drop_column('dedicated')

    with op.batch_alter_table('install_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_install_states_pre_auth_code_id'))
        batch_op.drop_column('return_to')
        batch_op.drop_column('ref_from')
        batch_op.drop_column('ref')

    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.drop_column('return_to_allowed')
        batch_op.drop_column('landing_secret')

    op.drop_table('webhook_receivers')
    with op.batch_alter_table('install_links', schema=None) as batch_op:
        batch_op.drop_index('ix_install_links_expires_at')

    op.drop_table('install_links')
