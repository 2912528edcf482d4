"""``ngramlm import FILE.arpa --dataset NAME``: an ARPA back-off model as a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ngramlm.cli import options as o
from ngramlm.cli.common import api, console, measure_of, print_json, safe


def register(app: typer.Typer) -> None:
    app.command(name="import")(import_cmd)


def import_cmd(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="An ARPA file (KenLM's lmplz, SRILM, ngramlm).")],
    *,
    dataset: Annotated[
        str | None, typer.Option(help="The dataset whose vocabulary the file uses.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A label for the run.")] = None,
    as_json: o.Json = False,
) -> None:
    """Record an ARPA model as a finished run, scored on the dataset's train and dev splits
    (test only through finalize)."""
    exp = api(ctx)
    r = exp.import_arpa(path, dataset, name=name)
    if as_json:
        print_json(
            {
                "run": r.id,
                "dataset": r.dataset,
                "model": r.model,
                "status": r.status,
                "train_loss": r.train_loss,
                "dev_loss": r.dev_loss,
                "config": r.config,
            }
        )
        return
    console.print(
        f"run {r.id} imported from {safe(path.name)} on {safe(r.dataset)}: "
        f"train {(m := measure_of(exp, r.dataset)).line(r.train_loss)}   dev {m.line(r.dev_loss)}"
    )
