"""``ngramlm export RUN --arpa FILE``: a count model as an ARPA back-off file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ngramlm.cli import options as o
from ngramlm.cli.common import api, console, print_json, safe


def register(app: typer.Typer) -> None:
    app.command(name="export")(export_cmd)


def export_cmd(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run id, or last.")],
    *,
    arpa: Annotated[
        Path,
        typer.Option("--arpa", help="The ARPA file to write (KenLM, SRILM and decoders read it)."),
    ],
    force: o.Force = False,
    as_json: o.Json = False,
) -> None:
    """Write a count run's model (bigram, kneser-ney, modified-kn, arpa) as an ARPA file."""
    out = api(ctx).export_arpa(run, arpa, force=force)
    if as_json:
        print_json({"run": out.run, "arpa": str(out.path), "ngrams": list(out.ngrams)})
        return
    counts = ", ".join(f"{n:,} {k}-grams" for k, n in enumerate(out.ngrams, 1))
    console.print(f"run {out.run} written to {safe(out.path)}: {counts}")
