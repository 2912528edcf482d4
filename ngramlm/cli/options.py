"""Options shared by ``train``, ``sweep`` and ``lr-find``: declared once, with the one
validate-then-open-the-store sequence they share."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from ngramlm.cli.common import store
from ngramlm.config import RunConfig
from ngramlm.datasets import check_name, resolve_dataset
from ngramlm.errors import InputError
from ngramlm.store import Store
from ngramlm.store.records import DatasetRecord

Dataset = Annotated[
    str | None,
    typer.Option(help="Dataset name (default: the bundled names, prepared on first use)."),
]
Model = Annotated[
    str | None,
    typer.Option(
        help="The model family: mlp (default), wavenet (makemore part 5), bigram (makemore "
        "part 1, add-k), kneser-ney (interpolated, --order N), modified-kn (modified "
        "Kneser-Ney, --order N) or mixture (--mix A,B). Default: the preset's."
    ),
]
Preset = Annotated[
    str | None,
    typer.Option(
        help="mlp: default (part-3 init), lecture (makemore part 2), best (the tuned recipe); "
        "wavenet: wavenet (makemore part 5's run). A preset implies its --model."
    ),
]
Device = Annotated[str | None, typer.Option(help="auto, cpu, cuda or mps.")]
Threads = Annotated[
    int | None,
    typer.Option(help="torch CPU threads (default: 1 for small models, else torch's)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]

# Every hyperparameter option, declared once; each family takes the ones its config has
# and refuses the others by name (``Family.make_config``).
HYPERPARAMETERS: dict[str, Any] = {
    "order": Annotated[
        int | None,
        typer.Option(help="kneser-ney, modified-kn: n-gram order, 2 to 8 (context = N-1)."),
    ],
    "smoothing": Annotated[
        str | None,
        typer.Option(
            "--smoothing",
            "--discount",
            help="bigram: add-k (default 1, the lecture's); kneser-ney: the discount in "
            "(0, 1] (default auto). auto: the value with the best dev loss.",
        ),
    ],
    "mix": Annotated[
        str | None,
        typer.Option(
            help="mixture: A,B, the run ids of a finished network and a finished count "
            "model of one dataset (Bengio et al. 2003's mix)."
        ),
    ],
    "weight": Annotated[
        float | None,
        typer.Option(help="mixture: λ, the network's share in [0, 1] (default: chosen on dev)."),
    ],
    "block_size": Annotated[int | None, typer.Option(help="Context length in tokens.")],
    "n_embd": Annotated[int | None, typer.Option(help="Embedding size per token.")],
    "n_hidden": Annotated[int | None, typer.Option(help="Units per hidden layer.")],
    "n_layers": Annotated[int | None, typer.Option(help="Hidden layers (mlp).")],
    "init": Annotated[str | None, typer.Option(help="mlp: lecture (randn) or kaiming (part 3).")],
    "norm": Annotated[str | None, typer.Option(help="mlp: none, batch or layer.")],
    "dropout": Annotated[float | None, typer.Option(help="mlp: dropout on hidden units.")],
    "direct": Annotated[
        bool | None,
        typer.Option("--direct/--no-direct", help="mlp: Bengio 2003's direct connections."),
    ],
    "batch_size": Annotated[int | None, typer.Option(help="Minibatch size.")],
    "steps": Annotated[int | None, typer.Option(help="Optimisation steps.")],
    "optimizer": Annotated[str | None, typer.Option(help="sgd or adamw.")],
    "lr": Annotated[float | None, typer.Option(help="Learning rate (peak).")],
    "lr_schedule": Annotated[str | None, typer.Option(help="step, cosine or constant.")],
    "decay_at": Annotated[
        float | None, typer.Option(help="Fraction of steps where 'step' decays.")
    ],
    "decay_factor": Annotated[
        float | None, typer.Option(help="lr multiplier after the decay; the cosine floor.")
    ],
    "warmup": Annotated[int | None, typer.Option(help="Linear warm-up steps.")],
    "weight_decay": Annotated[float | None, typer.Option(help="Weight decay.")],
    "seed": Annotated[int | None, typer.Option(help="Seed for init, minibatches and dropout.")],
    "eval_every": Annotated[
        int | None,
        typer.Option(help="Steps between full train/dev evaluations (default: 20 per run)."),
    ],
    "checkpoint_every": Annotated[
        int | None,
        typer.Option(help="Steps between checkpoints (default: at each evaluation)."),
    ],
    "device": Device,
}

F = TypeVar("F", bound=Callable[..., Any])


def hyperparameter_options(*, exclude: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Give a command every hyperparameter option (but ``exclude``), passed to it as
    ``**hp``: the one declaration that train, sweep and lr-find share."""

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn, eval_str=True)  # Typer reads the evaluated annotations
        own = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ann)
            for name, ann in HYPERPARAMETERS.items()
            if name not in exclude
        ]
        fn.__signature__ = sig.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
        fn.__annotations__ = {**fn.__annotations__, **{p.name: p.annotation for p in added}}
        return fn

    return decorate


def given(hp: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameter options a command was given (None: not given)."""
    return {k: v for k, v in hp.items() if v is not None}


def resolve_config(
    ctx: typer.Context,
    model: str | None,
    preset: str | None,
    hp: dict[str, Any],
    dataset: str | None,
) -> tuple[Store, DatasetRecord, RunConfig, str | None]:
    """Validate the options before the store is opened (nothing is written for a bad
    one), then open it, resolve the dataset and build the config for its vocabulary.
    Returns the store, the dataset, the config and the preset it used."""
    from ngramlm.models import resolve

    first, _ = resolve(model, preset, hp, vocab_size=27)
    if dataset is not None:
        check_name(dataset)
    s = store(ctx)
    if dataset is None:  # a mixture: its runs' dataset
        from ngramlm.runner import components_dataset

        dataset = components_dataset(s, first)
    ds = resolve_dataset(s, dataset)
    cfg, used = resolve(model, preset, hp, ds.vocab_size)
    return s, ds, cfg, used


def set_threads(threads: int | None) -> None:
    if threads is None:
        return
    if threads < 1 or threads > 1024:
        raise InputError(f"--threads must be between 1 and 1024, got {threads}")
    import torch

    torch.set_num_threads(threads)


SMALL_STEP_FLOP = 20e6  # below this, one thread beats several: the ops are too small to split


def auto_threads(cfg: RunConfig) -> int | None:
    """One thread for small models (the lecture's step is ~2 MFLOP: one thread ran 3,690
    steps/s here against 2,845 with two, and does not fight other processes for the
    cores); torch's own default (None) for large ones. A step costs about 6 FLOP per
    parameter and example (forward and backward)."""
    if cfg.train is None:
        return 1
    flop = 6 * cfg.train.batch_size * int(getattr(cfg.model, "n_params", 0))
    return 1 if flop < SMALL_STEP_FLOP else None
