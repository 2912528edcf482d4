"""``ngramlm sweep``: a grid of runs (or a search) trained by local (or remote) worker
processes. The command checks how its options go together and makes one API call
(``sweep``, ``search`` or ``run_sweep``), which resolves the sweep's plan once; a
``LiveSweep`` shows it (``cli/progress.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from ngramlm.cli import options as o
from ngramlm.cli.common import api, parse_id
from ngramlm.cli.sweep_view import show
from ngramlm.errors import InputError, WorkersDied

if TYPE_CHECKING:
    from ngramlm.api import Experiments
    from ngramlm.cli.progress import LiveSweep


def register(app: typer.Typer) -> None:
    app.command(name="sweep")(sweep_cmd)


@o.hyperparameter_options(exclude=("order", "smoothing", "mix"))
def sweep_cmd(
    ctx: typer.Context,
    *,
    lr_grid: o.LrGrid = None,
    grid: o.Grid = None,
    seeds: o.Seeds = 1,
    search: o.Search = None,
    space: o.Space = None,
    trials: o.Trials = None,
    budget: o.Budget = None,
    prune: o.Prune = None,
    mix: o.Mix = True,
    workers: o.Workers = None,
    threads: o.WorkerThreads = None,
    join: o.Join = None,
    resume: o.ResumeSweep = None,
    name: o.SweepName = None,
    dataset: o.Dataset = None,
    model: o.Model = None,
    preset: o.Preset = None,
    quiet: o.Quiet = False,
    as_json: o.Json = False,
    **hp: Any,
) -> None:
    """Train every point of a grid (lr x grid x seeds), or search (--search), each point an
    ordinary run of the sweep."""
    from ngramlm.cli.progress import LiveSweep  # torch: imported when the sweep starts

    given = o.given(hp)
    existing = join if join is not None else resume
    options = (given, model, preset, lr_grid is not None, grid, dataset, search)
    searching = (space, trials, budget, prune, None if mix else False)
    check_together(join, resume, search, searching, lr_grid, grid, options)
    exp = api(ctx)
    watch = LiveSweep(new=existing is None, quiet=quiet or as_json, as_json=as_json)
    try:
        with watch:
            if existing is not None:
                exp.run_sweep(parse_id(existing, "sweep"), workers=workers, threads=threads,
                              resume=resume is not None, watch=watch)  # fmt: skip
            elif search is not None:
                exp.search(dataset, search=search, space=space, trials=trials, budget=budget,
                           prune=prune, mix=mix, workers=workers, threads=threads, model=model,
                           preset=preset, name=name, watch=watch, **given)  # fmt: skip
            else:
                exp.sweep(dataset, lr_grid=lr_grid, grid=grid, seeds=seeds, workers=workers,
                          threads=threads, model=model, preset=preset, name=name, watch=watch,
                          **given)  # fmt: skip
    except WorkersDied:
        if watch.sweep_id is not None:
            show(exp.sweep_status(watch.sweep_id), as_json)
        raise
    finish(exp, watch, as_json)


def check_together(
    join: str | None,
    resume: str | None,
    search: str | None,
    searching: tuple[Any, ...],
    lr_grid: str | None,
    grid: list[str] | None,
    options: tuple[Any, ...],
) -> None:
    """How the command's options go together (each option's value is the API's to check)."""
    if join is not None and resume is not None:
        raise InputError("give --join or --resume, not both")
    if search is None and any(v is not None for v in searching):
        raise InputError(
            "--space, --trials, --budget, --prune and --no-mix go with --search tpe|random|grid"
        )
    if search is not None and (lr_grid is not None or grid):
        raise InputError(
            "--search proposes its own points: drop --lr-grid/--grid (search lr with "
            "--space lr=LOW:HIGH:log)"
        )
    if (join is not None or resume is not None) and any(options):
        raise InputError(
            "--join/--resume work on the sweep as recorded; drop the grid and other options"
        )


def finish(exp: Experiments, watch: LiveSweep, as_json: bool) -> None:
    """The sweep's result: a search's trials ranked, or the grid's runs; 130 when a run
    was killed by a signal."""
    assert watch.sweep_id is not None
    final = exp.sweep_status(watch.sweep_id)
    if "search" in final.sweep.spec:
        from ngramlm.cli.search import show_search

        show_search(exp, final.sweep.id, as_json)
    else:
        show(final, as_json)
    if final.interrupted:  # killed by a signal (a search's budget stops trials killed too)
        raise typer.Exit(130)
