"""``ngramlm sample``: generate words from a run's last checkpoint."""

from __future__ import annotations

from typing import Annotated

import typer

from ngramlm.cli.common import api, console, print_json, safe


def register(app: typer.Typer) -> None:
    app.command(name="sample")(sample_cmd)


def sample_cmd(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run id (see `ngramlm report`), or last.")],
    *,
    n: Annotated[int, typer.Option("-n", "--num", help="How many words.")] = 20,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 42,
    temperature: Annotated[float, typer.Option(help="Softmax temperature; 0 is greedy.")] = 1.0,
    top_k: Annotated[int | None, typer.Option(help="Sample only from the k likeliest.")] = None,
    prefix: Annotated[str, typer.Option(help="Start every word with this text.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Generate words from a run, each marked train, dev or new."""
    samples = api(ctx).sample(run, n, seed, temperature=temperature, top_k=top_k, prefix=prefix)
    marked = samples.marked
    if as_json:
        print_json(
            {
                "run": samples.run.id,
                "step": samples.step,
                "seed": seed,
                "temperature": temperature,
                "words": [{"word": w, "in": where} for w, where in marked],
            }
        )
        return
    for w, where in marked:
        style = {"train": "dim", "dev": "cyan", "new": "bold green"}[where]
        console.print(f"{safe(w)}  [{style}]{where}[/]", highlight=False)
