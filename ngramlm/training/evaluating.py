"""What the loop evaluates and when: train and dev prepared for evaluation (``Splits``:
at the end whole, or past a size on a fixed seeded sample, ``final_set``; before it, on
a costly word corpus, on fixed samples, ``sample_of``) and the steps between evaluations
(``eval_interval``). Shared by ``loop.py`` and ``batched.py``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import torch

from ngramlm.config import TrainConfig
from ngramlm.data.sequences import Rows
from ngramlm.evaluation import EvalSet, OnChunk, WindowSet

T = TypeVar("T")


@dataclass(frozen=True)
class Examples:
    """What a run steps on and is evaluated on. Contexts X and their next tokens Y; or,
    for a family that learns whole windows (``NeuralFamily.sequence``), windows X
    (n, block_size) and their targets Y (n, block_size), -1 where a position has none
    (``data.sequences``: train in pieces, dev at stride 1), with ``windows`` the train
    and dev windows as they are evaluated (at stride 1: each target once, in its (X, Y)
    example's context)."""

    Xtr: torch.Tensor  # (Ntr, block_size) int64
    Ytr: torch.Tensor  # (Ntr,); windows: (Ntr, block_size)
    Xdev: torch.Tensor  # (Ndev, block_size)
    Ydev: torch.Tensor  # (Ndev,); windows: (Ndev, block_size)
    windows: tuple[WindowSet, WindowSet] | None = None

    def to(self, device: torch.device) -> Examples:
        Xtr, Ytr, Xdev, Ydev = (t.to(device) for t in (self.Xtr, self.Ytr, self.Xdev, self.Ydev))
        w = self.windows
        windows = None if w is None else (w[0].to(device), w[1].to(device))
        return Examples(Xtr, Ytr, Xdev, Ydev, windows)


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
SAMPLE_WINDOWS = 4096  # windows at most in an intermediate evaluation (sequence families)


# The final evaluation (the losses a run's record keeps) measures a split of more targets
# than these on a fixed sample of that many (``final_set``): a 10M-token corpus's train
# split (8M targets) in 1,048,576 of them, its dev split whole. Brown (at most about
# 975,000 train targets, 120,000 dev) and every character dataset of the lecture's size
# are measured whole, as before.
FINAL_TRAIN = 2**20
FINAL_DEV = 2**22
FINAL_SEED = 0  # the sample's generator: every run on the dataset sees the same targets


def final_set(
    X: torch.Tensor, Y: torch.Tensor, vocab_size: int, most: int
) -> tuple[EvalSet, torch.Tensor, torch.Tensor]:
    """What the final evaluation measures a split (X, Y) on, with its rows: the whole
    split, unless it has more than ``most`` targets; then a fixed sample of ``most``:
    the split cut into ``most`` equal slices, one example drawn from each by a generator
    seeded with ``FINAL_SEED`` (on the CPU: the same sample on every device). The sample
    depends on the split's size alone, so every run on the dataset, resumed or not, is
    measured on the same examples."""
    n = Y.shape[0]
    if n <= most:
        return EvalSet.of(X, Y, vocab_size), X, Y
    g = torch.Generator().manual_seed(FINAL_SEED)
    start = torch.arange(most, dtype=torch.long) * n // most
    width = torch.diff(start, append=torch.tensor([n]))
    ix = (start + (torch.rand(most, generator=g, dtype=torch.float64) * width).long()).to(Y.device)
    Xs, Ys = X[ix], Y[ix]
    return EvalSet.of(Xs, Ys, vocab_size), Xs, Ys


def window_targets(ws: WindowSet) -> int:
    """The targets a window split holds (a ``Rows`` view counts its sequences')."""
    Y = ws.Y
    if isinstance(Y, Rows):
        return Y.seqs.n_targets
    return int((Y >= 0).sum())


def final_windows(ws: WindowSet, targets: int, most: int) -> WindowSet:
    """A sequence family's ``final_set``: the window split whole, unless it holds more
    than ``most`` targets; then a fixed sample of evenly spaced windows holding about
    ``most`` (it depends on the split's size alone: every run sees the same)."""
    if targets <= most:
        return ws
    return ws.spaced(max(1, ws.X.shape[0] * most // targets))


Evaluated = EvalSet | WindowSet  # a split as the loop evaluates it


def sample_of(full: Evaluated, X: torch.Tensor, Y: torch.Tensor) -> Evaluated:
    """What the evaluations before the last one measure a split on: the whole split,
    unless its logits (distinct contexts x V) pass ``COSTLY_LOGITS`` (a word corpus: on
    Brown one whole-split evaluation costs more than a few hundred steps), then a fixed
    sample: ``k`` evenly spaced examples, ``k`` the most that stays within
    ``COSTLY_LOGITS`` (and ``SAMPLE``). The sample depends on the split alone (no seed,
    no random draw), so every evaluation of every run on the dataset sees the same
    examples. Character datasets are always whole; the final losses of every run (the
    ones its record keeps) are over the whole splits (``final_set``: past a size, over
    their fixed samples, of which ``full`` is then one). Windows: ``sample_windows``."""
    if isinstance(full, WindowSet):
        return sample_windows(full)
    n, V = X.shape[0], full.vocab_size
    k = min(SAMPLE, max(1, COSTLY_LOGITS // V))
    if full.contexts * V <= COSTLY_LOGITS or n <= k:
        return full
    ix = torch.arange(k, device=X.device) * n // k
    return EvalSet.of(X[ix], Y[ix], V)


def sample_windows(full: WindowSet) -> WindowSet:
    """``sample_of`` for a sequence family's windows, where every position costs a pass
    through the whole network: at most ``SAMPLE_WINDOWS`` evenly spaced windows (the
    lecture's dev split whole, its train split a sixth), fewer where their logits would
    pass ``COSTLY_LOGITS``."""
    n, T = full.X.shape[0], full.X.shape[1]
    k = min(SAMPLE_WINDOWS, max(1, COSTLY_LOGITS // (full.vocab_size * T)))
    return full if n <= k else full.spaced(k)


def eval_interval(t: TrainConfig, splits: Splits) -> int:
    """Steps between evaluations: ``t.eval_every`` when given; by default ``MAX_EVALS`` a
    run (``steps // 20``), fewer when the splits are costly, so that the intermediate
    evaluations (on the samples) cost at most ``EVAL_SHARE`` of the training. A step
    counts as ``STEP_FORWARDS`` evaluated contexts per minibatch example (per position
    of a window), an evaluation as the samples' distinct contexts (windows' positions).
    A short word run then evaluates at step 0 and at its end only (Brown, --preset
    words: 300 steps, 1 evaluation after step 0; 1,000 steps, 2; 10,000 steps, 20).
    Deterministic: a resumed run keeps it."""
    if t.eval_every:
        return t.eval_every
    if not splits.costly:
        return max(1, t.steps // MAX_EVALS)
    per_eval = splits.train_probe.contexts + splits.dev_probe.contexts
    per_step = STEP_FORWARDS * t.batch_size * splits.width
    evals = int(EVAL_SHARE * t.steps * per_step // max(1, per_eval))
    if evals >= MAX_EVALS:
        return max(1, t.steps // MAX_EVALS)
    return -(-t.steps // max(1, evals))  # ceil: never more than ``evals`` evaluations


class Interrupted(Exception):
    """A stop request (``Hooks.should_stop``) arrived during an evaluation."""


@dataclass(frozen=True)
class Splits:
    """Train and dev prepared for evaluation: as the final evaluation measures them
    (``final_set``: whole, or past a size a fixed sample; ``targets``: how many the whole
    splits have), and as the intermediate evaluations do (``sample_of``: the same sets
    on a cheap split)."""

    train: Evaluated
    dev: Evaluated
    train_probe: Evaluated
    dev_probe: Evaluated
    targets: tuple[int, int] = (0, 0)  # train's and dev's, whole

    @classmethod
    def of(cls, ex: Examples, vocab_size: int) -> Splits:
        if ex.windows is not None:  # a sequence family's: windows, whole or sampled
            wtr, wdev = ex.windows
            n = (window_targets(wtr), window_targets(wdev))
            wtr_final = final_windows(wtr, n[0], FINAL_TRAIN)
            wdev_final = final_windows(wdev, n[1], FINAL_DEV)
            return cls(wtr_final, wdev_final, sample_windows(wtr), sample_windows(wdev), n)
        train, Xtr, Ytr = final_set(ex.Xtr, ex.Ytr, vocab_size, FINAL_TRAIN)
        dev, Xdev, Ydev = final_set(ex.Xdev, ex.Ydev, vocab_size, FINAL_DEV)
        return cls(
            train,
            dev,
            sample_of(train, Xtr, Ytr),
            sample_of(dev, Xdev, Ydev),
            (ex.Ytr.shape[0], ex.Ydev.shape[0]),
        )

    @property
    def width(self) -> int:
        """Positions a training example holds: a window's, or one context's."""
        return int(self.train.X.shape[1]) if isinstance(self.train, WindowSet) else 1

    @property
    def costly(self) -> bool:
        return self.train_probe is not self.train or self.dev_probe is not self.dev

    def sampled(self) -> tuple[tuple[str, int, int], ...]:
        """The splits the final evaluation measures on a fixed sample, each as (split,
        targets in the sample, targets in the split); empty: both whole."""
        measured = [
            es.Y.shape[0] if isinstance(es, EvalSet) else window_targets(es)
            for es in (self.train, self.dev)
        ]
        return tuple(
            (name, m, n)
            for name, m, n in zip(("train", "dev"), measured, self.targets, strict=True)
            if m < n
        )

    def losses(
        self,
        evaluate: Callable[[Evaluated, OnChunk], T],
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
