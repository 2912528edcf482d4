"""``ngramlm train``: train one model and record it in the store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ngramlm.cli import options as o
from ngramlm.cli.common import console, fmt_loss, parse_id, print_json, store
from ngramlm.config import resolve
from ngramlm.datasets import check_name, resolve_dataset
from ngramlm.errors import InputError

if TYPE_CHECKING:
    from ngramlm.train import Outcome

LECTURE = {"train": 2.1260, "dev": 2.1701}  # makemore part 2's printed final losses


def register(app: typer.Typer) -> None:
    app.command(name="train")(train_cmd)


def train_cmd(
    ctx: typer.Context,
    *,
    dataset: o.Dataset = None,
    preset: o.Preset = "default",
    block_size: o.BlockSize = None,
    n_embd: o.NEmbd = None,
    n_hidden: o.NHidden = None,
    n_layers: o.NLayers = None,
    init: o.Init = None,
    norm: o.Norm = None,
    dropout: o.Dropout = None,
    direct: o.Direct = None,
    batch_size: o.BatchSize = None,
    steps: o.Steps = None,
    optimizer: o.Optimizer = None,
    lr: o.Lr = None,
    lr_schedule: o.LrSchedule = None,
    decay_at: o.DecayAt = None,
    decay_factor: o.DecayFactor = None,
    warmup: o.Warmup = None,
    weight_decay: o.WeightDecay = None,
    seed: o.Seed = None,
    eval_every: o.EvalEvery = None,
    checkpoint_every: o.CheckpointEvery = None,
    device: o.Device = None,
    threads: o.Threads = None,
    name: Annotated[str | None, typer.Option(help="A label for the run.")] = None,
    resume: Annotated[
        str | None, typer.Option(help="Continue a killed or crashed RUN from its last checkpoint.")
    ] = None,
    quiet: o.Quiet = False,
    as_json: o.Json = False,
) -> None:
    """Train the MLP n-gram model on a dataset and record the run, its curves and checkpoints."""
    given = o.overrides(locals())
    o.set_threads(threads)
    if resume is None:  # refuse bad options before the store is opened
        resolve(preset, given, vocab_size=27)
        if dataset is not None:
            check_name(dataset)
    from ngramlm.cli.progress import RichProgress  # torch: imported when training starts
    from ngramlm.train import resume_run, start_run, stop_on_signals

    s = store(ctx)
    progress = RichProgress(quiet=quiet or as_json)
    if resume is not None:
        extra = [k for k, v in given.items() if v is not None]
        if extra or dataset is not None:
            raise InputError(
                "--resume continues a run with its recorded config; drop the other options "
                f"({', '.join('--' + k.replace('_', '-') for k in extra) or '--dataset'})"
            )
        run_id = parse_id(resume)
        with stop_on_signals() as stop:
            outcome = resume_run(s, run_id, progress=progress, stop=stop)
    else:
        ds = resolve_dataset(s, dataset)
        cfg = resolve(preset, given, ds.vocab_size)
        if threads is None:
            o.set_threads(o.auto_threads(cfg))
        with stop_on_signals() as stop:
            outcome = start_run(s, ds, cfg, preset=preset, name=name, progress=progress, stop=stop)
    show(outcome, as_json)
    if outcome.run.status == "killed":
        raise typer.Exit(130)


def show(outcome: Outcome, as_json: bool) -> None:
    run = outcome.run
    if as_json:
        print_json(
            {
                "run": run.id,
                "dataset": run.dataset,
                "status": run.status,
                "preset": run.preset,
                "config": run.config,
                "steps_done": run.steps_done,
                "train_loss": run.train_loss,
                "dev_loss": run.dev_loss,
                "train_seconds": run.train_seconds,
                "device": run.device,
                "checkpoint_sha256": run.checkpoint_sha256,
                "curve": [
                    {
                        "step": p.step,
                        "train_loss": p.train_loss,
                        "dev_loss": p.dev_loss,
                        "batch_loss": p.batch_loss,
                        "lr": p.lr,
                        "elapsed_s": p.elapsed_s,
                    }
                    for p in outcome.result.points
                ],
            }
        )
        return
    if run.status == "killed":
        console.print(
            f"run {run.id} [yellow]killed[/] at step {run.steps_done:,}; checkpoint saved. "
            f"Continue it with `ngramlm train --resume {run.id}`"
        )
        return
    console.print(
        f"run {run.id} [green]{run.status}[/]: {run.steps_done:,} steps in "
        f"{run.train_seconds or 0:.1f}s on {run.device}"
    )
    console.print(f"  train loss {fmt_loss(run.train_loss)}   dev loss {fmt_loss(run.dev_loss)}")
    if run.preset == "lecture":
        console.print(
            f"  makemore part 2 printed: train {LECTURE['train']:.4f}   dev {LECTURE['dev']:.4f}"
        )
    console.print(f"  sample from it: ngramlm sample {run.id}")
