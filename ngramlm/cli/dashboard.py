"""``ngramlm dashboard``: the store served read-only in the browser (``ngramlm.web``)."""

from __future__ import annotations

from typing import Annotated

import typer

from ngramlm.cli.common import State, console, err_console, safe


def register(app: typer.Typer) -> None:
    app.command(name="dashboard")(dashboard_cmd)


def dashboard_cmd(
    ctx: typer.Context,
    *,
    host: Annotated[
        str,
        typer.Option(
            help="The address to listen on; 127.0.0.1 (this machine only) unless told "
            "otherwise (0.0.0.0: every network this machine is on)."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port (0: any free one).")] = 8080,
) -> None:
    """Serve the store read-only in a browser: runs, curves (live), runs side by side,
    sweeps and searches, datasets. Nothing is written; Ctrl-C stops it."""
    from ngramlm.web import open_dashboard

    state: State = ctx.find_root().obj
    board = open_dashboard(state.db_url, host, port)
    if board.exposure is not None:
        err_console.print(safe(board.exposure), style="bold yellow", highlight=False)
    console.print(
        f"dashboard of {safe(board.exp.where)} (read-only) at {board.url} ; Ctrl-C stops it",
        highlight=False,
        soft_wrap=True,
    )
    board.serve()
