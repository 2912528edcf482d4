"""The ``ngramlm`` command: the root Typer app, the global ``--db`` option, and the one
place where errors become a line on stderr and an exit code."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ngramlm.api import DEFAULT_URL
from ngramlm.cli import (
    dashboard,
    db,
    export,
    finalize,
    import_arpa,
    lrfind,
    plot,
    prepare,
    report,
    sample,
    score,
    sweep,
    train,
)
from ngramlm.cli.common import State, err_console, safe
from ngramlm.errors import NgramlmError
from ngramlm.version import __version__

app = typer.Typer(
    name="ngramlm",
    help="Neural n-gram language models over characters or words: the MLP of Bengio et al. "
    "2003 and makemore, makemore's WaveNet and sequence models, count n-grams (bigram, "
    "Kneser-Ney) and their mixture, every run kept in an experiment store (SQLite or "
    "PostgreSQL).",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"ngramlm {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db_url: Annotated[
        str,
        typer.Option(
            "--db",
            envvar="NGRAMLM_DB",
            help="Store URL: sqlite:///FILE.db or postgresql+psycopg://USER@HOST/DB.",
            show_default=True,
        ),
    ] = DEFAULT_URL,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    ctx.obj = State(db_url)


prepare.register(app)
train.register(app)
sample.register(app)
sweep.register(app)
lrfind.register(app)
score.register(app)
finalize.register(app)
export.register(app)
import_arpa.register(app)
report.register(app)
dashboard.register(app)
app.add_typer(db.app, name="db")
app.add_typer(plot.app, name="plot")


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line and an exit code; bugs keep a traceback."""
    try:
        rv = app(args=argv, prog_name="ngramlm", standalone_mode=False)
    except NgramlmError as err:
        err_console.print(f"[bold red]error:[/] {safe(err)}", highlight=False, soft_wrap=True)
        sys.exit(err.exit_code)
    except Exception as err:
        # Typer's (vendored) click exceptions: usage errors know how to show themselves,
        # Exit and Abort carry a code. Matched by shape so any Typer version works.
        name = type(err).__name__
        if name == "Abort":
            err_console.print("aborted")
            sys.exit(130)
        ctx = getattr(err, "ctx", None)
        if name == "NoArgsIsHelpError":
            # A bare command: its help is already shown, and that is the answer. `ngramlm`
            # alone asked for it (0); `ngramlm db` lacks its subcommand (2, as click).
            sys.exit(0 if ctx is None or ctx.parent is None else 2)
        if hasattr(err, "exit_code") and hasattr(err, "format_message"):
            where = ctx.command_path if ctx is not None else "ngramlm"
            err_console.print(
                f"[bold red]error:[/] {safe(err.format_message())} (see `{safe(where)} --help`)",
                highlight=False,
                soft_wrap=True,
            )
            sys.exit(err.exit_code)
        if name == "Exit" and hasattr(err, "exit_code"):
            sys.exit(err.exit_code)
        raise
    sys.exit(rv if isinstance(rv, int) else 0)
