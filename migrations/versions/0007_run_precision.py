"""runs.precision: the training step's resolved precision (fp32 | bf16)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Runs before this revision trained in float32; NULL says "not recorded".
    op.add_column("runs", sa.Column("precision", sa.String(8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("precision")
