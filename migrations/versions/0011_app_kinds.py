"""app kinds: WeCom customized templates and the provider account

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 21:00:00

An app row is a WeCom suite, a WeCom customized-app template (代开发, suite id `dk...`), the
ISV's WeCom provider account, or an Open Platform component: its kind decides where its tenants'
tokens come from. Existing rows get theirs from platform and id. An auth code claim may keep the
credential of an answer that could not be made a tenant, rather than lose it.
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('kind', sa.String(length=16), nullable=False, server_default='suite')
        )
    op.execute("UPDATE apps SET kind = 'component' WHERE platform = 'open'")
    op.execute("UPDATE apps SET kind = 'template' WHERE platform = 'wecom' AND app_id LIKE 'dk%'")
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.alter_column('kind', server_default=None)
        batch_op.create_check_constraint(
            op.f('ck_apps_kind'), "kind IN ('suite', 'template', 'provider', 'component')"
        )
    with op.batch_alter_table('auth_code_claims', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('credential', sa.Text(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('auth_code_claims', schema=None) as batch_op:
        batch_op.drop_column('credential')
    op.execute("DELETE FROM apps WHERE kind = 'provider'")
    with op.batch_alter_table('apps', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_apps_kind'), type_='check')
        batch_op.drop_column('kind')
