"""datasets.tokenizer: which tokenizer, and which version of it, made a word dataset

``prepare --unit word --tokenize`` cuts raw text into sentences and splits punctuation
from words (``ngramlm.data.tokenize``); the dataset records what did it (``syntok
1.4.4``), and text scored under its runs is read the same way. NULL: the text was taken
as it came (every dataset before this revision, and every one prepared without the
option).

Both databases add a nullable column in place. Dropping it on SQLite rebuilds the table
(Alembic's batch mode; the store switches foreign keys off for a migration, so the rows
that refer to a dataset stay); no trigger is defined on datasets (0009 and 0010 put
theirs on evaluations, metrics and runs), so none needs making again. PostgreSQL drops
the column in place.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("datasets", sa.Column("tokenizer", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("tokenizer")
