"""The stock sales guard (channel_stock.order_units and basis_qty, order_lines.stock_counted) and job_runs indexes for the
abandoned-run sweep.

Revision ID: 0002_sales_guard
Revises: 0001_initial
Create Date: 2026-11-29 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_sales_guard"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.create_index("ix_job_runs_kind_store_id_started_at", ["kind", "store_id", "started_at"], unique=False)
        batch_op.create_index("ix_job_runs_status_started_at", ["status", "started_at"], unique=False)
    with op.batch_alter_table("channel_stock", schema=None) as batch_op:
        batch_op.add_column(sa.Column("order_units", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("basis_qty", sa.Integer(), nullable=True))
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stock_counted", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("order_lines", schema=None) as batch_op:
        batch_op.drop_column("stock_counted")
    with op.batch_alter_table("channel_stock", schema=None) as batch_op:
        batch_op.drop_column("basis_qty")
        batch_op.drop_column("order_units")
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_job_runs_status_started_at")
        batch_op.drop_index("ix_job_runs_kind_store_id_started_at")
