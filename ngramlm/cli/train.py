"""``ngramlm train``: train (or count) one model and record it in the store."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from ngramlm.api import display
from ngramlm.cli import options as o
from ngramlm.cli.common import api, console, parse_id, print_json, safe
from ngramlm.errors import InputError
from ngramlm.measure import NATS, Measure, measure

if TYPE_CHECKING:
    from ngramlm.api.progress import Outcome


def register(app: typer.Typer) -> None:
    app.command(name="train")(train_cmd)


@o.hyperparameter_options()
def train_cmd(
    ctx: typer.Context,
    *,
    dataset: o.Dataset = None,
    model: o.Model = None,
    preset: o.Preset = None,
    threads: o.Threads = None,
    name: o.Name = None,
    resume: Annotated[
        str | None, typer.Option(help="Continue a killed or crashed RUN from its last checkpoint.")
    ] = None,
    quiet: o.Quiet = False,
    as_json: o.Json = False,
    **hp: Any,
) -> None:
    """Train a model on a dataset (the MLP, the WaveNet, makemore.py's Transformer, GRU,
    RNN or BoW, or a bigram or Kneser-Ney baseline, counted) and record the run, its
    curves and checkpoints."""
    given = o.given(hp)
    if resume is not None:  # refuse bad options before the store is opened
        extra = [*given, *(["model"] if model else []), *(["preset"] if preset else [])]
        if extra or dataset is not None:
            raise InputError(
                "--resume continues a run with its recorded config; drop the other options "
                f"({', '.join('--' + k.replace('_', '-') for k in extra) or '--dataset'})"
            )
        run_id = parse_id(resume)
    from ngramlm.cli.progress import RichProgress  # torch: imported when training starts

    progress = RichProgress(quiet=quiet or as_json)
    exp = api(ctx)
    if resume is not None:
        outcome = exp.resume(run_id, threads=threads, progress=progress)
    else:
        outcome = exp.train(
            dataset,
            model=model,
            preset=preset,
            name=name,
            threads=threads,
            progress=progress,
            **given,
        )
    # the figures a preset's authors printed, beside it only on the data they measured
    ds = exp.dataset(outcome.run.dataset)
    printed = display.printed(outcome.run, ds)
    show(outcome, as_json, printed, measure(ds.unit))
    if outcome.run.status == "killed":
        raise typer.Exit(130)


def show(
    outcome: Outcome,
    as_json: bool,
    printed: tuple[str, float, float] | None = None,
    m: Measure = NATS,
) -> None:
    run = outcome.run
    is_counted = display.counted(run)
    if as_json:
        print_json(
            {
                "run": run.id,
                "dataset": run.dataset,
                "status": run.status,
                "model": run.model,
                "preset": run.preset,
                "config": run.config,
                **({"smoothing": run.extra.get("smoothing")} if is_counted else {}),
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
    if run.status == "killed" and is_counted:
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
    d = display.describe(run)
    if is_counted:
        how = " (chosen on dev)" if run.extra.get("smoothing_chosen_on_dev") else ""
        what = (
            f"{run.extra['n_ngrams']:,} distinct {d.n}-grams counted"
            if "n_ngrams" in run.extra
            else "fitted"
        )
        console.print(
            f"run {run.id} [green]{run.status}[/]: {safe(d.label)}, {what} in "
            f"{run.train_seconds or 0:.1f}s; {safe(d.smoothing)}{how}"
        )
    else:
        console.print(
            f"run {run.id} [green]{run.status}[/]: {safe(d.label)}, {run.steps_done:,} steps in "
            f"{run.train_seconds or 0:.1f}s on {safe(run.device)}"
        )
    console.print(f"  train loss {m.line(run.train_loss)}   dev loss {m.line(run.dev_loss)}")
    if printed is not None:
        who, tr, dv = printed
        console.print(f"  {who} printed: train {tr:.4f}   dev {dv:.4f}")
    console.print(f"  sample from it: ngramlm sample {run.id}")
