"""Hyperparameter options shared by ``train``, ``sweep`` and ``lr-find``: declared once."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ngramlm.config import RunConfig, hyperparameter_names

Dataset = Annotated[
    str | None,
    typer.Option(help="Dataset name (default: the bundled names, prepared on first use)."),
]
Preset = Annotated[
    str | None,
    typer.Option(
        help="default (part-3 init), lecture (makemore part 2) or best (the tuned recipe)."
    ),
]
BlockSize = Annotated[int | None, typer.Option(help="Context length in characters.")]
NEmbd = Annotated[int | None, typer.Option(help="Embedding size per character.")]
NHidden = Annotated[int | None, typer.Option(help="Units per tanh hidden layer.")]
NLayers = Annotated[int | None, typer.Option(help="Hidden layers.")]
Init = Annotated[str | None, typer.Option(help="lecture (randn) or kaiming (part 3).")]
Norm = Annotated[str | None, typer.Option(help="none, batch or layer.")]
Dropout = Annotated[float | None, typer.Option(help="Dropout on hidden units.")]
Direct = Annotated[
    bool | None,
    typer.Option("--direct/--no-direct", help="Bengio 2003's direct connections."),
]
BatchSize = Annotated[int | None, typer.Option(help="Minibatch size.")]
Steps = Annotated[int | None, typer.Option(help="Optimisation steps.")]
Optimizer = Annotated[str | None, typer.Option(help="sgd or adamw.")]
Lr = Annotated[float | None, typer.Option(help="Learning rate (peak).")]
LrSchedule = Annotated[str | None, typer.Option(help="step, cosine or constant.")]
DecayAt = Annotated[float | None, typer.Option(help="Fraction of steps where 'step' decays.")]
DecayFactor = Annotated[
    float | None, typer.Option(help="lr multiplier after the decay; the cosine floor.")
]
Warmup = Annotated[int | None, typer.Option(help="Linear warm-up steps.")]
WeightDecay = Annotated[float | None, typer.Option(help="Weight decay.")]
Seed = Annotated[int | None, typer.Option(help="Seed for init, minibatches and dropout.")]
EvalEvery = Annotated[
    int | None,
    typer.Option(help="Steps between full train/dev evaluations (default: 20 per run)."),
]
CheckpointEvery = Annotated[
    int | None,
    typer.Option(help="Steps between checkpoints (default: at each evaluation)."),
]
Device = Annotated[str | None, typer.Option(help="auto, cpu, cuda or mps.")]
Threads = Annotated[
    int | None,
    typer.Option(help="torch CPU threads (default: 1 for small models, else torch's)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]


def overrides(params: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameter options a command was given (None: not given)."""
    return {k: params[k] for k in hyperparameter_names() if k in params}


def set_threads(threads: int | None) -> None:
    if threads is None:
        return
    from ngramlm.errors import InputError

    if threads < 1 or threads > 1024:
        raise InputError(f"--threads must be between 1 and 1024, got {threads}")
    import torch

    torch.set_num_threads(threads)


SMALL_STEP_FLOP = 20e6  # below this, one thread beats several: the ops are too small to split


def auto_threads(cfg: RunConfig) -> int | None:
    """One thread for small models (the lecture's step is ~2 MFLOP: one thread ran 3,690
    steps/s here against 2,845 with two, and does not fight other processes for the
    cores); torch's own default (None) for large ones."""
    m = cfg.model
    per_example = m.block_size * m.n_embd * m.n_hidden + m.n_hidden * m.vocab_size
    per_example += (m.n_layers - 1) * m.n_hidden * m.n_hidden
    flop = 6 * cfg.train.batch_size * per_example  # forward and backward
    return 1 if flop < SMALL_STEP_FLOP else None
