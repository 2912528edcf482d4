"""The store's schema, for ``ngramlm db``: its revision against this ngramlm's head, and
the upgrade (an SQLite file backed up first). Functions of a store's URL, not methods of
``Experiments``: the store they look at may be one ``Experiments`` refuses to open."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ngramlm.errors import SchemaError
from ngramlm.store import schema
from ngramlm.store.store import Store


@dataclass(frozen=True)
class SchemaStatus:
    """A store's schema revision (``current``, None: empty) against this ngramlm's
    ``head``; ``newer``: written by a newer ngramlm (upgrade ngramlm, not the store)."""

    where: str
    current: str | None
    head: str
    up_to_date: bool
    newer: bool


@dataclass(frozen=True)
class Upgraded:
    """``db upgrade``'s result: the revisions before and after (equal: nothing to do),
    and the backup of an SQLite file (None: none written)."""

    where: str
    before: str | None
    after: str | None
    backup: Path | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def schema_status(url: str) -> SchemaStatus:
    """The store's revision; a new store is created at head, as any command would."""
    store = Store(url, check_schema=False)
    state = store.schema_state()
    if state.current is None:
        store = Store(url)
        state = store.schema_state()
    return SchemaStatus(store.where, state.current, state.head, state.up_to_date,
                        schema.is_newer(state))  # fmt: skip


def upgrade_store(url: str) -> Upgraded:
    """Upgrade the store to this ngramlm's schema; an SQLite file is backed up first. A
    store written by a newer ngramlm is refused before any backup is written."""
    store = Store(url, check_schema=False)
    before = store.schema_state()
    if before.up_to_date:
        return Upgraded(store.where, before.current, before.current, None)
    if schema.is_newer(before):
        raise SchemaError(schema.newer_message(before, store.where))
    backup = None
    if store.is_sqlite and before.current is not None:
        backup = backup_sqlite(Path(str(store.url.database)), before.current)
    after = store.upgrade()
    return Upgraded(store.where, before.current, after.current, backup)


def backup_sqlite(path: Path, revision: str) -> Path:
    """A consistent copy of an SQLite file (even with a WAL and other readers)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.bak-{revision}-{stamp}")
    src, dst = sqlite3.connect(path), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return target
