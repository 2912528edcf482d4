"""``ngramlm finalize``: the one evaluation of a run on the locked test split."""

from __future__ import annotations

from typing import Annotated

import typer

from ngramlm.api import AlreadyFinalized
from ngramlm.cli import options as o
from ngramlm.cli.common import api, console, err_console, measure_of, print_json, safe


def register(app: typer.Typer) -> None:
    app.command(name="finalize")(finalize_cmd)


def finalize_cmd(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run id, or last.")],
    *,
    yes: Annotated[
        bool, typer.Option("--yes", help="Finalize a sweep run that is not the sweep's best.")
    ] = False,
    as_json: o.Json = False,
) -> None:
    """Evaluate a finished run on the test split: once per run, ever."""
    exp = api(ctx)
    try:
        result = exp.finalize(run, yes=yes)
        r, e, created = result.run, result.evaluation, True
    except AlreadyFinalized as already:  # the recorded result is shown, then the error
        r, e, created = already.run, already.evaluation, False
    if as_json:
        print_json(
            {
                "run": r.id,
                "dataset": r.dataset,
                "created": created,
                "train_loss": r.train_loss,
                "dev_loss": r.dev_loss,
                "test_loss": e.test_loss,
                "test_examples": e.n_examples,
                "checkpoint_sha256": e.checkpoint_sha256,
                "evaluated_at": e.created_at.isoformat(),
                "host": e.host,
            }
        )
    else:
        verb = "finalized" if created else "was already finalized"
        console.print(
            f"run {r.id} on {safe(r.dataset)} {verb} at {e.created_at:%Y-%m-%d %H:%M} UTC"
        )
        m = measure_of(exp, r.dataset)
        console.print(
            f"  train {m.line(r.train_loss)}   dev {m.line(r.dev_loss)}   "
            f"[bold]test {m.line(e.test_loss)}[/] ({e.n_examples:,} examples)"
        )
    if not created:
        err_console.print(
            f"[bold red]error:[/] run {r.id} was finalized already; the test split is evaluated "
            "once per run, ever (the recorded result is shown above)"
        )
        raise typer.Exit(5)
