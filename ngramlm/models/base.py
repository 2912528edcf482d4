"""The one interface every model family implements, and what callers may ask of it.

A family is one ``Family`` object in the registry (``ngramlm.models.FAMILIES``), its code in
a package of ``ngramlm.models`` (``ngram/`` holds the four count families), holding:

* its config: a frozen dataclass with a ``family`` class variable (the ``--model`` name),
  ``vocab_size`` and a ``block_size``; its validation and its presets;
* how a model comes to be: ``build`` (a ``torch.nn.Module`` trained by gradient steps in
  ``ngramlm.training.loop``) or ``fit`` (counted from the train split);
* the model's eval-mode ``logits`` for a batch of contexts, ``mean_nll`` over examples
  and ``log_probs_of`` each example's log-probability;
* its state to and from the tensors of a safetensors checkpoint;
* ``describe``: the few descriptive fields that report, compare and plots show.

Callers never test a family's name: they ask this interface (``counted``, ``describe``,
``columns``...). ``ngramlm.models`` (the registry) maps ``--model NAME`` to the family.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ngramlm.config import (
    MAX_BLOCK_SIZE,
    MAX_WIDTH,
    RunConfig,
    TrainConfig,
    check_size,
    positive_int,
    validate_train,
)
from ngramlm.data import Vocab
from ngramlm.errors import InputError

if TYPE_CHECKING:
    import torch

    from ngramlm.evaluation import EvalSet, OnChunk


class LanguageModel(Protocol):
    """What sampling and evaluation need of a trained model, whatever its family."""

    @property
    def block_size(self) -> int:
        """Context length: how many previous tokens the next one depends on."""
        ...

    def logits(self, contexts: torch.Tensor) -> torch.Tensor:
        """(n, V) eval-mode scores whose softmax is the next token's distribution after
        each of the (n, block_size) contexts."""
        ...

    def mean_nll(self, X: torch.Tensor, Y: torch.Tensor) -> float:
        """Mean negative log-likelihood of targets Y after contexts X, nats per token."""
        ...

    def log_probs_of(self, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """(n,) float64: log P(Y_i | X_i) of each example (``mean_nll`` is minus their
        mean)."""
        ...


class BatchedStepper(Protocol):
    """M models of one shape as one batched model and its step, what the batched engine
    (``ngramlm.training.batched``) asks of a family; members at positions 0..M-1."""

    def step_ix(
        self, X: torch.Tensor, Y: torch.Tensor, ix: torch.Tensor, lr: torch.Tensor
    ) -> torch.Tensor:
        """One step of member m on ``X[ix[m]], Y[ix[m]]`` (``ix`` (M, B)) at rate ``lr[m]``
        (``lr`` (M, 1, 1), a new tensor when the rates change); each member's *summed*
        minibatch log-likelihood (M,) before the update, in a buffer the next step reuses."""
        ...

    def keep(self, members: Sequence[int]) -> None:
        """Only the members at these positions go on, in this order."""

    def member_state(self, p: int) -> dict[str, torch.Tensor]:
        """The weights of the member at ``p``, named as its solo model's ``state_dict``."""
        ...

    def evaluate(self, es: EvalSet, on_chunk: OnChunk | None = None) -> list[float]:
        """Each member's mean cross-entropy over every example of ``es``."""
        ...


@dataclass(frozen=True)
class Component:
    """A finished run that a composite count family (a mixture) is fitted from: its id,
    stored config and outcome, and its model loaded from the run's final checkpoint."""

    run: int
    config: RunConfig
    extra: Mapping[str, Any]
    model: LanguageModel


class WithVocab:
    """A loaded model's vocabulary (``ngramlm.api.Experiments.load_model`` sets it), so
    that a notebook can ``encode`` a word to ids and ``decode`` ids to text."""

    vocab: Vocab | None = None

    def _vocab(self) -> Vocab:
        if self.vocab is None:
            raise InputError("this model has no vocabulary attached; load it with load_model")
        return self.vocab

    def encode(self, word: str) -> list[int]:
        """The ids of ``word``'s characters (1..V-1; 0 is the word boundary)."""
        return self._vocab().encode(word)

    def decode(self, ids: Sequence[int]) -> str:
        """The text of ``ids``; boundary tokens (0) are dropped."""
        return self._vocab().decode([int(i) for i in ids])


@dataclass(frozen=True)
class Description:
    """What a report says of a model without loading it: from the stored config alone."""

    label: str  # "mlp 8/24/512", "kneser-ney 6-gram D=0.874", "wavenet 8/24/128"
    short: str  # the report table's model column: "8/24/512", "kn-6", "wn 8/24/128"
    n: int  # the n of an n-gram: context length + 1
    h: int | None = None  # hidden units (Table 1's h)
    m: int | None = None  # embedding size (Table 1's m)
    layers: int | None = None
    direct: bool | None = None  # Bengio 2003's direct connections
    params: int | None = None
    rank: int = 2  # Table 1's order: count baselines (0, 1), the networks (2), mixtures (3)
    smoothing: str | None = None  # a count model's smoothing: "add-k 1", "discount 0.874"


class Family(ABC):
    """One model family. Subclasses set the class variables and implement the methods."""

    name: ClassVar[str]  # ``--model NAME``
    config_cls: ClassVar[type]
    counted: ClassVar[bool]  # True: fitted by counting, no steps; False: trained by steps
    # False: runs of the family are made another way (`ngramlm import`), not by --model
    chosen_by_model: ClassVar[bool] = True
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    default_preset: ClassVar[str | None] = None  # what ``--model NAME`` alone trains
    # Published results to show beside a preset's run: (source, train loss, dev loss),
    # measured on the lecture's names and seed-42 split (shown only beside a run on it).
    printed: ClassVar[Mapping[str, tuple[str, float, float]]] = {}
    help: ClassVar[str] = ""
    # What a run of the family is, for ``report`` (``--json``'s ``category``): network,
    # count, mixture or imported-arpa; and what its model column means (the footer).
    category: ClassVar[str]
    legend: ClassVar[str] = ""
    # True: trained on whole windows (``data.sequences``), every position of a window
    # learnt in one step (makemore.py's sequence models); its models offer
    # ``window_logits`` (``evaluation.WindowModel``). False: on (X, Y) examples.
    sequence: ClassVar[bool] = False

    # --- configs ----------------------------------------------------------------------

    def default_config(self, vocab_size: int) -> RunConfig:
        train = None if self.counted else TrainConfig()
        return RunConfig(self.config_cls(vocab_size=vocab_size), train)

    def make_config(self, values: Mapping[str, Any], vocab_size: int) -> RunConfig:
        """A validated config from option values (None: not given); an option this family
        does not take is refused by name."""
        given = {k: v for k, v in values.items() if v is not None}
        base = self.default_config(vocab_size)
        known = set(base.names())
        for key in given:
            if key not in known:
                raise InputError(
                    f"--{key.replace('_', '-')} is not an option of --model {self.name}; "
                    f"it takes {', '.join('--' + k.replace('_', '-') for k in sorted(known))}"
                )
        cfg = base.with_values(self.parse(given))
        self.validate(cfg)
        return cfg

    def parse(self, values: dict[str, Any]) -> dict[str, Any]:
        """Option text to values, where a family takes text (``--smoothing auto``)."""
        return values

    def validate(self, cfg: RunConfig) -> None:
        if cfg.train is not None:
            validate_train(cfg.train)

    def config_from_dict(self, d: Mapping[str, Any]) -> RunConfig:
        """The stored config (``RunConfig.to_dict``) back as a ``RunConfig``."""
        model = self.config_cls(**d["model"])
        train = TrainConfig(**d["train"]) if d.get("train") is not None else None
        return RunConfig(model, train)

    def batchable(self, cfg: RunConfig) -> bool:
        """Whether sweep points differing only in lr, seed and weight decay train as one
        batched model (``ngramlm.training.batched``, on ``NeuralFamily.batched_stepper``)."""
        return False

    def epoch_size(self, lengths: Sequence[int], block_size: int) -> int:
        """The examples an epoch steps through (``--epochs``), on a train split of lines
        of these token counts: every token and one boundary a line."""
        return sum(lengths) + len(lengths)

    def search_space(self, unit: str) -> tuple[str | None, dict[str, str]]:
        """What ``sweep --search`` explores when no ``--space`` is given, for datasets of
        ``unit`` (char or word): the preset its trials start from and the ranges, in
        ``--space``'s own text (``KEY=LOW:HIGH[:log]`` or ``KEY=V1,V2``). ``(None, {})``:
        nothing to search (a counted family)."""
        return None, {}

    # --- what reports show ------------------------------------------------------------

    @abstractmethod
    def describe(self, cfg: RunConfig, extra: Mapping[str, Any]) -> Description:
        """Descriptive fields; ``extra`` is what the run recorded at its end (a count
        model's chosen smoothing)."""

    def hyperparameters(self, cfg: RunConfig, extra: Mapping[str, Any]) -> dict[str, Any]:
        """The run's hyperparameters as one flat mapping, for ``report RUN`` and grids."""
        return cfg.hyperparameters()

    def columns(self, cfg: RunConfig) -> dict[str, Any]:
        """The store's hyperparameter columns of a new run (what ``report`` lists without
        parsing configs); a field this family does not have is 0 or empty."""
        t = cfg.train
        m = cfg.model
        return {
            "model": self.name,
            "seed": t.seed if t else 0,
            "block_size": m.block_size,
            "n_embd": getattr(m, "n_embd", 0),
            "n_hidden": getattr(m, "n_hidden", 0),
            "n_layers": getattr(m, "n_layers", 0),
            "batch_size": t.batch_size if t else 0,
            "steps": t.steps if t else 0,
            "optimizer": t.optimizer if t else "",
            "lr": t.lr if t else 0.0,
        }


class NeuralFamily(Family):
    """A family trained by gradient steps in ``ngramlm.training.loop``."""

    counted = False
    category = "network"
    # Whether the family's training step runs its output layer in bfloat16 when asked
    # (``--precision bf16``, or ``auto`` on hardware with bfloat16 matrix units).
    mixed_precision: ClassVar[bool] = False

    def validate(self, cfg: RunConfig) -> None:
        """The training options, the widths every network has (context, embedding, hidden
        units, vocabulary), the family's own rules (``check_shape``) and, last, whether a
        step of ``train.batch_size`` examples fits (``activations``)."""
        super().validate(cfg)
        if cfg.train is not None and cfg.train.precision == "bf16" and not self.mixed_precision:
            raise InputError(
                f"--precision bf16: --model {self.name} trains in float32 only; "
                "use --precision auto or fp32"
            )
        m = cfg.model
        assert cfg.train is not None
        positive_int("block_size", m.block_size, MAX_BLOCK_SIZE)
        positive_int("n_embd", m.n_embd, MAX_WIDTH)
        positive_int("n_hidden", m.n_hidden, MAX_WIDTH)
        positive_int("vocab_size", m.vocab_size, 1_000_000)
        self.check_shape(m)
        check_size(m.n_params, self.activations(m), cfg.train.batch_size)

    def check_shape(self, m: Any) -> None:
        """The family's own rules for its config ``m`` (beyond the widths every network
        has); refuses with ``InputError``."""

    @abstractmethod
    def activations(self, m: Any) -> int:
        """The floats one training example's step keeps (for ``check_size``)."""

    def precision(self, cfg: RunConfig, device: torch.device) -> str:
        """What ``--precision`` resolves to for this config on ``device``: ``fp32`` or
        ``bf16`` (``ngramlm.runtime.resolve_precision``); recorded with the run."""
        from ngramlm.runtime import resolve_precision

        if cfg.train is None or not self.mixed_precision:
            return "fp32"
        return resolve_precision(cfg.train.precision, device, cfg.model.vocab_size)

    def network(self, m: Any, label: str, short: str, *, direct: bool = False) -> Description:
        """A network's description (``describe``): its label and short form, and from its
        config ``m`` the context, widths, layers and parameters (Table 1's n, h, m)."""
        return Description(
            label=label,
            short=short,
            n=m.block_size + 1,
            h=m.n_hidden,
            m=m.n_embd,
            layers=m.n_layers,
            direct=direct,
            params=m.n_params,
        )

    @abstractmethod
    def build(self, cfg: Any, generator: torch.Generator) -> torch.nn.Module:
        """A new model, its initial weights drawn from ``generator``. The module's
        ``forward(idx, targets=None, generator=None) -> (logits, loss)`` is what the loop
        calls (``generator`` draws dropout masks); it also provides ``LanguageModel``."""

    def fast_stepper(self, model: torch.nn.Module, train: TrainConfig) -> Any | None:
        """A hand-written training step for this config (``ngramlm.models.mlp.fast``), or None for
        autograd. ``step_ix(X, Y, ix, lr)`` returns the minibatch loss."""
        return None

    def batched_stepper(
        self, models: Sequence[torch.nn.Module], device: torch.device, train: Sequence[TrainConfig]
    ) -> BatchedStepper:
        """``models`` (built by ``build``, of configs ``batchable`` accepts, that differ
        in lr, seed and weight decay only: ``train``, a member's each) as one batched model
        on ``device`` with its hand-written step (``ngramlm.models.mlp.batched``)."""
        raise NotImplementedError(f"{self.name} models do not train batched")


class CountFamily(Family):
    """A family fitted by counting the train split (no steps, no optimiser), or by
    combining finished runs (``components``)."""

    counted = True
    category = "count"
    # What ``report`` says of such a run's train loss, which is in-sample by construction
    # (the overfitting rules do not apply): "<what>: train 2.7232 <why>".
    what: ClassVar[str] = "a count model"
    in_sample: ClassVar[str] = "is measured on the very counts it was built from"
    # Where its smoothing came from when it was not chosen on dev.
    fixed_smoothing: ClassVar[str] = "as given"

    def components(self, cfg: RunConfig) -> list[int]:
        """The finished runs (ids) this config is fitted from; the runner loads them
        (``Component``) and passes them to ``bind`` and ``fit``. None for a plain count."""
        return []

    def bind(self, cfg: RunConfig, components: Sequence[Component]) -> RunConfig:
        """The config completed from its loaded components (what it derives from them,
        such as its block size), refusing ones it cannot combine. Before the run exists."""
        return cfg

    @abstractmethod
    def fit(
        self, cfg: Any, X: torch.Tensor, Y: torch.Tensor, components: Sequence[Component] = ()
    ) -> Any:
        """Count the train examples (``block_size`` columns of X); ``components`` are the
        loaded runs of ``components(cfg)``, in that order."""

    @abstractmethod
    def tune(self, model: Any, Xdev: torch.Tensor, Ydev: torch.Tensor) -> dict[str, Any]:
        """Choose what the config left open on dev; return what to record of it."""

    def tune_and_score(
        self, model: Any, Xdev: torch.Tensor, Ydev: torch.Tensor
    ) -> tuple[dict[str, Any], float]:
        """``tune``, then the tuned model's dev loss (what the run records). A family whose
        tuning already evaluates every dev example returns that loss instead of a second
        pass over the split."""
        extra = self.tune(model, Xdev, Ydev)
        return extra, float(model.mean_nll(Xdev, Ydev))

    @abstractmethod
    def to_tensors(self, model: Any) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """The fitted model as tensors and string metadata (deterministic)."""

    @abstractmethod
    def from_tensors(
        self, cfg: Any, tensors: dict[str, torch.Tensor], meta: dict[str, str]
    ) -> LanguageModel:
        """The fitted model back from ``to_tensors``' output."""
