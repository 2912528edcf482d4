"""The configuration every run shares, and the validation every family uses.

A run's config is a ``RunConfig``: its model family's own frozen config (``ngramlm.models``:
each family module declares its dataclass, validation and presets) and, for a family that
is trained by gradient steps, a ``TrainConfig`` saying how. Both halves are plain frozen
dataclasses, so a config can be hashed, stored as JSON and compared. Every command
validates before anything is written, so the same bad value gets the same message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal, Protocol

from ngramlm.errors import InputError

Optimizer = Literal["sgd", "adamw"]
Schedule = Literal["step", "cosine", "constant"]
Device = Literal["auto", "cpu", "cuda", "mps"]
Precision = Literal["auto", "fp32", "bf16"]

OPTIMIZERS: tuple[str, ...] = ("sgd", "adamw")
SCHEDULES: tuple[str, ...] = ("step", "cosine", "constant")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16")

# Sanity bounds: far above anything useful for these models, far below what would
# exhaust a laptop's memory before the first step.
MAX_BLOCK_SIZE = 64
MAX_WIDTH = 8192
MAX_LAYERS = 16
MAX_PARAMS = 50_000_000
MAX_BATCH = 65_536
MAX_STEPS = 100_000_000
MAX_ACTIVATION_BYTES = 4 * 1024**3
MAX_EPOCHS = 10_000


class ModelConfig(Protocol):
    """What every family's config dataclass offers (see ``ngramlm.models.base``)."""

    family: ClassVar[str]  # the registry's name for the family: ``--model NAME``
    vocab_size: int

    @property
    def block_size(self) -> int:
        """How many previous tokens the next one is predicted from."""
        ...


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 32  # examples per minibatch
    steps: int = 200_000  # optimisation steps
    # > 0: passes over the train split, which set ``steps`` for the dataset; 0: not used
    # (``steps`` as given). A person's --epochs is in (0, MAX_EPOCHS]: ``check_epochs``.
    epochs: float = 0.0
    optimizer: Optimizer = "sgd"
    lr: float = 0.1  # peak learning rate
    lr_schedule: Schedule = "step"  # step: lr * decay_factor from decay_at; cosine; constant
    decay_at: float = 0.5  # fraction of steps after which the step schedule decays
    decay_factor: float = 0.1  # the lecture: 0.1 -> 0.01
    warmup: int = 0  # linear warm-up steps (cosine and constant schedules)
    weight_decay: float = 0.0  # decoupled for adamw, L2 for sgd
    seed: int = 42  # one seed drives init, minibatches and dropout
    eval_every: int = 0  # 0: 20 a run, fewer on costly splits (training.evaluating.eval_interval)
    checkpoint_every: int = 0  # 0: at every evaluation
    device: Device = "auto"
    # The output layer's products: auto takes bf16 where the hardware has bfloat16 matrix
    # units (ngramlm.models.output), fp32 elsewhere; the run records what it resolved to.
    precision: Precision = "auto"

    @property
    def eval_interval(self) -> int:
        return self.eval_every or max(1, self.steps // 20)

    @property
    def checkpoint_interval(self) -> int:
        return self.checkpoint_every or self.eval_interval


@dataclass(frozen=True)
class RunConfig:
    """A family's model config and, for a trained family, its ``TrainConfig``."""

    model: Any  # a family's frozen config (typed as ModelConfig where it is read)
    train: TrainConfig | None = None  # None: a counted model has no training schedule

    @property
    def family(self) -> str:
        return str(self.model.family)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"family": self.family, "model": dataclasses.asdict(self.model)}
        if self.train is not None:
            d["train"] = dataclasses.asdict(self.train)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def config_hash(self) -> str:
        """Identity of the hyperparameters, the device excluded (it does not change the math)."""
        return config_hash(self.to_dict(), ignore=("device",))

    def hyperparameters(self) -> dict[str, Any]:
        """Every settable hyperparameter as one flat mapping (the vocabulary excluded)."""
        flat = {k: v for k, v in dataclasses.asdict(self.model).items() if k != "vocab_size"}
        if self.train is not None:
            flat.update(dataclasses.asdict(self.train))
        return flat

    def names(self) -> list[str]:
        """The hyperparameters this config can set by name (``with_values``, ``--grid``)."""
        return list(self.hyperparameters())

    def with_values(self, values: dict[str, Any]) -> RunConfig:
        """Replace hyperparameters by name, whichever half they live in."""
        model_keys = {f.name for f in fields(self.model)}
        train_keys = {f.name for f in fields(TrainConfig)} if self.train is not None else set()
        unknown = set(values) - model_keys - train_keys
        if unknown:
            raise InputError(
                f"unknown hyperparameter {sorted(unknown)[0]!r} for --model {self.family}; "
                f"known: {', '.join(sorted(self.names()))}"
            )
        m = {k: v for k, v in values.items() if k in model_keys}
        t = {k: v for k, v in values.items() if k in train_keys}
        train = None if self.train is None else dataclasses.replace(self.train, **t)
        return RunConfig(model=dataclasses.replace(self.model, **m), train=train)

    def types(self) -> dict[str, type]:
        """The Python type of each settable hyperparameter, for parsing ``KEY=VALUE`` text."""
        return {k: type(v) for k, v in self.hyperparameters().items()}


def config_hash(d: dict[str, Any], ignore: tuple[str, ...] = ()) -> str:
    """A short stable hash of a config mapping; ``ignore`` drops training keys that do not
    change the math (the device) or that vary within a group (lr, seed, weight decay)."""
    d = json.loads(json.dumps(d))  # a deep copy
    for key in ignore:
        d.get("train", {}).pop(key, None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


# --- validation ------------------------------------------------------------------------


def positive_int(name: str, value: int, upper: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"--{name.replace('_', '-')} must be a whole number, got {value!r}")
    if value < 1:
        raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if value > upper:
        raise InputError(
            f"--{name.replace('_', '-')} {value} is larger than the sane bound {upper}; "
            "use a smaller value"
        )


def finite(name: str, value: float, *, low: float, high: float, low_open: bool = False) -> None:
    opt = f"--{name.replace('_', '-')}"
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise InputError(f"{opt} must be a finite number, got {value!r}")
    if value < low or (low_open and value == low) or value > high:
        bound = f"{'(' if low_open else '['}{low}, {high}]"
        raise InputError(f"{opt} must be in {bound}, got {value}")


def check_epochs(value: float) -> None:
    """A person's ``--epochs``: passes over the train split, more than none. 0 is not "the
    default" (that trained the preset's 200,000 steps): give ``--steps`` for a step count."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise InputError(f"--epochs must be a finite number, got {value!r}")
    if not 0 < value <= MAX_EPOCHS:
        raise InputError(
            f"--epochs must be in (0, {MAX_EPOCHS}], got {value:g}; it counts passes over the "
            "train split (give --steps for a number of steps)"
        )


def choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(
            f"--{name.replace('_', '-')} must be one of {', '.join(choices)}, got {value!r}"
        )


def validate_train(t: TrainConfig) -> None:
    positive_int("batch_size", t.batch_size, MAX_BATCH)
    positive_int("steps", t.steps, MAX_STEPS)
    if t.epochs != 0.0:  # 0.0: steps as given (what explicit --steps records)
        check_epochs(t.epochs)
    choice("optimizer", t.optimizer, OPTIMIZERS)
    finite("lr", t.lr, low=0.0, high=100.0, low_open=True)
    choice("lr_schedule", t.lr_schedule, SCHEDULES)
    finite("decay_at", t.decay_at, low=0.0, high=1.0, low_open=True)
    finite("decay_factor", t.decay_factor, low=0.0, high=1.0, low_open=True)
    finite("weight_decay", t.weight_decay, low=0.0, high=10.0)
    for name in ("warmup", "eval_every", "checkpoint_every"):
        value = getattr(t, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"--{name.replace('_', '-')} must be 0 or a positive whole number")
    if t.warmup >= t.steps:
        raise InputError(f"--warmup {t.warmup} must be smaller than --steps {t.steps}")
    if not isinstance(t.seed, int) or isinstance(t.seed, bool) or not 0 <= t.seed < 2**63:
        raise InputError(f"--seed must be a whole number in [0, 2**63), got {t.seed!r}")
    choice("device", t.device, DEVICES)
    choice("precision", t.precision, PRECISIONS)


def steps_for_epochs(t: TrainConfig, n_train: int) -> int:
    """The steps that make ``t.epochs`` passes over ``n_train`` examples in minibatches of
    ``t.batch_size`` (an epoch is the natural unit for word corpora)."""
    return max(1, math.ceil(t.epochs * n_train / t.batch_size))


def check_size(n_params: int, floats_per_example: int, batch_size: int) -> None:
    """Refuse a model too large to build, or a batch whose activations (float32, with
    their gradients) would not fit in a laptop's memory."""
    if n_params > MAX_PARAMS:
        raise InputError(
            f"the model would have {n_params:,} parameters (limit {MAX_PARAMS:,}); "
            "reduce --n-hidden, --n-embd, --n-layers or --block-size"
        )
    if 4 * 2 * floats_per_example * batch_size > MAX_ACTIVATION_BYTES:
        raise InputError(
            f"--batch-size {batch_size} with this model needs over "
            f"{MAX_ACTIVATION_BYTES // 1024**3} GiB of activations; use a smaller batch"
        )
