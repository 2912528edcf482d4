"""Alembic environment for ngramlm.

ngramlm runs migrations itself (``ngramlm db upgrade`` and first use of a fresh store),
handing a connection in ``config.attributes["connection"]``; the caller owns the
transaction, so a fresh store is created atomically under its lock.
"""

from __future__ import annotations

from alembic import context

from ngramlm.store.schema import VERSION_TABLE
from ngramlm.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through ngramlm's own commands
    raise RuntimeError("run migrations with `ngramlm db upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
