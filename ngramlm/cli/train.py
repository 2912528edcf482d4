"""``ngramlm train``: train one model and record it in the store."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ngramlm.cli.common import console, fmt_loss, parse_id, print_json, store
from ngramlm.cli.progress import RichProgress
from ngramlm.config import resolve
from ngramlm.datasets import check_name, resolve_dataset
from ngramlm.train import Outcome, resume_run, start_run, stop_on_signals

LECTURE = {"train": 2.1260, "dev": 2.1701}  # makemore part 2's printed final losses


def register(app: typer.Typer) -> None:
    app.command(name="train")(train_cmd)


def train_cmd(
    ctx: typer.Context,
    *,
    dataset: Annotated[
        str | None,
        typer.Option(help="Dataset name (default: the bundled names, prepared on first use)."),
    ] = None,
    preset: Annotated[
        str, typer.Option(help="lecture (makemore part 2) or default (part-3 init).")
    ] = "default",
    block_size: Annotated[int | None, typer.Option(help="Context length in characters.")] = None,
    n_embd: Annotated[int | None, typer.Option(help="Embedding size per character.")] = None,
    n_hidden: Annotated[int | None, typer.Option(help="Units per tanh hidden layer.")] = None,
    n_layers: Annotated[int | None, typer.Option(help="Hidden layers.")] = None,
    init: Annotated[str | None, typer.Option(help="lecture (randn) or kaiming (part 3).")] = None,
    norm: Annotated[str | None, typer.Option(help="none, batch or layer.")] = None,
    dropout: Annotated[float | None, typer.Option(help="Dropout on hidden units.")] = None,
    direct: Annotated[
        bool | None, typer.Option("--direct/--no-direct", help="Bengio 2003's direct connections.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Minibatch size.")] = None,
    steps: Annotated[int | None, typer.Option(help="Optimisation steps.")] = None,
    optimizer: Annotated[str | None, typer.Option(help="sgd or adamw.")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (peak).")] = None,
    lr_schedule: Annotated[str | None, typer.Option(help="step, cosine or constant.")] = None,
    decay_at: Annotated[
        float | None, typer.Option(help="Fraction of steps where step decays.")
    ] = None,
    decay_factor: Annotated[
        float | None, typer.Option(help="lr multiplier after decay / cosine floor.")
    ] = None,
    warmup: Annotated[int | None, typer.Option(help="Linear warm-up steps.")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="Weight decay.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for init, minibatches, dropout.")] = None,
    eval_every: Annotated[
        int | None,
        typer.Option(help="Steps between full train/dev evaluations (default: 20 per run)."),
    ] = None,
    checkpoint_every: Annotated[
        int | None, typer.Option(help="Steps between checkpoints (default: at each evaluation).")
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or mps.")] = None,
    threads: Annotated[
        int | None, typer.Option(help="torch CPU threads (default: torch's).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A label for the run.")] = None,
    resume: Annotated[
        str | None, typer.Option(help="Continue a killed or crashed RUN from its last checkpoint.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Train the MLP n-gram model on a dataset and record the run, its curves and checkpoints."""
    overrides: dict[str, Any] = {
        "block_size": block_size,
        "n_embd": n_embd,
        "n_hidden": n_hidden,
        "n_layers": n_layers,
        "init": init,
        "norm": norm,
        "dropout": dropout,
        "direct": direct,
        "batch_size": batch_size,
        "steps": steps,
        "optimizer": optimizer,
        "lr": lr,
        "lr_schedule": lr_schedule,
        "decay_at": decay_at,
        "decay_factor": decay_factor,
        "warmup": warmup,
        "weight_decay": weight_decay,
        "seed": seed,
        "eval_every": eval_every,
        "checkpoint_every": checkpoint_every,
        "device": device,
    }
    set_threads(threads)
    if resume is None:  # refuse bad options before the store is opened
        resolve(preset, overrides, vocab_size=27)
        if dataset is not None:
            check_name(dataset)
    s = store(ctx)
    progress = RichProgress(quiet=quiet or as_json)
    if resume is not None:
        given = [k for k, v in overrides.items() if v is not None]
        if given or dataset is not None:
            from ngramlm.errors import InputError

            raise InputError(
                "--resume continues a run with its recorded config; drop the other options "
                f"({', '.join('--' + k.replace('_', '-') for k in given) or '--dataset'})"
            )
        run_id = parse_id(resume)
        with stop_on_signals() as stop:
            outcome = resume_run(s, run_id, progress=progress, stop=stop)
    else:
        ds = resolve_dataset(s, dataset)
        cfg = resolve(preset, overrides, ds.vocab_size)
        with stop_on_signals() as stop:
            outcome = start_run(s, ds, cfg, preset=preset, name=name, progress=progress, stop=stop)
    show(outcome, as_json)
    if outcome.run.status == "killed":
        raise typer.Exit(130)


def set_threads(threads: int | None) -> None:
    if threads is None:
        return
    from ngramlm.errors import InputError

    if threads < 1 or threads > 1024:
        raise InputError(f"--threads must be between 1 and 1024, got {threads}")
    import torch

    torch.set_num_threads(threads)


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
