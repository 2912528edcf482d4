"""losses: the database refuses a negative or non-finite loss

A loss is a mean negative log-likelihood: finite and at least 0. ngramlm's store checks
every loss before writing it (ngramlm/store/checks.py); this is the same rule in the
database, for plain SQL and for any bug that slips past the store: the curve's losses
(metrics), a run's final train and dev losses (runs) and the test loss (evaluations).

PostgreSQL: CHECK constraints, validated where every row keeps them and ``NOT VALID``
where a store already holds a false number (written before this revision; evaluations
cannot be changed), so that it still upgrades; the rule holds for every row written from
now on (NaN sorts above 'Infinity' there, so ``<
'Infinity'`` refuses both). SQLite cannot add a CHECK to a table without rebuilding it
(which would drop evaluations' triggers and refuse such a store), so BEFORE INSERT and
BEFORE UPDATE triggers say the same (SQLite stores NaN as NULL; ``9e999`` is +inf there).
A later revision that rebuilds these tables on SQLite must create the triggers again.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

LOSSES = {
    "metrics": ("batch_loss", "train_loss", "dev_loss"),
    "runs": ("train_loss", "dev_loss"),
    "evaluations": ("test_loss",),  # its rows are never updated (0004)
}
MESSAGE = "a loss must be a finite number at least 0 (a mean negative log-likelihood)"


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, columns in LOSSES.items():
        if not sqlite:
            ok = " AND ".join(f"({c} IS NULL OR ({c} >= 0 AND {c} < 'Infinity'))" for c in columns)
            rule = f"ck_{table}_losses CHECK ({ok})"
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {rule} NOT VALID")
            try:  # valid where every row already keeps it (the usual store)
                with op.get_bind().begin_nested():
                    op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT ck_{table}_losses")
            except sa.exc.IntegrityError:
                pass  # a false number written before this revision stays, as NOT VALID says
            continue
        bad = " OR ".join(
            f"NOT (NEW.{c} IS NULL OR (NEW.{c} >= 0 AND NEW.{c} < 9e999))" for c in columns
        )
        events = {"insert": "INSERT"}
        if table != "evaluations":
            events["update"] = f"UPDATE OF {', '.join(columns)}"
        for name, event in events.items():
            op.execute(
                f"CREATE TRIGGER {table}_losses_{name} BEFORE {event} ON {table} WHEN {bad} "
                f"BEGIN SELECT RAISE(ABORT, '{table}: {MESSAGE}'); END"
            )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in LOSSES:
        if not sqlite:
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT ck_{table}_losses")
            continue
        op.execute(f"DROP TRIGGER {table}_losses_insert")
        if table != "evaluations":
            op.execute(f"DROP TRIGGER {table}_losses_update")
