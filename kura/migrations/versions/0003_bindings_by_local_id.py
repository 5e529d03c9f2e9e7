"""An index on bindings (entity, local_id): which stores a product or SKU is bound on.

Marking a stock change for the outbox looks up every store a SKU is bound on; the unique index (store_id, entity,
local_id) can't serve a lookup without the store, so each lookup read every store's bindings (with 200 stores
importing at once, that was a product import's largest cost).

Revision ID: 0003_bindings_by_local_id
Revises: 0002_sales_guard
Create Date: 2026-11-30 02:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_bindings_by_local_id"
down_revision: str | None = "0002_sales_guard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bindings", schema=None) as batch_op:
        batch_op.create_index("ix_bindings_entity_local_id", ["entity", "local_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bindings", schema=None) as batch_op:
        batch_op.drop_index("ix_bindings_entity_local_id")
