"""checkpoint_parts: a checkpoint's bytes in parts (rows of at most 256 MiB), so a store
keeps checkpoints longer than the longest value SQLite and PostgreSQL hold (about 1 GB);
checkpoints keeps the header: step, sha256, size and number of parts

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkpoint_parts",
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("checkpoints.run_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("part", sa.Integer(), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    # Every checkpoint before this revision is one value: it becomes its own part 0, moved
    # by the database (no checkpoint passes through Python). Parts are read in order and
    # joined, so a first part longer than the parts written from now on is fine.
    op.execute(
        "INSERT INTO checkpoint_parts (run_id, part, data) SELECT run_id, 0, data FROM checkpoints"
    )
    with op.batch_alter_table("checkpoints") as batch:
        batch.add_column(sa.Column("size", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("parts", sa.Integer(), nullable=True))
    op.execute("UPDATE checkpoints SET size = length(data), parts = 1")
    with op.batch_alter_table("checkpoints") as batch:
        batch.alter_column("size", existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column("parts", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("data")


def downgrade() -> None:
    # A checkpoint is one value again: its parts joined, one checkpoint at a time (one
    # longer than the database's longest value, about 1 GB, cannot go back and fails).
    with op.batch_alter_table("checkpoints") as batch:
        batch.add_column(sa.Column("data", sa.LargeBinary(), nullable=True))
    conn = op.get_bind()
    for run_id in conn.execute(sa.text("SELECT run_id FROM checkpoints")).scalars().all():
        parts = conn.execute(
            sa.text("SELECT data FROM checkpoint_parts WHERE run_id = :r ORDER BY part"),
            {"r": run_id},
        ).scalars()
        conn.execute(
            sa.text("UPDATE checkpoints SET data = :d WHERE run_id = :r"),
            {"d": b"".join(parts), "r": run_id},
        )
    op.drop_table("checkpoint_parts")
    with op.batch_alter_table("checkpoints") as batch:
        batch.alter_column("data", existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_column("parts")
        batch.drop_column("size")
