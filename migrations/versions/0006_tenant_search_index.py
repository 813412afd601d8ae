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
        batch_op.create_index(
            'ix_tenants_search', ['tenant_id', 'name'], unique=False,
            postgresql_using='gin',
            postgresql_ops={'tenant_id': 'gin_trgm_ops', 'name': 'gin_trgm_ops'},
        )


def downgrade() -> None:
    with op.batch_alter_table('tenants', schema=None) as batch_op:
        batch_op.drop_index('ix_tenants_search', postgresql_using='gin')
