"""``Experiments``' methods on a trained run's model: loaded, sampled, its embeddings and
neighbours, ARPA out and in, a text file scored, and its one evaluation on the locked
test split. Each validates its arguments and makes one call to its stage
(``stages/sample.py``, ``stages/embeddings.py``, ``stages/arpa.py``, ``stages/score.py``,
``stages/finalize.py``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ngramlm.api.handle import DatasetRef, Handle, RunRef
from ngramlm.errors import InputError
from ngramlm.stages.prepare import check_run_name
from ngramlm.stages.sample import MAX_SAMPLES, Samples
from ngramlm.store.records import RunRecord

if TYPE_CHECKING:
    import numpy as np

    from ngramlm.models.neural import NeuralLM
    from ngramlm.models.ngram import BackoffModel, CountModel
    from ngramlm.stages.arpa import ArpaExport
    from ngramlm.stages.embeddings import Neighbours
    from ngramlm.stages.finalize import Finalized
    from ngramlm.stages.score import Scored


def load_model(h: Handle, run: RunRef) -> NeuralLM | CountModel | BackoffModel:
    """The run's model from its last checkpoint, on the CPU, with its vocabulary.

    A network (``mlp``, ``wavenet``) is its ``torch.nn.Module`` in eval mode:
    ``logits, _ = model(X)`` is the lecture's forward (``forward(idx, targets=None)``
    returns ``(logits, loss)``), ``model.logits(X)`` the same logits without a
    gradient. A count model (``bigram``, ``kneser-ney``) is its ``CountModel``, not a
    Module, with the same ``logits`` (an imported ``arpa`` run: its ``BackoffModel``).
    All have ``block_size``, ``vocab``, ``encode("emma")`` (ids), ``decode(ids)``
    (text) and ``mean_nll(X, Y)``."""
    from ngramlm.stages.sample import load_model as loaded

    return loaded(h.store, h.run_id(run))


def embeddings(h: Handle, run: RunRef) -> tuple[list[str], np.ndarray]:
    """A network's tokens (index 0 is the boundary: ``.`` for characters, ``</s>``
    for words) and its embedding table C as an array (V, n_embd); a word model's
    ``TOP_WORDS`` commonest tokens only; refused for count models."""
    from ngramlm.stages.embeddings import embeddings as table

    return table(h.store, h.run_id(run))


def neighbours(
    h: Handle, run: RunRef, words: Sequence[str] | None = None, k: int = 5
) -> Neighbours:
    """What a network's embeddings learnt (Bengio et al.'s point): for each of ``words``
    (default: the dataset's ten commonest tokens, boundary and ``<unk>`` aside), its
    ``k`` nearest tokens by cosine similarity of their embedding rows."""
    from ngramlm.stages.embeddings import neighbours as nearest

    if isinstance(k, bool) or not 1 <= k <= 100:
        raise InputError(f"k must be between 1 and 100, got {k}")
    return nearest(h.store, h.run_id(run), words, k)


def sample(
    h: Handle,
    run: RunRef,
    n: int = 20,
    seed: int = 42,
    temperature: float = 1.0,
    top_k: int | None = None,
    prefix: str = "",
) -> Samples:
    """``ngramlm sample``: ``n`` words from the run's last checkpoint, drawn with a
    generator seeded by ``seed`` (the same run and seed give the same words);
    temperature 0 is greedy, ``top_k`` keeps the k likeliest, every word starts with
    ``prefix``. ``Samples.words`` are the words; ``Samples.marked`` pairs each with
    where it occurs, ``train``, ``dev`` or ``new``, as the CLI prints them (whether a
    word is in the test split is never revealed)."""
    from ngramlm.stages.sample import sample_run

    if isinstance(n, bool) or not 1 <= n <= MAX_SAMPLES:
        raise InputError(f"-n must be between 1 and {MAX_SAMPLES}, got {n}")
    if seed < 0:
        raise InputError(f"--seed must be >= 0, got {seed}")
    return sample_run(h.store, h.run_id(run), n, seed, temperature, top_k, prefix)


def export_arpa(h: Handle, run: RunRef, path: str | Path, *, force: bool = False) -> ArpaExport:
    """``ngramlm export RUN --arpa FILE``: a count run's model (bigram, kneser-ney,
    modified-kn, arpa) as an ARPA back-off file that KenLM, SRILM and decoders read
    (docs/arpa.md), written whole or not at all. Refused for a network, a run without a
    model, a missing folder, a path that is not a regular file (a directory, a device),
    and an existing file unless ``force``."""
    from ngramlm.stages.arpa import export_arpa as exported

    return exported(h.store, h.run_id(run), Path(path), force)


def import_arpa(
    h: Handle, path: str | Path, dataset: DatasetRef | None = None, *, name: str | None = None
) -> RunRecord:
    """``ngramlm import FILE.arpa --dataset NAME``: an ARPA back-off model as a
    finished ``arpa`` run on the dataset, scored from the file's tables (train and dev
    losses recorded; test only through ``finalize``). A file that breaks the format
    (a missing section, wrong header counts, a probability above 1, an n-gram whose
    context is absent) or whose vocabulary is not the dataset's is refused before
    anything is written."""
    from ngramlm.stages.arpa import import_arpa as imported

    check_run_name(name)
    return imported(h.store, Path(path), h.dataset(dataset).name, name)


def score(h: Handle, run: RunRef, path: str | Path, *, per_line: bool = False) -> Scored:
    """``ngramlm score RUN FILE``: a text file's per-token loss (``loss``, nats) and
    ``perplexity`` under a finished run (a network, a count model, an ARPA import, a
    mixture), read as the run's dataset was: a word a line for a character dataset, a
    sentence a line for a word dataset (raw text cut by the dataset's tokenizer, if it
    had one), words outside the vocabulary as ``<unk>`` (``unk``, ``unk_rate``). The loss
    is the function that gave the run's dev loss, so the dev split's text scores the
    recorded dev loss. ``per_line``: each line's too (``per_line``, ``LineScore``s).
    Refused: a path that is not a readable text file, an unfinished run, a character a
    character model never saw, and a file holding 5% of the test split or more (the test
    split is ``finalize``'s)."""
    from ngramlm.stages.score import score as scored

    if not isinstance(per_line, bool):
        raise InputError(f"per_line is True or False, got {per_line!r}")
    return scored(h.store, h.run_id(run), Path(path), per_line=per_line)


def finalize(h: Handle, run: RunRef, yes: bool = False) -> Finalized:
    """``ngramlm finalize``: evaluate a finished training run's final checkpoint on
    the test split and record it: the run, its ``evaluation`` (``test_loss``...). Once
    per run, ever: ``AlreadyFinalized`` (a ``ConflictError``) afterwards, carrying the
    recorded run and evaluation. Refused: runs not finished, lr-find runs, a checkpoint
    altered since training, and a sweep run that is not its sweep's best on dev unless
    ``yes`` (choosing by test loss leaks the test set into the choice)."""
    from ngramlm.stages.finalize import finalize_once

    return finalize_once(h.store, h.run_id(run), yes=yes)
