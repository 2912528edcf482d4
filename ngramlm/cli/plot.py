"""``ngramlm plot``: figures of stored runs and sweeps, written as PNG, SVG or PDF."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ngramlm.cli import options as o
from ngramlm.cli.common import api, console, parse_id, safe
from ngramlm.errors import InputError

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


def _draw(out: Path | None, stem: str, figure: Callable[[], Any], force: bool) -> None:
    """Check where the figure goes (``out``, or ``STEM.png`` here), draw it, write it
    whole (``outputs.write_file``: an existing file only with ``--force``) and say where."""
    with _matplotlib_required():
        from ngramlm import plots

    path = plots.output_path(out, stem, force=force)  # refused before anything is drawn
    path = plots.save(figure(), path, force=force)
    console.print(f"wrote {safe(path)}", highlight=False, soft_wrap=True)


@app.command()
def curves(
    ctx: typer.Context,
    runs: Annotated[
        list[str],
        typer.Argument(help="Run ids (or last); several are overlaid.", show_default=False),
    ],
    out: Out = None,
    force: o.Force = False,
    log_x: Annotated[
        bool, typer.Option("--log-x", help="A log step axis: runs of very different lengths.")
    ] = False,
    x: Annotated[
        str,
        typer.Option("--x", help="step, or fraction: runs aligned by the fraction of their steps."),
    ] = "step",
) -> None:
    """Train (dashed) and dev (solid) loss against step, log y axis, runs overlaid; count
    models as labelled lines beside the networks."""
    with _matplotlib_required():
        from ngramlm import plots

    if x not in plots.X_AXES:
        raise InputError(f"--x must be one of {', '.join(plots.X_AXES)}, got {x!r}")
    exp = api(ctx)
    ids = list(dict.fromkeys(exp.run_id(r) for r in runs))  # in order, each once
    _draw(out, _curves_stem(ids), lambda: exp.plot_curves(*ids, log_x=log_x, x=x), force)


def _curves_stem(ids: list[int]) -> str:
    """``run-3-curves``, ``runs-3-5-curves``, or ``runs-3-and-9-more-curves`` for many."""
    if len(ids) == 1:
        return f"run-{ids[0]}-curves"
    if len(ids) <= 5:
        return f"runs-{'-'.join(map(str, ids))}-curves"
    return f"runs-{ids[0]}-and-{len(ids) - 1}-more-curves"


LrFindRun = Annotated[str, typer.Argument(help="An lr-find run id.", show_default=False)]
Run = Annotated[str, typer.Argument(help="A run id (or last).", show_default=False)]
Sweep = Annotated[str, typer.Argument(metavar="SWEEP", help="A sweep id.")]
Search = Annotated[str, typer.Argument(metavar="SWEEP", help="A search's sweep id.")]


@app.command(name="lr-find")
def lr_find(ctx: typer.Context, run: LrFindRun, out: Out = None, force: o.Force = False) -> None:
    """Minibatch loss against learning rate, its smoothed curve and the suggested rate."""
    rid = parse_id(run, "lr-find run")
    _draw(out, f"run-{rid}-lr-find", lambda: api(ctx).plot_lr_find(rid), force)


@app.command()
def embeddings(ctx: typer.Context, run: Run, out: Out = None, force: o.Force = False) -> None:
    """The character embeddings C in 2-D (PCA when n_embd > 2), each point its character."""
    exp = api(ctx)
    rid = exp.run_id(run)
    _draw(out, f"run-{rid}-embeddings", lambda: exp.plot_embeddings(rid), force)


@app.command()
def sweep(ctx: typer.Context, sweep_ref: Sweep, out: Out = None, force: o.Force = False) -> None:
    """Dev loss against the swept hyperparameter, one line per value of the other key."""
    sid = parse_id(sweep_ref, "sweep")
    _draw(out, f"sweep-{sid}", lambda: api(ctx).plot_sweep(sid), force)


@app.command()
def search(ctx: typer.Context, sweep_ref: Search, out: Out = None, force: o.Force = False) -> None:
    """A search's best dev loss against wall time, and dev loss against each parameter."""
    sid = parse_id(sweep_ref, "sweep")
    _draw(out, f"search-{sid}", lambda: api(ctx).plot_search(sid), force)
