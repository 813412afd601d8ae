"""tenant search index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 14:10:00

The admin list and the token API search tenants by id prefix or part of the name (ILIKE). On
PostgreSQL a GIN index of trigrams (pg_trgm, a trusted extension since PostgreSQL 13: the
database owner may create it) answers that without reading the whole table.
"""

from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        for column in ('tenant_id', 'name'):
            batch_op.create_index(
                f'ix_tenants_{column}_trgm', [column], unique=False, postgresql_using='gin',
                postgresql_ops={column: 'gin_trgm_ops'},
            )


def downgrade() -> None:
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_index('ix_tenants_name_trgm', postgresql_using='gin')
        batch_op.drop_index('ix_tenants_tenant_id_trgm', postgresql_using='gin')
