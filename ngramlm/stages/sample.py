"""A run's model from its last checkpoint, and words sampled from it, each marked where
it occurs: ``train``, ``dev`` or ``new`` (makemore sorts its samples the same way, to
tell a memorised word from an invented one). A word in the test split reads as ``new``:
what training could not see is never revealed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ngramlm.errors import NotFoundError
from ngramlm.stages.report import check_checkpoint
from ngramlm.store import Store
from ngramlm.store.records import CheckpointRecord, RunRecord

if TYPE_CHECKING:
    from ngramlm.data import Vocab
    from ngramlm.models.neural import NeuralLM
    from ngramlm.models.ngram import BackoffModel, CountModel

    Model = NeuralLM | CountModel | BackoffModel

MAX_SAMPLES = 100_000


@dataclass(frozen=True)
class Samples:
    """Words sampled from a run's checkpoint at ``step``; ``marked`` pairs each word with
    where it occurs: ``train``, ``dev`` or ``new`` (a test word reads as ``new``)."""

    run: RunRecord
    step: int
    marked: tuple[tuple[str, str], ...]

    @property
    def words(self) -> list[str]:
        """The words alone, in the order they were drawn."""
        return [w for w, _ in self.marked]


def model_of(run: RunRecord, ckpt: CheckpointRecord) -> Model:
    """A run's checkpoint's model on the CPU, with its vocabulary (characters or words),
    once ``check_checkpoint`` holds."""
    from ngramlm import checkpoint

    check_checkpoint(run, ckpt)
    loaded = checkpoint.load_model(ckpt.data, ckpt.sha256)
    model: Model = loaded.model  # type: ignore[assignment]
    model.vocab = loaded.vocab
    return model


def load_model(store: Store, run_id: int) -> Model:
    """The run's model from its last checkpoint; refused for a run without one."""
    ckpt = store.checkpoint(run_id)
    if ckpt is None:
        record = store.run(run_id)
        raise NotFoundError(
            f"run {run_id} has no checkpoint yet (a {record.kind} run, status "
            f"{record.status}); load it once it has trained"
        )
    return model_of(store.run(run_id), ckpt)


def sample_run(
    store: Store,
    run: int | tuple[RunRecord, CheckpointRecord],
    n: int,
    seed: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    prefix: str = "",
) -> Samples:
    """``n`` words from the run's last checkpoint, drawn with a generator seeded by
    ``seed``, marked train, dev or new. ``run``: its id, or its record and checkpoint
    read already (``report RUN`` reads the checkpoint once)."""
    import torch

    from ngramlm.sampling import sample

    if isinstance(run, int):
        record, found = store.run(run), store.checkpoint(run)  # an unknown run: refused by id
        if found is None:
            raise NotFoundError(f"run {run} has no checkpoint yet; sample once it has trained")
        run = record, found
    record, ckpt = run
    model = model_of(record, ckpt)
    assert model.vocab is not None
    g = torch.Generator().manual_seed(seed)
    words = sample(model, model.vocab, n, g, temperature=temperature, top_k=top_k, prefix=prefix)
    train = store.words(record.dataset_id, "train")
    dev = store.words(record.dataset_id, "dev")
    return Samples(record, ckpt.step, mark(words, model.vocab, train, dev))


def mark(
    words: Iterable[str], vocab: Vocab, train: Iterable[str], dev: Iterable[str]
) -> tuple[tuple[str, str], ...]:
    """Each word with where it occurs: ``train``, ``dev`` or ``new``. Only what training
    could see is marked (a word in the test split reads as ``new``); a sentence is
    compared as the model sees it (rare words as ``<unk>``)."""
    seen = {vocab.normalize(w): "train" for w in train}
    for w in dev:
        seen.setdefault(vocab.normalize(w), "dev")
    return tuple((w, seen.get(w, "new")) for w in words)
