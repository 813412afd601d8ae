"""tenant tokens queued for

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01 12:20:00

When the refresh job the sweep handed a tenant's token to runs, so that the next sweeps do not
hand it out again (tokens/tasks.py).
"""

from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tenant_tokens') as batch_op:
        batch_op.add_column(sa.Column('queued_for', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tenant_tokens') as batch_op:
        batch_op.drop_column('queued_for')
