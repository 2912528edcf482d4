"""Options shared by ``train``, ``sweep`` and ``lr-find``: declared once. What they do
with them (validate, then open the store) is the Python API's (``ngramlm.api``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from ngramlm.api import display

Dataset = Annotated[
    str | None,
    typer.Option(help="Dataset name (default: the bundled names, prepared on first use)."),
]
Model = Annotated[
    str | None,
    typer.Option(
        help="The model family: mlp (default), wavenet (makemore part 5), transformer, gru, "
        "rnn or bow (makemore.py's sequence models), bigram (makemore part 1, add-k), "
        "kneser-ney (interpolated, --order N), modified-kn (modified Kneser-Ney, --order N) "
        "or mixture (--mix A,B). Default: the preset's."
    ),
]
Preset = Annotated[
    str | None,
    typer.Option(
        help="mlp: default (part-3 init), lecture (makemore part 2), best (the tuned recipe), "
        "bengio (the paper's MLP1, words), words (the tuned word model); wavenet: wavenet "
        "(makemore part 5's run); transformer, gru, rnn, bow: makemore.py's defaults. A preset "
        "implies its --model."
    ),
]
Device = Annotated[str | None, typer.Option(help="auto, cpu, cuda or mps.")]
Threads = Annotated[
    int | None,
    typer.Option(help="torch CPU threads (default: 1 for small models, else torch's)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]
Name = Annotated[str | None, typer.Option(help="A label for the run.")]
Force = Annotated[
    bool,
    typer.Option("--force", help="Replace the file if it exists (never a directory or device)."),
]

# --- sweep's own options ---------------------------------------------------------------
LrGrid = Annotated[
    str | None, typer.Option(help="Learning rates: 0.01,0.1,1 or log-spaced START:STOP:COUNT.")
]
Grid = Annotated[
    list[str] | None,
    typer.Option(help="KEY=V1,V2,... over any train hyperparameter (repeatable)."),
]
Seeds = Annotated[int, typer.Option(help="Replicates per point (seed, seed+1, ...).")]
Search = Annotated[
    str | None,
    typer.Option(help="Search instead of a grid: tpe, random or grid (docs/search.md)."),
]
Space = Annotated[
    list[str] | None,
    typer.Option(help="KEY=LOW:HIGH[:log] or KEY=V1,V2 (repeatable; default: the family's space)."),
]
Trials = Annotated[int | None, typer.Option(help="Trials a search starts at most.")]
Budget = Annotated[
    str | None, typer.Option(help="A search's wall time (90s, 30m, 2h): running trials stop at it.")
]
Prune = Annotated[
    str | None, typer.Option(help="halving: stop the worse trials at 1/9 and 1/3 of steps.")
]
Mix = Annotated[
    bool,
    typer.Option(
        "--mix/--no-mix",
        help="End a search in the mixture of its best trial and the dataset's best count model.",
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        help="Local worker processes (default: one a usable core, one a point; 0: in this process)."
    ),
]
WorkerThreads = Annotated[
    int | None, typer.Option(help="torch CPU threads per worker (default: 1 for small models).")
]
Join = Annotated[str | None, typer.Option(help="Add workers to an existing SWEEP.")]
ResumeSweep = Annotated[
    str | None, typer.Option(help="Continue SWEEP: killed and crashed points resume.")
]
SweepName = Annotated[str | None, typer.Option(help="A label for the sweep and its runs.")]


def _hp(kind: type, help: str, *flags: str) -> Any:
    """A hyperparameter option: a ``kind`` or None (not given), its ``--flags`` (default:
    from the parameter's name) and its help."""
    return Annotated[kind | None, typer.Option(*flags, help=help)]


# Every hyperparameter option, declared once; each family takes the ones its config has
# and refuses the others by name (``Family.make_config``).
HYPERPARAMETERS: dict[str, Any] = {
    "order": _hp(int, "kneser-ney, modified-kn: n-gram order, 2 to 8 (context = N-1)."),
    "smoothing": _hp(
        str,
        "bigram: add-k (default 1, the lecture's); kneser-ney: the discount in "
        "(0, 1] (default auto). auto: the value with the best dev loss.",
        "--smoothing",
        "--discount",
    ),
    "mix": _hp(
        str,
        "mixture: A,B, the run ids of a finished network and a finished count "
        "model of one dataset (Bengio et al. 2003's mix).",
    ),
    "weight": _hp(float, "mixture: λ, the network's share in [0, 1] (default: chosen on dev)."),
    "block_size": _hp(int, "Context length in tokens."),
    "n_embd": _hp(int, "Embedding size per token."),
    "n_hidden": _hp(int, "Units per hidden layer; gru, rnn: the state; bow: its MLP."),
    "n_layers": _hp(int, "Hidden layers (mlp); blocks (transformer)."),
    "n_head": _hp(int, "transformer: attention heads (--n-embd divides among them)."),
    "init": _hp(str, "mlp: lecture (randn) or kaiming (part 3)."),
    "norm": _hp(str, "mlp: none, batch or layer."),
    "dropout": _hp(
        float, "mlp: dropout on hidden units; transformer: on embeddings and block outputs."
    ),
    "direct": _hp(bool, "mlp: Bengio 2003's direct connections.", "--direct/--no-direct"),
    "embd_dropout": _hp(float, "mlp: dropout on the concatenated embeddings."),
    "tie": _hp(
        bool,
        "mlp: the output layer shares the embedding table (a projection to "
        "--n-embd, then C's rows).",
        "--tie/--no-tie",
    ),
    "batch_size": _hp(int, f"Minibatch size; {display.preset_defaults('batch_size')}."),
    "steps": _hp(int, f"Optimisation steps; {display.preset_defaults('steps')}."),
    "epochs": _hp(float, "Passes over the train split instead of --steps (word corpora)."),
    "optimizer": _hp(str, "sgd or adamw."),
    "lr": _hp(float, f"Learning rate (peak); {display.preset_defaults('lr')}."),
    "lr_schedule": _hp(str, "step, cosine or constant."),
    "decay_at": _hp(float, "Fraction of steps where 'step' decays."),
    "decay_factor": _hp(float, "lr multiplier after the decay; the cosine floor."),
    "warmup": _hp(int, "Linear warm-up steps."),
    "weight_decay": _hp(float, "Weight decay."),
    "seed": _hp(int, "Seed for init, minibatches and dropout."),
    "eval_every": _hp(
        int,
        "Steps between train/dev evaluations (default: 20 per run, fewer on a "
        "word corpus, whose intermediate ones use a fixed sample; the last is whole).",
    ),
    "checkpoint_every": _hp(int, "Steps between checkpoints (default: at each evaluation)."),
    "device": Device,
    "precision": _hp(
        str,
        "auto, fp32 or bf16: the output layer's products (mlp; the sequence models' "
        "bodies too). auto: bf16 on "
        "CUDA or a CPU with bfloat16 units (AMX, AVX512-BF16) for word vocabularies, "
        "else fp32. The run records what it used.",
    ),
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


# The thread policy the API applies (``Experiments.train(threads=...)``).
auto_threads = display.auto_threads
