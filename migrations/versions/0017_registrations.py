"""registrations

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 06:29:57

Open Platform fast registrations of mini programs for merchants, and their outcome.
"""

from alembic import op
import sqlalchemy as sa


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('registrations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_pk', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('match_key', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('ref', sa.String(length=200), nullable=True),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('taskid', sa.String(length=100), nullable=True),
    sa.Column('unique_id', sa.String(length=100), nullable=True),
    sa.Column('authorize_url', sa.Text(), nullable=True),
    sa.Column('appid', sa.String(length=64), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('completed_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['app_pk'], ['apps.id'], name=op.f('fk_registrations_app_pk_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_registrations'))
    )
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.create_index('ix_registrations_app_pk_created_at', ['app_pk', 'created_at'], unique=False)
        batch_op.create_index('ix_registrations_app_pk_match_key', ['app_pk', 'match_key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('registrations', schema=None) as batch_op:
        batch_op.drop_index('ix_registrations_app_pk_match_key')
        batch_op.drop_index('ix_registrations_app_pk_created_at')

    op.drop_table('registrations')
