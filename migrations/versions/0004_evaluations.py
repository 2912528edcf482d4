"""evaluations: the locked test split's one evaluation per run, immutable

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ngramlm.store.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MESSAGE = "test evaluations are immutable: a recorded evaluation cannot be updated or deleted"


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("runs.id", name="fk_evaluations_run_id"),
            nullable=False,
            unique=True,
        ),
        sa.Column("test_loss", sa.Float(), nullable=False),
        sa.Column("n_examples", sa.Integer(), nullable=False),
        sa.Column("checkpoint_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER evaluations_no_{event.lower()} BEFORE {event} ON evaluations "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION ngramlm_evaluations_immutable() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{MESSAGE}'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER evaluations_immutable BEFORE UPDATE OR DELETE ON evaluations "
            "FOR EACH ROW EXECUTE FUNCTION ngramlm_evaluations_immutable()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER evaluations_no_update")
        op.execute("DROP TRIGGER evaluations_no_delete")
    else:
        op.execute("DROP TRIGGER evaluations_immutable ON evaluations")
        op.execute("DROP FUNCTION ngramlm_evaluations_immutable()")
    op.drop_table("evaluations")
