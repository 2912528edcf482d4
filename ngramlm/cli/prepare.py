"""``ngramlm prepare``: read a word list, split it the lecture's way, record it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from ngramlm.api import display
from ngramlm.cli.common import api, console, print_json, safe

if TYPE_CHECKING:
    from ngramlm.api.running import Prepared

Path_ = Annotated[
    Path | None,
    typer.Argument(
        help="UTF-8 word list, one word a line (default: the bundled names); with "
        "--unit word, a text file, one sentence a line."
    ),
]
Name = Annotated[str | None, typer.Option(help="Dataset name (default: the file's stem).")]
Seed = Annotated[int, typer.Option(help="Seed of the split's shuffle.")]
Unit = Annotated[
    str,
    typer.Option(
        help="What a token is: char (each character of a word) or word "
        "(whitespace-separated words of a sentence)."
    ),
]
MinCount = Annotated[
    int,
    typer.Option(
        help="Word datasets: words seen fewer times in the train split become <unk> "
        "(Bengio et al. 2003: 4)."
    ),
]
Split = Annotated[
    str,
    typer.Option(
        help="shuffled (80/10/10 by line, seeded) or ordered:TRAIN,DEV (file order: "
        "TRAIN tokens train, DEV dev, the rest test)."
    ),
]
Tokenize = Annotated[
    bool,
    typer.Option(
        "--tokenize",
        help="Word datasets: the file is raw text; cut its paragraphs (blank lines apart) "
        "into sentences and split punctuation from words (syntok), recorded with the dataset.",
    ),
]


def register(app: typer.Typer) -> None:
    app.command(name="prepare")(prepare_cmd)


def prepare_cmd(
    ctx: typer.Context,
    path: Path_ = None,
    *,
    name: Name = None,
    seed: Seed = display.DEFAULT_SEED,
    unit: Unit = display.DEFAULT_UNIT,
    min_count: MinCount = 1,
    split: Split = "shuffled",
    tokenize: Tokenize = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Read a word list (or a corpus, --unit word; raw text, --tokenize) and record it with
    its train/dev/test split: seeded 80/10/10 by line, or in file order (--split
    ordered:TRAIN,DEV)."""
    # bad input is refused before the store is opened
    result = api(ctx).prepare(
        path, name, seed, unit=unit, min_count=min_count, split=split, tokenize=tokenize
    )
    if as_json:
        print_json(as_dict(result))
        return
    show(result)


def as_dict(result: Prepared) -> dict[str, object]:
    """``prepare --json``."""
    ds = result.dataset
    return {
        "dataset": ds.name,
        "id": ds.id,
        "created": result.created,
        "sha256": ds.sha256,
        "source": ds.source_path,
        "seed": ds.seed,
        "unit": ds.unit,
        "min_count": ds.min_count,
        "split": ds.split,
        "tokenizer": ds.tokenizer,
        "hint": result.hint,
        "words": {
            "train": ds.n_train,
            "dev": ds.n_dev,
            "test": ds.n_test,
            "total": ds.n_words,
        },
        "examples": result.examples,
        "tokens": result.tokens,
        "unk_rate": result.unk_rate,
        "vocab_size": ds.vocab_size,
        "vocab": "".join(ds.vocab.tokens) if ds.unit == "char" else list(ds.vocab.tokens),
        "duplicates": ds.n_duplicates,
    }


def show(result: Prepared) -> None:
    ds = result.dataset
    verb = "prepared" if result.created else "already prepared (same content; nothing written)"
    console.print(f"dataset [bold]{safe(ds.name)}[/] (id {ds.id}) {verb}")
    table = Table(title=None, show_edge=False)
    table.add_column("split")
    words = ds.unit == "word"
    table.add_column("sentences" if words else "words", justify="right")
    if words:
        table.add_column("tokens", justify="right")
    table.add_column("examples", justify="right")
    if words:
        table.add_column("<unk>", justify="right")
    for part, n in (("train", ds.n_train), ("dev", ds.n_dev), ("test", ds.n_test)):
        cells = [part, f"{n:,}"]
        if words:
            cells.append(f"{result.tokens[part]:,}")
        cells.append(f"{result.examples[part]:,}")
        if words:
            cells.append(f"{result.unk_rate[part]:.2%}")
        table.add_row(*cells)
    console.print(table)
    if words:
        shown = safe(" ".join(ds.vocab.tokens[:20]))
        console.print(
            f"vocabulary: {ds.vocab_size:,} tokens with the boundary '</s>' and '<unk>' "
            f"(words seen at least {ds.min_count} time(s) in train); commonest: {shown} ...",
            highlight=False,
        )
    else:
        console.print(
            f"vocabulary ({ds.vocab_size} with the boundary '.'): {safe(''.join(ds.vocab.tokens))}",
            highlight=False,
        )
    console.print(
        f"duplicates: {ds.n_duplicates:,}   split: {safe(ds.split)}   seed: {ds.seed}   "
        f"sha256: {ds.sha256}"
    )
    if ds.tokenizer is not None:
        console.print(f"tokenized by {safe(ds.tokenizer)}", highlight=False)
    if result.hint is not None:
        console.print(f"hint: {safe(result.hint)}", highlight=False, soft_wrap=True)
