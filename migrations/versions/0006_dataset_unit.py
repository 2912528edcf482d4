"""datasets.unit, min_count, split: word datasets (tokens are words), rare words as <unk>
and the ordered split

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every dataset before this revision is a character dataset with the shuffled split
    # and no <unk>: the defaults fill them in.
    op.add_column(
        "datasets", sa.Column("unit", sa.String(8), nullable=False, server_default="char")
    )
    op.add_column(
        "datasets", sa.Column("min_count", sa.Integer(), nullable=False, server_default="1")
    )
    op.add_column(
        "datasets",
        sa.Column("split", sa.String(64), nullable=False, server_default="shuffled"),
    )


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("split")
        batch.drop_column("min_count")
        batch.drop_column("unit")
