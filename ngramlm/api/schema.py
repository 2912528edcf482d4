"""The store's schema, for ``ngramlm db``: its revision against this ngramlm's head, and
the upgrade (an SQLite file backed up first). Functions of a store's URL, not methods of
``Experiments``: the store they look at may be one ``Experiments`` refuses to open."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ngramlm import outputs
from ngramlm.errors import InputError, SchemaError, StoreError
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


def backup_sqlite(path: Path, revision: str, now: datetime | None = None) -> Path:
    """A consistent copy of an SQLite file (even with a WAL and other readers), written
    through ``outputs.write_file``: whole or not at all, beside the store, as
    ``NAME.bak-REVISION-STAMP`` (``now``: the time stamped; by default the current one).
    An earlier backup is never replaced: where that name is taken (an upgrade within the
    same second), the copy is ``...-STAMP-2``, ``-3``, and so on. A write that fails (a
    read-only directory, a full disk) leaves no file behind and is one line: the store is
    not upgraded."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    name = f"{path.name}.bak-{revision}-{stamp}"
    target, n = path.with_name(name), 1
    while target.exists() or target.is_symlink():  # whatever holds the name: kept
        n += 1
        target = path.with_name(f"{name}-{n}")

    def copy(tmp: Path) -> None:
        src, dst = sqlite3.connect(path), sqlite3.connect(tmp)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()

    try:
        outputs.write_file(target, copy, option="its backup")
    except InputError as exc:
        raise StoreError(
            f"db upgrade backs up {path} first, and {exc}; the store is not upgraded"
        ) from None
    except sqlite3.Error as exc:  # the copy itself (no space, a read-only place)
        raise StoreError(
            f"db upgrade backs up {path} first, and its backup {target} failed ({exc}); "
            "free some space or make its directory writable; the store is not upgraded"
        ) from None
    return target
