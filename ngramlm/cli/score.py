"""``ngramlm score RUN FILE``: a text file's loss and perplexity under a finished run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ngramlm.api import display
from ngramlm.cli import options as o
from ngramlm.cli.common import api, console, err_console, print_json, safe

if TYPE_CHECKING:
    from ngramlm.api.trained import Scored


def register(app: typer.Typer) -> None:
    app.command(name="score")(score_cmd)


def score_cmd(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run id, or last.")],
    path: Annotated[
        Path,
        typer.Argument(
            help="Text to score, read as the run's dataset was: a word a line (characters), "
            "a sentence a line (words), raw text if the dataset was tokenized."
        ),
    ],
    *,
    per_line: Annotated[
        bool, typer.Option("--per-line", help="Each line's (sentence's) score too.")
    ] = False,
    as_json: o.Json = False,
) -> None:
    """Score a text file under a finished run: loss per token (nats) and perplexity, with
    the run's own vocabulary, <unk> rule and tokenizer (the test split stays finalize's)."""
    result = api(ctx).score(run, path, per_line=per_line)
    if result.warning is not None:
        err_console.print(f"warning: {safe(result.warning)}", highlight=False)
    if as_json:
        print_json(as_dict(result, per_line))
        return
    show(result)


def as_dict(result: Scored, per_line: bool) -> dict[str, object]:
    """``score --json``: losses in nats per prediction, perplexity their exp."""
    ds = result.dataset
    out: dict[str, object] = {
        "run": result.run.id,
        "model": display.describe(result.run).label,
        "dataset": ds.name,
        "unit": ds.unit,
        "tokenizer": ds.tokenizer,
        "file": str(result.path),
        "lines": result.lines,
        "tokens": result.tokens,
        "predictions": result.predictions,
        "unk": result.unk,
        "unk_rate": result.unk_rate,
        "loss": result.loss,
        "perplexity": result.perplexity,
    }
    if per_line:
        out["per_line"] = [{**s.__dict__, "perplexity": s.perplexity} for s in result.per_line]
    return out


def show(result: Scored) -> None:
    r, ds = result.run, result.dataset
    words = ds.unit == "word"
    line, token = ("sentence", "token") if words else ("word", "character")
    read = f", tokenized by {safe(ds.tokenizer)}" if ds.tokenizer else ""
    console.print(
        f"run {r.id} ({safe(display.describe(r).label)}) on {safe(ds.name)} scored "
        f"{safe(result.path)}{read}",
        highlight=False,
    )
    unk = f" ({result.unk:,} <unk>, {result.unk_rate:.2%})" if words else ""
    console.print(
        f"  {result.lines:,} {line}s, {result.tokens:,} {token}s{unk}, "
        f"{result.predictions:,} predictions (each {token} and each {line}'s end)",
        highlight=False,
    )
    console.print(
        f"  [bold]perplexity {result.perplexity:,.2f}[/]   loss {result.loss:.4f} nats a {token}",
        highlight=False,
    )
    if not result.per_line:
        return
    console.print(f"{line:>8}  {token + 's':>10}  {'loss':>7}  {'perplexity':>10}  text")
    for s in result.per_line:
        console.print(
            f"{s.line:>8,}  {s.tokens:>10,}  {s.loss:>7.4f}  {s.perplexity:>10,.2f}  "
            f"{safe(s.text)}",
            highlight=False,
            soft_wrap=True,
        )
