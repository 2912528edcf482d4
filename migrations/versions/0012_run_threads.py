"""runs.threads: the torch CPU threads a run's process trained with

A run's speed depends on how many threads torch used (two processes each using all
cores run many times slower), so a run records the threads of the process that trains
it, and a resume records its own. NULL: a count model (no training step), or a run from
before this revision.

Both databases add a nullable column in place. Dropping it on SQLite rebuilds the table
(Alembic's batch mode; the store switches foreign keys off for a migration, so the rows
that refer to a run stay) and makes the triggers 0009 and 0010 put on runs again, as the
migrations that rebuilt it before this one do. PostgreSQL drops the column in place.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("threads", sa.Integer(), nullable=True))


# 0010's triggers on runs, which SQLite's rebuild drops (the same text).
LOSSES = ("train_loss", "dev_loss")
MESSAGE = "a loss must be a finite number at least 0 (a mean negative log-likelihood)"


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("threads")
    if op.get_bind().dialect.name != "sqlite":
        return
    bad = " OR ".join(
        f"NOT (NEW.{c} IS NULL OR (NEW.{c} >= 0 AND NEW.{c} < 9e999))" for c in LOSSES
    )
    for name, event in {"insert": "INSERT", "update": f"UPDATE OF {', '.join(LOSSES)}"}.items():
        op.execute(f"DROP TRIGGER IF EXISTS runs_losses_{name}")
        op.execute(
            f"CREATE TRIGGER runs_losses_{name} BEFORE {event} ON runs WHEN {bad} "
            f"BEGIN SELECT RAISE(ABORT, 'runs: {MESSAGE}'); END"
        )
