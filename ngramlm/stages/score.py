"""Scoring a text file under a finished run (``ngramlm score``): its per-token loss in
nats and its perplexity, and each line's on request, as KenLM's ``query`` scores a file.

The file is read as the run's dataset was: a word list (a character dataset: a line is a
word) or sentences (a word dataset), cut by the dataset's tokenizer when it had one
(``data.tokenize``), each line padded as training padded it (block-size boundaries
before, the boundary predicted at its end), words outside the vocabulary read as
``<unk>``. The loss is the model's own ``mean_nll``, the very function that gave the
run's dev loss (for a network ``ngramlm.evaluation``'s, for a count model its counts'),
so scoring the dev split's text gives the run's recorded dev loss.

The test split stays ``finalize``'s: a file that holds ``TEST_SHARE`` of it or more
(and at least ``TEST_LINES`` lines; its lines that train and dev do not also hold,
repeats counted) is refused, and the store tells only how many of the file's lines are
test lines, never which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from ngramlm.data import UNK, Vocab, read_lines, version_warning
from ngramlm.data.text import regular_file
from ngramlm.errors import InputError, NotFoundError
from ngramlm.stages.sample import model_of
from ngramlm.store import Store
from ngramlm.store.records import DatasetRecord, RunRecord

if TYPE_CHECKING:
    import torch

# The share of a dataset's test split from which a file holding its lines is refused: a
# few shared lines (a common name, a short sentence: "Preamble") are chance, 5% is a sample
# of the test split, whose loss would tell what only finalize may. Never fewer than
# TEST_LINES lines (all of a smaller split), so that a small split's chance overlaps pass.
TEST_SHARE = 0.05
TEST_LINES = 10
WHAT = "a text file to score"


@dataclass(frozen=True)
class LineScore:
    """One line (a sentence, or a word of a character dataset) as scored."""

    line: int  # its place among the lines scored (1-based; blank lines are not lines)
    text: str  # as scored: its tokens joined by single spaces (tokenized, if the dataset was)
    tokens: int  # its tokens (characters of a word)
    unk: int  # of them, words outside the vocabulary (and literal <unk>s)
    loss: float  # nats per prediction: each token and the boundary that ends the line

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)


@dataclass(frozen=True)
class Scored:
    """A file scored under a run: ``loss`` nats per prediction over ``predictions``
    (every token, and the boundary that ends each line), ``perplexity`` its exp."""

    run: RunRecord
    path: Path
    dataset: DatasetRecord
    lines: int
    tokens: int
    unk: int
    loss: float
    per_line: tuple[LineScore, ...] = ()
    warning: str | None = None  # the tokenizer installed is not the dataset's

    @property
    def predictions(self) -> int:
        return self.tokens + self.lines

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)

    @property
    def unk_rate(self) -> float:
        return self.unk / self.tokens if self.tokens else 0.0


def check_scorable(run: RunRecord) -> None:
    """Only a finished training run has the model its record describes."""
    if run.kind != "train":
        raise InputError(f"run {run.id} is an {run.kind} run; only training runs score text")
    if run.status == "finished":
        return
    if run.status == "running":
        raise InputError(
            f"run {run.id} is still running (pid {run.pid} on {run.host}); score text once "
            "it has finished"
        )
    if run.status == "pruned":
        raise InputError(
            f"run {run.id} was pruned by its search before the end of its steps; score a "
            f"finished run (the search's best: `ngramlm report --sweep {run.sweep_id}`)"
        )
    raise InputError(  # killed, failed or crashed: these resume
        f"run {run.id} is {run.status}; only finished runs score text: resume it with "
        f"`ngramlm train --resume {run.id}`, then score"
    )


def score(store: Store, run_id: int, path: Path, *, per_line: bool = False) -> Scored:
    """``path`` scored under run ``run_id``'s final checkpoint (see the module's doc);
    ``per_line``: each line's score too. Refused in one line, with nothing written: a
    path that is not a readable text file, a run that is not finished, a character
    outside a character model's vocabulary, and text that is the test split's."""
    import torch

    from ngramlm.data import examples_of

    regular_file(path, WHAT)  # a missing path, a folder or a device: before any read
    run = store.run(run_id)
    check_scorable(run)
    ckpt = store.checkpoint(run_id)
    if ckpt is None:
        raise NotFoundError(f"run {run_id} has no checkpoint; it cannot score text")
    dataset = store.dataset_by_id(run.dataset_id)
    lines = read_lines(path, dataset.unit, tokenize=dataset.tokenizer is not None)
    refuse_test_split(store, run, dataset, path, lines)
    model = model_of(run, ckpt)
    vocab = model.vocab
    assert vocab is not None
    if vocab.unit == "char":
        check_characters(run, path, lines, vocab)
    # Views of a token stream (data.Windows) stand in for tensors, as in training: every
    # family reads rows through X[ix] and X[a:b] only.
    X, Y = cast(tuple[torch.Tensor, torch.Tensor], examples_of(lines, vocab, model.block_size))
    with torch.no_grad():
        loss = float(model.mean_nll(X, Y))  # the run's dev loss is this function's
        shown = _per_line(model.log_probs_of(X, Y), lines, vocab) if per_line else ()
    unk = sum(_unknown(line, vocab) for line in lines)
    tokens = sum(len(vocab.split(line)) for line in lines)
    warning = None if dataset.tokenizer is None else version_warning(dataset.tokenizer)
    return Scored(run, path, dataset, len(lines), tokens, unk, loss, shown, warning)


def refuse_test_split(
    store: Store, run: RunRecord, dataset: DatasetRecord, path: Path, lines: list[str]
) -> None:
    """Refuse a file holding ``TEST_SHARE`` of the dataset's test split or more (at
    least ``TEST_LINES`` lines, or the whole of a smaller split)."""
    n = dataset.n_test
    limit = max(math.ceil(TEST_SHARE * n), min(TEST_LINES, n))
    k = store.test_lines_among(dataset.id, lines)
    if k and k >= limit:
        raise InputError(
            f"{path}: {k:,} of its {len(lines):,} lines are lines of the test split of dataset "
            f"{dataset.name!r} ({k / max(1, n):.0%} of that split; a file holding {limit:,} "
            f"of them or more is refused); the test split is evaluated once, by `ngramlm finalize "
            f"{run.id}`: score other text"
        )


def check_characters(run: RunRecord, path: Path, lines: list[str], vocab: Vocab) -> None:
    """A character model gives no probability to a character it has never seen."""
    stoi = vocab.stoi
    for i, word in enumerate(lines, start=1):
        bad = next((c for c in word if c not in stoi), None)
        if bad is not None:
            raise InputError(
                f"{path}: word {i} ({word!r}) holds the character {bad!r}, which run "
                f"{run.id}'s vocabulary does not ({''.join(vocab.tokens)}); score words of "
                "its characters"
            )


def _unknown(line: str, vocab: Vocab) -> int:
    """How many of a word line's tokens the vocabulary reads as ``<unk>``."""
    if vocab.unk is None:
        return 0
    stoi = vocab.stoi
    return sum(1 for t in line.split() if t == UNK or t not in stoi)


def _per_line(log_probs: torch.Tensor, lines: list[str], vocab: Vocab) -> tuple[LineScore, ...]:
    """Each line's mean negative log-probability: its examples are consecutive, its
    tokens and then the boundary that ends it (``data.build_examples``' order)."""
    import numpy as np

    lp = log_probs.double().cpu().numpy()
    counts = np.array([len(vocab.split(line)) + 1 for line in lines], dtype=np.int64)
    starts = np.cumsum(counts) - counts
    sums = np.add.reduceat(lp, starts) if lp.size else np.zeros(0)
    return tuple(
        LineScore(i + 1, line, int(n) - 1, _unknown(line, vocab), float(-s / n))
        for i, (line, n, s) in enumerate(zip(lines, counts, sums, strict=True))
    )


__all__ = ["TEST_LINES", "TEST_SHARE", "LineScore", "Scored", "check_scorable", "score"]
