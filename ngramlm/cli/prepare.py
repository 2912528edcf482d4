"""``ngramlm prepare``: read a word list, split it the lecture's way, record it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ngramlm.cli.common import console, print_json, store
from ngramlm.datasets import DEFAULT_SEED, load, record


def register(app: typer.Typer) -> None:
    app.command(name="prepare")(prepare_cmd)


def prepare_cmd(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Argument(help="UTF-8 word list, one word a line (default: the bundled names)."),
    ] = None,
    *,
    name: Annotated[
        str | None, typer.Option(help="Dataset name (default: the file's stem).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the split's shuffle.")] = DEFAULT_SEED,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Read a word list and record it with its seeded 80/10/10 train/dev/test split."""
    words = load(path, name, seed)  # refuse bad input before the store is opened
    result = record(store(ctx), words)
    ds = result.dataset
    if as_json:
        print_json(
            {
                "dataset": ds.name,
                "id": ds.id,
                "created": result.created,
                "sha256": ds.sha256,
                "source": ds.source_path,
                "seed": ds.seed,
                "words": {
                    "train": ds.n_train,
                    "dev": ds.n_dev,
                    "test": ds.n_test,
                    "total": ds.n_words,
                },
                "examples": result.examples,
                "vocab_size": ds.vocab_size,
                "vocab": "".join(ds.vocab),
                "duplicates": ds.n_duplicates,
            }
        )
        return
    verb = "prepared" if result.created else "already prepared (same content; nothing written)"
    console.print(f"dataset [bold]{ds.name}[/] (id {ds.id}) {verb}")
    table = Table(title=None, show_edge=False)
    table.add_column("split")
    table.add_column("words", justify="right")
    table.add_column("examples", justify="right")
    for part, n in (("train", ds.n_train), ("dev", ds.n_dev), ("test", ds.n_test)):
        table.add_row(part, f"{n:,}", f"{result.examples[part]:,}")
    console.print(table)
    console.print(
        f"vocabulary ({ds.vocab_size} with the boundary '.'): {''.join(ds.vocab)}",
        highlight=False,
        markup=False,
    )
    console.print(f"duplicates: {ds.n_duplicates:,}   seed: {ds.seed}   sha256: {ds.sha256}")
