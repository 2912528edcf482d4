"""Alembic glue: which revision a database is at, creating and upgrading it.

Alembic owns the schema: product code never calls ``create_all``. A fresh database is
brought to head on first use under a lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a
transaction-scoped advisory lock), so several processes may start on it at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text

from ngramlm.errors import SchemaError
from ngramlm.resources import migrations_dir

VERSION_TABLE = "ngramlm_alembic_version"
_PG_LOCK_KEY = 0x6E6772616D  # "ngram": serialises schema changes on one PostgreSQL database


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    rev = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert rev is not None
    return rev


def known_revisions() -> list[str]:
    """Every revision this ngramlm knows, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def current(conn: Connection) -> str | None:
    ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return ctx.get_current_revision()


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def lock(conn: Connection) -> None:
    """Serialise schema changes: call inside the transaction that changes the schema."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    # SQLite: the write transaction already began with BEGIN IMMEDIATE (see store.py).


def ensure(conn: Connection, where: str) -> SchemaState:
    """Create a fresh database at head; refuse one that is older or newer than this
    ngramlm. ``conn`` must be in a write transaction; the caller commits."""
    lock(conn)
    rev = current(conn)
    state = SchemaState(rev, head())
    if rev is None:
        tables = set(inspect(conn).get_table_names())
        if tables - {VERSION_TABLE}:
            raise SchemaError(
                f"{where} holds tables but is not an ngramlm store; "
                "point --db at a new file or an empty database"
            )
        upgrade(conn)
        return SchemaState(head(), head())
    check(state, where)
    return state


def check(state: SchemaState, where: str) -> None:
    if state.current == state.head:
        return
    if state.current in known_revisions():
        raise SchemaError(
            f"{where} is at schema revision {state.current}, older than this ngramlm's "
            f"{state.head}; run `ngramlm db upgrade` (SQLite files are backed up first)"
        )
    raise SchemaError(newer_message(state, where))


def check_read_only(state: SchemaState, where: str) -> None:
    """A store opened read-only is read at head or refused: an empty database is no store
    (nothing is created in it), an older one needs ``db upgrade`` first."""
    if state.current is None:
        raise SchemaError(f"{where} holds no ngramlm store; give --db the URL of an existing store")
    check(state, where)


def is_newer(state: SchemaState) -> bool:
    """The store was written by a newer ngramlm: a revision this one does not know."""
    return state.current is not None and state.current not in known_revisions()


def newer_message(state: SchemaState, where: str) -> str:
    return (
        f"{where} was written by a newer ngramlm (schema revision {state.current}); upgrade "
        "ngramlm (pip install -U ngramlm): `ngramlm db upgrade` cannot help, it only moves "
        "a store forward"
    )


def upgrade(conn: Connection, target: str = "head") -> None:
    command.upgrade(alembic_config(conn), target)
