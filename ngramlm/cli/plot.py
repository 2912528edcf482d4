"""``ngramlm plot``: figures of stored runs and sweeps, written as PNG, SVG or PDF."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ngramlm.cli.common import console, parse_id, run_id, store
from ngramlm.errors import InputError
from ngramlm.store.records import CheckpointRecord, RunRecord

app = typer.Typer(help="Plot runs and sweeps to image files.", no_args_is_help=True)

Out = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="File to write; .png, .svg or .pdf by its extension (default: a PNG here).",
        show_default=False,
    ),
]


@contextmanager
def _matplotlib_required() -> Iterator[None]:
    """Around the import of ``ngramlm.plots``, which each command does on first use so
    that other commands never pay for importing matplotlib (most of a second)."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if exc.name != "matplotlib" and not (exc.name or "").startswith("matplotlib."):
            raise
        raise InputError(
            "plotting needs matplotlib, which is not installed; pip install 'ngramlm[plot]'"
        ) from None


def _written(path: Path) -> None:
    console.print(f"wrote {path}", highlight=False, markup=False, soft_wrap=True)


@app.command()
def curves(
    ctx: typer.Context,
    runs: Annotated[
        list[str],
        typer.Argument(help="Run ids (or last); several are overlaid.", show_default=False),
    ],
    out: Out = None,
) -> None:
    """Train (dashed) and dev (solid) loss against step, log y axis, runs overlaid."""
    with _matplotlib_required():
        from ngramlm import plots

    s = store(ctx)
    ids = list(dict.fromkeys(run_id(s, r) for r in runs))  # in order, each once
    path = plots.output_path(out, _curves_stem(ids))
    series = [(s.run(i), s.metrics(i)) for i in ids]
    _written(plots.curves(series, path).path)


def _curves_stem(ids: list[int]) -> str:
    """``run-3-curves``, ``runs-3-5-curves``, or ``runs-3-and-9-more-curves`` for many."""
    if len(ids) == 1:
        return f"run-{ids[0]}-curves"
    if len(ids) <= 5:
        return f"runs-{'-'.join(map(str, ids))}-curves"
    return f"runs-{ids[0]}-and-{len(ids) - 1}-more-curves"


@app.command(name="lr-find")
def lr_find(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="An lr-find run id.", show_default=False)],
    out: Out = None,
) -> None:
    """Minibatch loss against learning rate, its smoothed curve and the suggested rate."""
    with _matplotlib_required():
        from ngramlm import plots

    s = store(ctx)
    rid = parse_id(run, "lr-find run")
    path = plots.output_path(out, f"run-{rid}-lr-find")
    _written(plots.lr_find(s.run(rid), s.metrics(rid), path).path)


@app.command()
def embeddings(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="A run id (or last).", show_default=False)],
    out: Out = None,
) -> None:
    """The character embeddings C in 2-D (PCA when n_embd > 2), each point its character."""
    with _matplotlib_required():
        from ngramlm import plots

    s = store(ctx)
    rid = run_id(s, run)
    path = plots.output_path(out, f"run-{rid}-embeddings")
    record = s.run(rid)
    chars, C = embedding_table(record, s.checkpoint(rid))
    _written(plots.embeddings(record, chars, C, path).path)


TOP_WORDS = 100  # a word model's figure shows its commonest tokens only


def embedding_table(run: RunRecord, ckpt: CheckpointRecord | None) -> tuple[list[str], Any]:
    """The characters (index 0 is the word boundary '.') and C as an array (V, n_embd).
    A word model's vocabulary is in descending train count, so its first ``TOP_WORDS``
    rows (the boundary '</s>' and the commonest words) keep the figure readable."""
    from ngramlm import checkpoint

    if ckpt is None:
        raise InputError(
            f"run {run.id} has no checkpoint (a {run.kind} run, status {run.status}); "
            "only trained runs have embeddings to plot"
        )
    from ngramlm.report import counted

    if counted(run):
        raise InputError(
            f"run {run.id} is a {run.model} model: it counts n-grams and has no embeddings; "
            "plot a trained network's (mlp, wavenet)"
        )
    loaded = checkpoint.from_bytes(ckpt.data, ckpt.sha256)
    C = loaded.state.model["C"].detach().to("cpu").double().numpy()  # (V, n_embd)
    from ngramlm.data import Vocab

    vocab = Vocab(loaded.vocab, loaded.unit)
    labels = [vocab.boundary, *vocab.tokens]
    if vocab.unit == "word":
        return labels[:TOP_WORDS], C[:TOP_WORDS]
    return labels, C


@app.command()
def sweep(
    ctx: typer.Context,
    sweep_ref: Annotated[str, typer.Argument(metavar="SWEEP", help="A sweep id.")],
    out: Out = None,
) -> None:
    """Dev loss against the swept hyperparameter, one line per value of the other key."""
    with _matplotlib_required():
        from ngramlm import plots

    s = store(ctx)
    sid = parse_id(sweep_ref, "sweep")
    path = plots.output_path(out, f"sweep-{sid}")
    _written(plots.sweep(s.sweep(sid), s.sweep_runs(sid), path).path)
