"""``ngramlm lr-find``: the lecture's learning-rate range test, stored as its own run."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ngramlm.cli import options as o
from ngramlm.cli.common import console, print_json


def register(app: typer.Typer) -> None:
    app.command(name="lr-find")(lr_find_cmd)


# The range test sets every step's rate itself: no schedule options.
NOT_HERE = ("order", "smoothing", "steps", "lr", "lr_schedule", "decay_at", "decay_factor",
            "warmup", "eval_every", "checkpoint_every")  # fmt: skip


@o.hyperparameter_options(exclude=NOT_HERE)
def lr_find_cmd(
    ctx: typer.Context,
    *,
    min_lr: Annotated[float, typer.Option(help="Smallest learning rate.")] = 1e-3,
    max_lr: Annotated[float, typer.Option(help="Largest learning rate.")] = 1.0,
    steps: Annotated[int, typer.Option(help="Steps, one per learning rate.")] = 1000,
    dataset: o.Dataset = None,
    model: o.Model = None,
    preset: o.Preset = None,
    threads: o.Threads = None,
    name: Annotated[str | None, typer.Option(help="A label for the run.")] = None,
    as_json: o.Json = False,
    **hp: Any,
) -> None:
    """Find a learning rate: one step per rate, log-spaced from --min-lr to --max-lr."""
    from ngramlm.lrfind import validate_range
    from ngramlm.runner import lr_find

    given = o.given(hp)
    # The range test sets every step's rate itself (a preset may warm up or decay).
    given.update(steps=steps, lr=max_lr, lr_schedule="constant", warmup=0)
    if model is None and preset is None:
        preset = "lecture"  # the lecture's model, as in makemore part 2
    o.set_threads(threads)
    validate_range(min_lr, max_lr, steps)
    s, ds, cfg, _ = o.resolve_config(ctx, model, preset, given, dataset)
    run, lrs, losses, sug = lr_find(s, ds, cfg, min_lr=min_lr, max_lr=max_lr, name=name)
    if as_json:
        print_json(
            {
                "run": run.id,
                "dataset": ds.name,
                "suggested_lr": sug.lr,
                "lr_at_min": sug.lr_at_min,
                "method": sug.method,
                "points": [{"lr": lr, "loss": loss} for lr, loss in zip(lrs, losses, strict=True)],
            }
        )
        return
    console.print(f"lr-find run {run.id} on {ds.name}: {steps} steps from {min_lr:g} to {max_lr:g}")
    console.print(f"  smoothed loss is lowest at lr {sug.lr_at_min:.3g}")
    console.print(f"  suggested lr: [bold]{sug.lr:.3g}[/]  ({sug.method})")
    console.print(f"  plot it: ngramlm plot lr-find {run.id}")
