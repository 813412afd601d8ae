"""capabilities

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 06:34:25

Open apps name the permission sets they need; tenants note when their capabilities were
last read.
"""

from alembic import op
import sqlalchemy as sa


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('required_func_info', sa.JSON(), nullable=True))

    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('capabilities_checked_at', sa.DateTime(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_column('capabilities_checked_at')

    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.drop_column('required_func_info')

