"""sweeps, their points, and runs.sweep_id

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ngramlm.store.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("dataset_id", sa.Integer(), sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("name", sa.String(128), nullable=True),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("n_points", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "sweep_points",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "sweep_id",
            sa.Integer(),
            sa.ForeignKey("sweeps.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("config_hash", sa.String(16), nullable=False),
        sa.Column("group_key", sa.String(16), nullable=False),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("sweep_id", "config_hash", name="uq_sweep_points_config"),
    )
    op.create_index("ix_sweep_points_open", "sweep_points", ["sweep_id", "run_id", "idx"])
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("sweep_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_runs_sweep_id", "sweeps", ["sweep_id"], ["id"])
        batch.create_index("ix_runs_sweep_id", ["sweep_id"])


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_sweep_id")
        batch.drop_constraint("fk_runs_sweep_id", type_="foreignkey")
        batch.drop_column("sweep_id")
    op.drop_index("ix_sweep_points_open", table_name="sweep_points")
    op.drop_table("sweep_points")
    op.drop_table("sweeps")
