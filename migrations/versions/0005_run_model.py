"""runs.model: which family a run trained (mlp, bigram or kneser-ney)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every run before this revision is an MLP run: the default fills them in.
    op.add_column(
        "runs",
        sa.Column("model", sa.String(16), nullable=False, server_default="mlp"),
    )


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("model")
