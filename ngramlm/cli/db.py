"""``ngramlm db``: the store's schema revision and its upgrade."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer

from ngramlm.cli.common import console, print_json
from ngramlm.errors import SchemaError
from ngramlm.store import schema
from ngramlm.store.store import Store

app = typer.Typer(help="Inspect and upgrade the store's schema.", no_args_is_help=True)


def _open(ctx: typer.Context) -> Store:
    return Store(ctx.find_root().obj.db_url, check_schema=False)


@app.command()
def current(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the store's schema revision and this ngramlm's head revision."""
    store = _open(ctx)
    state = store.schema_state()
    if state.current is None:
        # A new store: create it at head, as any other command would.
        store = Store(ctx.find_root().obj.db_url)
        state = store.schema_state()
    newer = schema.is_newer(state)
    if as_json:
        print_json(
            {
                "store": store.where,
                "current": state.current,
                "head": state.head,
                "up_to_date": state.up_to_date,
                "newer": newer,
            }
        )
        return
    if state.up_to_date:
        mark = "[green]up to date[/]"
    elif newer:  # `db upgrade` would refuse: the advice is to upgrade ngramlm itself
        mark = "[red]written by a newer ngramlm; upgrade ngramlm (pip install -U ngramlm)[/]"
    else:
        mark = "[yellow]needs `ngramlm db upgrade`[/]"
    console.print(f"store:   {store.where}")
    console.print(f"current: {state.current}")
    console.print(f"head:    {state.head}  {mark}")


@app.command()
def upgrade(ctx: typer.Context) -> None:
    """Upgrade the store to this ngramlm's schema (an SQLite file is backed up first)."""
    store = _open(ctx)
    before = store.schema_state()
    if before.up_to_date:
        console.print(f"{store.where} is already at head ({before.head}); nothing to do")
        return
    if schema.is_newer(before):  # refused before any backup is written
        raise SchemaError(schema.newer_message(before, store.where))
    backup = None
    if store.is_sqlite and before.current is not None:
        backup = _backup_sqlite(Path(str(store.url.database)), before.current)
        console.print(f"backed up {store.where} to {backup}")
    after = store.upgrade()
    console.print(f"upgraded {store.where}: {before.current or 'empty'} -> {after.current}")


def _backup_sqlite(path: Path, revision: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.bak-{revision}-{stamp}")
    src, dst = sqlite3.connect(path), sqlite3.connect(target)
    try:
        src.backup(dst)  # consistent even with a WAL and other readers
    finally:
        dst.close()
        src.close()
    return target
