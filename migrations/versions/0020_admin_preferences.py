"""admin preferences

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-01 09:05:00

Each admin's chosen language and time zone for the admin UI.
"""

from alembic import op
import sqlalchemy as sa


revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('admin_users') as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('admin_users') as batch_op:
        batch_op.drop_column('timezone')
        batch_op.drop_column('locale')
