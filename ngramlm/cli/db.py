"""``ngramlm db``: the store's schema revision and its upgrade."""

from __future__ import annotations

from typing import Annotated

import typer

from ngramlm.api.schema import schema_status, upgrade_store
from ngramlm.cli.common import console, print_json, safe

app = typer.Typer(help="Inspect and upgrade the store's schema.", no_args_is_help=True)


@app.command()
def current(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the store's schema revision and this ngramlm's head revision."""
    state = schema_status(ctx.find_root().obj.db_url)
    if as_json:
        print_json(
            {
                "store": state.where,
                "current": state.current,
                "head": state.head,
                "up_to_date": state.up_to_date,
                "newer": state.newer,
            }
        )
        return
    if state.up_to_date:
        mark = "[green]up to date[/]"
    elif state.newer:  # `db upgrade` would refuse: the advice is to upgrade ngramlm itself
        mark = "[red]written by a newer ngramlm; upgrade ngramlm (pip install -U ngramlm)[/]"
    else:
        mark = "[yellow]needs `ngramlm db upgrade`[/]"
    console.print(f"store:   {safe(state.where)}")
    console.print(f"current: {safe(state.current)}")
    console.print(f"head:    {safe(state.head)}  {mark}")


@app.command()
def upgrade(ctx: typer.Context) -> None:
    """Upgrade the store to this ngramlm's schema (an SQLite file is backed up first)."""
    done = upgrade_store(ctx.find_root().obj.db_url)
    if not done.changed:
        console.print(f"{safe(done.where)} is already at head ({done.after}); nothing to do")
        return
    if done.backup is not None:
        console.print(f"backed up {safe(done.where)} to {safe(done.backup)}")
    console.print(f"upgraded {safe(done.where)}: {safe(done.before or 'empty')} -> {done.after}")
