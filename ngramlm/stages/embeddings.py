"""What a network's embeddings learnt (Bengio et al. 2003's point): its embedding table
C read from a checkpoint, and each token's nearest tokens by cosine similarity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ngramlm.data import UNK
from ngramlm.errors import InputError
from ngramlm.stages.report import check_checkpoint, counted
from ngramlm.store import Store
from ngramlm.store.records import CheckpointRecord, RunRecord

if TYPE_CHECKING:
    import numpy as np

TOP_WORDS = 100  # a word model's embedding figure shows its commonest tokens only
Neighbours = list[tuple[str, list[tuple[str, float]]]]


def table_of(record: RunRecord, ckpt: CheckpointRecord | None) -> tuple[list[str], np.ndarray, str]:
    """Every token, the whole embedding table C (V, n_embd) and the unit, from the
    run's checkpoint; refused without a checkpoint and for count models."""
    from ngramlm import checkpoint

    if ckpt is None:
        raise InputError(
            f"run {record.id} has no checkpoint (a {record.kind} run, status "
            f"{record.status}); only trained runs have embeddings to plot"
        )
    if counted(record):
        raise InputError(
            f"run {record.id} is a {record.model} model: it counts n-grams and has no "
            "embeddings; plot a trained network's (mlp, wavenet)"
        )
    check_checkpoint(record, ckpt)
    loaded = checkpoint.from_bytes(ckpt.data, ckpt.sha256)
    C = loaded.state.model["C"].detach().to("cpu").double().numpy()  # (V, n_embd)
    vocab = loaded.vocab
    return [vocab.boundary, *vocab.tokens], C, vocab.unit


def embeddings(store: Store, run_id: int) -> tuple[list[str], np.ndarray]:
    """The run's tokens (index 0 is the boundary) and embedding table; a word model's
    ``TOP_WORDS`` commonest only (its vocabulary is in descending train count, so its
    first rows keep a figure readable)."""
    labels, C, unit = table_of(store.run(run_id), store.checkpoint(run_id))
    if unit == "word":
        return labels[:TOP_WORDS], C[:TOP_WORDS]
    return labels, C


def neighbours(store: Store, run_id: int, words: Sequence[str] | None, k: int) -> Neighbours:
    """For each of ``words`` (None: the ten commonest tokens), its ``k`` nearest tokens,
    from one read of the run's checkpoint."""
    record = store.run(run_id)
    every, C, _ = table_of(record, store.checkpoint(run_id))
    return nearest(record, every, C, words, k)


def nearest(
    record: RunRecord, every: list[str], C: np.ndarray, words: Sequence[str] | None, k: int
) -> Neighbours:
    """For each of ``words`` (default: the ten commonest tokens, boundary and ``<unk>``
    aside), its ``k`` nearest tokens by cosine similarity of the embedding rows."""
    import numpy as np

    unit = C / np.maximum(np.linalg.norm(C, axis=1, keepdims=True), 1e-12)
    if words is None:
        words = [t for t in every[1:] if t != UNK][:10]
    index = {t: i for i, t in enumerate(every)}
    out = []
    for w in words:
        if w not in index:
            raise InputError(f"{w!r} is not in run {record.id}'s vocabulary")
        sims = unit @ unit[index[w]]
        sims[index[w]] = -np.inf
        best = np.argsort(-sims)[:k]
        out.append((w, [(every[j], float(sims[j])) for j in best]))
    return out
