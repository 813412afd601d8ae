"""api key scopes

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 15:00:00

An API key may be limited to some apps (and, once the tenant gateway exists, to some platform
API paths). NULL keeps a key's old meaning: every app.
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('app_ids', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('path_prefixes', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_column('path_prefixes')
        batch_op.drop_column('app_ids')
