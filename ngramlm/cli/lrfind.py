"""``ngramlm lr-find``: the lecture's learning-rate range test, stored as its own run."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ngramlm.cli import options as o
from ngramlm.cli.common import api, console, print_json, safe


def register(app: typer.Typer) -> None:
    app.command(name="lr-find")(lr_find_cmd)


# The range test sets every step's rate itself: no schedule options.
NOT_HERE = ("order", "smoothing", "steps", "epochs", "lr", "lr_schedule", "decay_at",
            "decay_factor", "warmup", "eval_every", "checkpoint_every")  # fmt: skip


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
    name: o.Name = None,
    as_json: o.Json = False,
    **hp: Any,
) -> None:
    """Find a learning rate: one step per rate, log-spaced from --min-lr to --max-lr."""
    exp = api(ctx)
    run = exp.lr_find(dataset, min_lr=min_lr, max_lr=max_lr, steps=steps, model=model,
                      preset=preset, name=name, threads=threads, **o.given(hp))  # fmt: skip
    x = run.extra
    if as_json:
        print_json(
            {
                "run": run.id,
                "dataset": run.dataset,
                "suggested_lr": x["suggested_lr"],
                "lr_at_min": x["lr_at_min"],
                "method": x["method"],
                # a diverged step's loss is recorded as null
                "points": [{"lr": p.lr, "loss": p.batch_loss} for p in exp.curve(run)],
            }
        )
        return
    console.print(
        f"lr-find run {run.id} on {safe(run.dataset)}: {steps} steps from {min_lr:g} to {max_lr:g}"
    )
    console.print(f"  smoothed loss is lowest at lr {x['lr_at_min']:.3g}")
    console.print(f"  suggested lr: [bold]{x['suggested_lr']:.3g}[/]  ({x['method']})")
    console.print(f"  plot it: ngramlm plot lr-find {run.id}")
