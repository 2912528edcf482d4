"""evaluations: no REPLACE on SQLite, no TRUNCATE on PostgreSQL

0004's triggers refuse UPDATE and DELETE, but SQLite's ``REPLACE INTO`` (``INSERT OR
REPLACE``) deletes the conflicting row without firing DELETE triggers (unless the
connection turned ``recursive_triggers`` on) and inserts its own, and PostgreSQL's
``TRUNCATE`` fires no row trigger. So on SQLite an insert is refused before it happens
when the table already holds a row with its key (run_id or id), whatever the statement's
conflict clause and whatever the connection's settings; on PostgreSQL a statement-level
BEFORE TRUNCATE trigger refuses TRUNCATE (``INSERT ... ON CONFLICT DO UPDATE`` already
fires 0004's UPDATE trigger).

A later revision that rebuilds this table on SQLite (Alembic's batch mode: create, copy,
drop, rename) drops its triggers with it and must create them again.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

MESSAGE = "test evaluations are immutable: a recorded evaluation cannot be replaced or truncated"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER evaluations_no_replace BEFORE INSERT ON evaluations "
            "WHEN EXISTS (SELECT 1 FROM evaluations WHERE run_id = NEW.run_id OR id = NEW.id) "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )
    else:
        op.execute(
            "CREATE FUNCTION ngramlm_evaluations_no_truncate() RETURNS trigger AS $$ "
            f"BEGIN RAISE EXCEPTION '{MESSAGE}'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER evaluations_no_truncate BEFORE TRUNCATE ON evaluations "
            "FOR EACH STATEMENT EXECUTE FUNCTION ngramlm_evaluations_no_truncate()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER evaluations_no_replace")
    else:
        op.execute("DROP TRIGGER evaluations_no_truncate ON evaluations")
        op.execute("DROP FUNCTION ngramlm_evaluations_no_truncate()")
