"""``ngramlm train``: train one model and record it in the store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ngramlm.cli import options as o
from ngramlm.cli.common import console, fmt_loss, parse_id, print_json, store
from ngramlm.config import DEFAULT_PRESET, resolve
from ngramlm.datasets import check_name, resolve_dataset
from ngramlm.errors import InputError

if TYPE_CHECKING:
    from ngramlm.train import Outcome

LECTURE = {"train": 2.1260, "dev": 2.1701}  # makemore part 2's printed final losses
WAVENET = {"train": 1.7690, "dev": 1.9937}  # makemore part 5's, the series' best


def register(app: typer.Typer) -> None:
    app.command(name="train")(train_cmd)


def train_cmd(
    ctx: typer.Context,
    *,
    dataset: o.Dataset = None,
    model: Annotated[
        str,
        typer.Option(
            help="mlp (the neural model), bigram (makemore part 1, add-k) or kneser-ney "
            "(interpolated, --order N)."
        ),
    ] = "mlp",
    order: Annotated[
        int | None, typer.Option(help="kneser-ney: n-gram order, 2 to 8 (context = N-1).")
    ] = None,
    smoothing: Annotated[
        str | None,
        typer.Option(
            "--smoothing",
            "--discount",
            help="bigram: add-k (default 1, the lecture's); kneser-ney: the discount in "
            "(0, 1] (default auto). auto: the value with the best dev loss.",
        ),
    ] = None,
    preset: o.Preset = None,
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
    """Train a model on a dataset (the MLP, or a bigram or Kneser-Ney baseline) and record
    the run, its curves and checkpoints."""
    given = o.overrides(locals())
    o.set_threads(threads)
    if model != "mlp":
        count_model(ctx, model, order, smoothing, preset, given, dataset, name, resume, as_json)
        return
    if order is not None or smoothing is not None:
        raise InputError(
            f"--{'order' if order is not None else 'smoothing'} is for --model bigram or "
            "kneser-ney; the MLP's context is --block-size"
        )
    preset_given, preset = preset is not None, preset or DEFAULT_PRESET
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
        extra += ["preset"] if preset_given else []
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


def count_model(
    ctx: typer.Context,
    model: str,
    order: int | None,
    smoothing: str | None,
    preset: str | None,
    given: dict[str, object],
    dataset: str | None,
    name: str | None,
    resume: str | None,
    as_json: bool,
) -> None:
    """``train --model bigram|kneser-ney``: counted, not trained; no MLP options apply."""
    from ngramlm import ngram

    mlp_only = [k for k, v in given.items() if v is not None]
    if preset is not None:
        mlp_only.insert(0, "preset")
    if mlp_only:
        raise InputError(
            f"--{mlp_only[0].replace('_', '-')} is an MLP option; --model {model} takes "
            "--order and --smoothing"
        )
    if resume is not None:
        raise InputError(
            "--resume continues a run with its recorded config; drop --model and the other options"
        )
    value = ngram.parse_smoothing(smoothing)
    ngram.make_config(model, order, value, vocab_size=27)  # refuse before opening the store
    if dataset is not None:
        check_name(dataset)
    from ngramlm.train import start_ngram, stop_on_signals

    s = store(ctx)
    ds = resolve_dataset(s, dataset)
    cfg = ngram.make_config(model, order, value, ds.vocab_size)
    with stop_on_signals() as stop:
        outcome = start_ngram(s, ds, cfg, name=name, stop=stop)
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
                "model": run.model,
                "preset": run.preset,
                "config": run.config,
                **({"smoothing": run.extra.get("smoothing")} if run.model != "mlp" else {}),
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
    if run.status == "killed" and run.model != "mlp":
        console.print(
            f"run {run.id} [yellow]killed[/] while counting; count it again with "
            f"`ngramlm train --resume {run.id}`"
        )
        return
    if run.status == "killed":
        console.print(
            f"run {run.id} [yellow]killed[/] at step {run.steps_done:,}; checkpoint saved. "
            f"Continue it with `ngramlm train --resume {run.id}`"
        )
        return
    if run.model != "mlp":
        what = "add-k" if run.model == "bigram" else "discount"
        how = " (chosen on dev)" if run.extra.get("smoothing_chosen_on_dev") else ""
        console.print(
            f"run {run.id} [green]{run.status}[/]: {run.model} order {run.order}, "
            f"{run.extra.get('n_ngrams', 0):,} distinct {run.order}-grams counted in "
            f"{run.train_seconds or 0:.1f}s; {what} {run.extra.get('smoothing', 0):.4g}{how}"
        )
    else:
        console.print(
            f"run {run.id} [green]{run.status}[/]: {run.steps_done:,} steps in "
            f"{run.train_seconds or 0:.1f}s on {run.device}"
        )
    console.print(f"  train loss {fmt_loss(run.train_loss)}   dev loss {fmt_loss(run.dev_loss)}")
    if run.preset == "lecture":
        console.print(
            f"  makemore part 2 printed: train {LECTURE['train']:.4f}   dev {LECTURE['dev']:.4f}"
        )
    if run.preset == "best":
        console.print(
            f"  makemore part 5's WaveNet printed: train {WAVENET['train']:.4f}   "
            f"dev {WAVENET['dev']:.4f}"
        )
    console.print(f"  sample from it: ngramlm sample {run.id}")
