"""``ngramlm sweep``: a grid of runs trained by local (or remote) worker processes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from ngramlm.api import Experiments, check_threads
from ngramlm.cli import options as o
from ngramlm.cli.common import api, console, err_console, fmt_loss, parse_id, print_json
from ngramlm.errors import InputError, WorkersDied

if TYPE_CHECKING:
    from ngramlm.runtime import SweepPlan
    from ngramlm.stages import sweep as core

POLL_S = 0.5
GRID_KEYS = ("lr", "block_size", "n_embd", "n_hidden", "n_layers", "batch_size", "seed")


def register(app: typer.Typer) -> None:
    app.command(name="sweep")(sweep_cmd)


@o.hyperparameter_options(exclude=("order", "smoothing"))
def sweep_cmd(
    ctx: typer.Context,
    *,
    lr_grid: Annotated[
        str | None,
        typer.Option(help="Learning rates: 0.01,0.1,1 or log-spaced START:STOP:COUNT."),
    ] = None,
    grid: Annotated[
        list[str] | None,
        typer.Option(help="KEY=V1,V2,... over any train hyperparameter (repeatable)."),
    ] = None,
    seeds: Annotated[int, typer.Option(help="Replicates per point (seed, seed+1, ...).")] = 1,
    search: Annotated[
        str | None,
        typer.Option(help="Search instead of a grid: tpe, random or grid (docs/search.md)."),
    ] = None,
    space: Annotated[
        list[str] | None,
        typer.Option(
            help="KEY=LOW:HIGH[:log] or KEY=V1,V2 (repeatable; default: the family's space)."
        ),
    ] = None,
    trials: Annotated[int | None, typer.Option(help="Trials a search starts at most.")] = None,
    budget: Annotated[
        str | None, typer.Option(help="Wall time a search starts trials in: 90s, 30m, 2h.")
    ] = None,
    prune: Annotated[
        str | None, typer.Option(help="halving: stop the worse trials at 1/9 and 1/3 of steps.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Local worker processes (default: one a usable core, one a point)."),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(help="torch CPU threads per worker (default: 1 for small models)."),
    ] = None,
    join: Annotated[str | None, typer.Option(help="Add workers to an existing SWEEP.")] = None,
    resume: Annotated[
        str | None, typer.Option(help="Continue SWEEP: killed and crashed points resume.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A label for the sweep and its runs.")] = None,
    dataset: o.Dataset = None,
    model: o.Model = None,
    preset: o.Preset = None,
    quiet: o.Quiet = False,
    as_json: o.Json = False,
    **hp: Any,
) -> None:
    """Train every point of a grid (lr x grid x seeds), or search (--search), each point an
    ordinary run of the sweep."""

    given = o.given(hp)
    if workers is not None and (workers < 1 or workers > 256):
        raise InputError(f"--workers must be between 1 and 256, got {workers}")
    check_threads(threads)
    existing = join if join is not None else resume
    if join is not None and resume is not None:
        raise InputError("give --join or --resume, not both")
    searching = (space, trials, budget, prune)
    if search is None and any(v is not None for v in searching):
        raise InputError("--space, --trials, --budget and --prune go with --search tpe|random|grid")
    if search is not None and (lr_grid is not None or grid):
        raise InputError(
            "--search proposes its own points: drop --lr-grid/--grid (search lr with "
            "--space lr=LOW:HIGH:log)"
        )
    if existing is not None:
        if given or model or preset or lr_grid is not None or grid or dataset or search:
            raise InputError(
                "--join/--resume work on the sweep as recorded; drop the grid and other options"
            )
        sweep_id = parse_id(existing, "sweep")
        api(ctx).sweep_record(sweep_id)  # refuse an unknown sweep before starting workers
    elif search is not None:
        sweep = api(ctx).create_search(
            dataset,
            search=search,
            space=space,
            trials=trials,
            budget=budget,
            prune=prune,
            model=model,
            preset=preset,
            name=name,
            **given,
        )
        sweep_id = sweep.id
        if not as_json:
            console.print(f"search {sweep_id} on {sweep.dataset}: {search}")
    else:
        sweep = api(ctx).create_sweep(
            dataset,
            lr_grid=lr_grid,
            grid=grid,
            seeds=seeds,
            model=model,
            preset=preset,
            name=name,
            **given,
        )
        sweep_id = sweep.id
        if not as_json:
            console.print(f"sweep {sweep_id}: {sweep.n_points} points on {sweep.dataset}")
    exp, resuming = api(ctx), resume is not None
    plan = exp.sweep_plan(sweep_id, workers=workers, threads=threads, resume=resuming)
    if not (quiet or as_json):
        err_console.print(f"sweep {sweep_id}: {plan.describe()}", style="dim", highlight=False)
    try:
        final = run_workers(exp, sweep_id, plan, resuming, quiet or as_json)
    except WorkersDied:
        show(exp.sweep_status(sweep_id), as_json)
        raise
    if "search" in final.sweep.spec:
        from ngramlm.cli.search import show_search

        show_search(exp, sweep_id, as_json)
    else:
        show(final, as_json)
    if any(r.status == "killed" for r in final.runs):
        raise typer.Exit(130)


def run_workers(
    exp: Experiments, sweep_id: int, plan: SweepPlan, resume: bool, quiet: bool
) -> core.SweepStatus:
    """The API's ``run_sweep`` with a live display of the sweep on a terminal."""
    if quiet or not err_console.is_terminal:
        return exp.run_sweep(sweep_id, workers=plan.workers, threads=plan.threads, resume=resume)
    with Live(console=err_console, refresh_per_second=4, transient=True) as live:
        return exp.run_sweep(
            sweep_id,
            workers=plan.workers,
            threads=plan.threads,
            resume=resume,
            on_poll=lambda st: live.update(_display(st)),
        )


def swept_keys(st: core.SweepStatus) -> tuple[str, ...]:
    spec = st.sweep.spec
    if "search" in spec:  # the searched keys
        return tuple(t.partition("=")[0].replace("-", "_") for t in spec["search"]["space"])
    keys = ["lr", *spec.get("grid", {})]
    if spec.get("seeds", 1) > 1:
        keys.append("seed")
    return tuple(keys)


def _config_summary(config: dict[str, Any], keys: tuple[str, ...] = GRID_KEYS) -> str:
    from ngramlm.models import config_from_dict

    flat = config_from_dict(config).hyperparameters()
    return " ".join(
        f"{k}={flat[k]:g}" if isinstance(flat[k], float) else f"{k}={flat[k]}"
        for k in keys
        if k in flat
    )


def _display(st: core.SweepStatus) -> Table:
    table = Table.grid(padding=(0, 2))
    n = st.sweep.n_points
    done = st.done
    width = 30
    bar = "█" * int(width * done / max(1, n)) + "░" * (width - int(width * done / max(1, n)))
    best = st.best
    keys = swept_keys(st)
    best_txt = (
        f"best dev {best.dev_loss:.4f} ({_config_summary(best.config, keys)})" if best else ""
    )
    table.add_row(f"sweep {st.sweep.id}", f"{bar} {done}/{n}", best_txt)
    for r in st.active:
        table.add_row(
            f"  run {r.id}", f"{r.steps_done:,}/{r.steps:,} steps", _config_summary(r.config, keys)
        )
    return table


def show(st: core.SweepStatus, as_json: bool) -> None:
    runs = sorted(st.runs, key=lambda r: (r.dev_loss is None, r.dev_loss or 0.0))
    best = st.best
    if as_json:
        print_json(
            {
                "sweep": st.sweep.id,
                "dataset": st.sweep.dataset,
                "points": st.sweep.n_points,
                "finished": st.done,
                "best_run": best.id if best else None,
                "runs": [
                    {
                        "run": r.id,
                        "status": r.status,
                        "config": r.config,
                        "train_loss": r.train_loss,
                        "dev_loss": r.dev_loss,
                        "train_seconds": r.train_seconds,
                    }
                    for r in runs
                ],
            }
        )
        return
    table = Table(
        title=f"sweep {st.sweep.id} on {st.sweep.dataset}: {st.done}/{st.sweep.n_points} finished"
    )
    for col in ("", "run", "status", "config", "train", "dev", "time"):
        table.add_column(col, justify="right" if col in ("train", "dev", "time", "run") else "left")
    keys = swept_keys(st)
    for r in runs:
        mark = "★" if best is not None and r.id == best.id else ""
        table.add_row(
            mark,
            str(r.id),
            r.status,
            _config_summary(r.config, keys),
            fmt_loss(r.train_loss),
            fmt_loss(r.dev_loss),
            f"{r.train_seconds or 0:.1f}s",
        )
    console.print(table)
    open_points = st.sweep.n_points - len(st.runs)
    if open_points or any(r.status in ("killed", "crashed") for r in st.runs):
        console.print(f"continue it with `ngramlm sweep --resume {st.sweep.id}`")
