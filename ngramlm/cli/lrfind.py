"""``ngramlm lr-find``: the lecture's learning-rate range test, stored as its own run."""

from __future__ import annotations

from typing import Annotated

import typer

from ngramlm.cli import options as o
from ngramlm.cli.common import console, print_json, store
from ngramlm.config import resolve
from ngramlm.datasets import check_name, resolve_dataset


def register(app: typer.Typer) -> None:
    app.command(name="lr-find")(lr_find_cmd)


def lr_find_cmd(
    ctx: typer.Context,
    *,
    min_lr: Annotated[float, typer.Option(help="Smallest learning rate.")] = 1e-3,
    max_lr: Annotated[float, typer.Option(help="Largest learning rate.")] = 1.0,
    steps: Annotated[int, typer.Option(help="Steps, one per learning rate.")] = 1000,
    dataset: o.Dataset = None,
    preset: o.Preset = "lecture",
    block_size: o.BlockSize = None,
    n_embd: o.NEmbd = None,
    n_hidden: o.NHidden = None,
    n_layers: o.NLayers = None,
    init: o.Init = None,
    norm: o.Norm = None,
    dropout: o.Dropout = None,
    direct: o.Direct = None,
    batch_size: o.BatchSize = None,
    optimizer: o.Optimizer = None,
    weight_decay: o.WeightDecay = None,
    seed: o.Seed = None,
    device: o.Device = None,
    threads: o.Threads = None,
    name: Annotated[str | None, typer.Option(help="A label for the run.")] = None,
    as_json: o.Json = False,
) -> None:
    """Find a learning rate: one step per rate, log-spaced from --min-lr to --max-lr."""
    from ngramlm.lrfind import validate_range
    from ngramlm.train import lr_find

    given = o.overrides(locals())
    given["lr"] = max_lr
    given["lr_schedule"] = "constant"
    given["warmup"] = 0  # the range test sets every step's rate itself (a preset may warm up)
    o.set_threads(threads)
    validate_range(min_lr, max_lr, steps)
    resolve(preset, given, vocab_size=27)
    if dataset is not None:
        check_name(dataset)
    s = store(ctx)
    ds = resolve_dataset(s, dataset)
    cfg = resolve(preset, given, ds.vocab_size)
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
