"""dedupe keys name their tenant

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 15:00:00

A platform message id (MsgId) is unique only within one corp or account, so pushes are now
de-duplicated per tenant: a tenant's push is keyed `msgid:<tenant>:<MsgId>` or
`sha256:<tenant>:<hash>` (callbacks/inbox.py dedupe_key), where it was `msgid:<MsgId>` /
`sha256:<hash>` per app. The rows stored before get the key the code now gives them, so a push
stored before the upgrade and retried after it is still found a duplicate. No schema change:
the unique (app_pk, dedupe_key) stays. Keys already in the new form are left alone, so running
it again changes nothing.

Downgrade keeps the new keys: the older code treats a key as an opaque string, and turning them
back could make two tenants' rows collide.
"""

from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


# prefix -> how many characters after it the new key keeps (a MsgId is cut to 180 to stay
# within the column's 255 beside a 64-character tenant id; a sha256 is 64 hex digits).
KEPT = {"msgid:": 180, "sha256:": 64}


def upgrade() -> None:
    for prefix, kept in KEPT.items():
        scoped = f"'{prefix}' || tenant_id || ':'"
        op.execute(
            f"UPDATE inbound_events SET dedupe_key = {scoped} || "
            f"substr(dedupe_key, {len(prefix) + 1}, {kept}) "
            f"WHERE tenant_id IS NOT NULL AND tenant_id <> '' "
            f"AND substr(dedupe_key, 1, {len(prefix)}) = '{prefix}' "
            f"AND substr(dedupe_key, 1, {len(prefix) + 1} + length(tenant_id)) <> {scoped}"
        )


def downgrade() -> None:
    pass
