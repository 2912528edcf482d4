"""What the loop evaluates and when: train and dev prepared for evaluation (``Splits``,
whole and, on a costly word corpus, as fixed samples, ``sample_of``) and the steps
between evaluations (``eval_interval``). Shared by ``loop.py`` and ``batched.py``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import torch

from ngramlm.config import TrainConfig
from ngramlm.evaluation import EvalSet, OnChunk

T = TypeVar("T")


@dataclass(frozen=True)
class Examples:
    Xtr: torch.Tensor  # (Ntr, block_size) int64
    Ytr: torch.Tensor  # (Ntr,)
    Xdev: torch.Tensor  # (Ndev, block_size)
    Ydev: torch.Tensor  # (Ndev,)

    def to(self, device: torch.device) -> Examples:
        return Examples(*(t.to(device) for t in (self.Xtr, self.Ytr, self.Xdev, self.Ydev)))


class Told(Protocol):
    """What an evaluation tells as it goes (``loop.Hooks`` is one)."""

    def on_evaluating(self, split: str, done: int, total: int) -> None: ...


SAMPLE = 65_536  # examples at most in an intermediate evaluation of a costly split
COSTLY_LOGITS = 2**30  # distinct contexts x V past which a split's evaluation is costly
EVAL_SHARE = 0.1  # intermediate evaluations of a costly split: at most this share of the work
MAX_EVALS = 20  # evaluations per run when eval_every is 0 (the default)
# A training step costs about this many evaluated contexts per minibatch example: 1.8
# measured on Brown's --preset words (0.81 s a step of 512, 0.90 ms an evaluated context).
STEP_FORWARDS = 2


def sample_of(full: EvalSet, X: torch.Tensor, Y: torch.Tensor) -> EvalSet:
    """What the evaluations before the last one measure a split on: the whole split,
    unless its logits (distinct contexts x V) pass ``COSTLY_LOGITS`` (a word corpus: on
    Brown one whole-split evaluation costs more than a few hundred steps), then a fixed
    sample: ``k`` evenly spaced examples, ``k`` the most that stays within
    ``COSTLY_LOGITS`` (and ``SAMPLE``). The sample depends on the split alone (no seed,
    no random draw), so every evaluation of every run on the dataset sees the same
    examples. Character datasets are always whole; the final losses of every run (the
    ones its record keeps) are over the whole splits."""
    n, V = X.shape[0], full.vocab_size
    k = min(SAMPLE, max(1, COSTLY_LOGITS // V))
    if full.U.shape[0] * V <= COSTLY_LOGITS or n <= k:
        return full
    ix = torch.arange(k, device=X.device) * n // k
    return EvalSet.of(X[ix], Y[ix], V)


def eval_interval(t: TrainConfig, splits: Splits) -> int:
    """Steps between evaluations: ``t.eval_every`` when given; by default ``MAX_EVALS`` a
    run (``steps // 20``), fewer when the splits are costly, so that the intermediate
    evaluations (on the samples) cost at most ``EVAL_SHARE`` of the training. A step
    counts as ``STEP_FORWARDS`` evaluated contexts per minibatch example, an evaluation
    as the samples' distinct contexts. A short word run then evaluates at step 0 and at
    its end only (Brown, --preset words: 300 steps, 1 evaluation after step 0; 1,000
    steps, 2; 10,000 steps, 20). Deterministic: a resumed run keeps it."""
    if t.eval_every:
        return t.eval_every
    if not splits.costly:
        return max(1, t.steps // MAX_EVALS)
    per_eval = splits.train_probe.U.shape[0] + splits.dev_probe.U.shape[0]
    evals = int(EVAL_SHARE * t.steps * STEP_FORWARDS * t.batch_size // max(1, per_eval))
    if evals >= MAX_EVALS:
        return max(1, t.steps // MAX_EVALS)
    return -(-t.steps // max(1, evals))  # ceil: never more than ``evals`` evaluations


class Interrupted(Exception):
    """A stop request (``Hooks.should_stop``) arrived during an evaluation."""


@dataclass(frozen=True)
class Splits:
    """Train and dev prepared for evaluation: whole, and as the intermediate evaluations
    measure them (``sample_of``: the same sets on a cheap split)."""

    train: EvalSet
    dev: EvalSet
    train_probe: EvalSet
    dev_probe: EvalSet

    @classmethod
    def of(cls, ex: Examples, vocab_size: int) -> Splits:
        train, dev = (
            EvalSet.of(ex.Xtr, ex.Ytr, vocab_size),
            EvalSet.of(ex.Xdev, ex.Ydev, vocab_size),
        )
        return cls(train, dev, sample_of(train, ex.Xtr, ex.Ytr), sample_of(dev, ex.Xdev, ex.Ydev))

    @property
    def costly(self) -> bool:
        return self.train_probe is not self.train or self.dev_probe is not self.dev

    def losses(
        self,
        evaluate: Callable[[EvalSet, OnChunk], T],
        hooks: Told,
        should_stop: Callable[[], bool],
        final: bool,
    ) -> tuple[T, T]:
        """Train and dev loss (whole splits if ``final``, else the probes), telling
        ``hooks`` each chunk; raises ``Interrupted`` between chunks once ``should_stop``."""
        out = []
        for name, whole, probe in (
            ("train", self.train, self.train_probe),
            ("dev", self.dev, self.dev_probe),
        ):
            es = whole if final else probe
            label = name if es is whole else f"{name} sample"

            def on_chunk(done: int, total: int, label: str = label) -> None:
                if should_stop():
                    raise Interrupted
                hooks.on_evaluating(label, done, total)

            out.append(evaluate(es, on_chunk))
        return out[0], out[1]
