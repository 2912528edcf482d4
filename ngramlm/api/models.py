"""A run's model: loaded, sampled, its embeddings and neighbours, ARPA out and in, and
its one evaluation on the locked test split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ngramlm.api.base import MAX_SAMPLES, TOP_WORDS, AlreadyFinalized, RunRef, Samples
from ngramlm.api.reading import Reading
from ngramlm.data import UNK
from ngramlm.errors import InputError, NotFoundError
from ngramlm.store.records import CheckpointRecord, EvaluationRecord, MetricRecord, RunRecord

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

    from ngramlm.models.neural import NeuralLM
    from ngramlm.models.ngram import BackoffModel, CountModel
    from ngramlm.stages.arpa import ArpaExport
    from ngramlm.stages.finalize import Finalized
    from ngramlm.stages.report import Finding

Neighbours = list[tuple[str, list[tuple[str, float]]]]


@dataclass(frozen=True)
class RunReport:
    """``ngramlm report RUN``: the run, its curve, its test evaluation (if finalized),
    its checkpoint's ``step``, ``sha256`` and ``bytes`` (None without one), the
    diagnosis of its curve, eight words sampled with seed 42 (marked train, dev or new)
    and, for a word network, its commonest words' nearest neighbours; all from one read
    of the checkpoint."""

    run: RunRecord
    curve: list[MetricRecord]
    evaluation: EvaluationRecord | None
    checkpoint: dict[str, Any] | None
    diagnosis: list[Finding]
    samples: tuple[tuple[str, str], ...]
    neighbours: Neighbours


class Models(Reading):
    """What a run's checkpoint gives: its model, samples, embeddings, an ARPA file."""

    def load_model(self, run: RunRef) -> NeuralLM | CountModel | BackoffModel:
        """The run's model from its last checkpoint, on the CPU, with its vocabulary.

        A network (``mlp``, ``wavenet``) is its ``torch.nn.Module`` in eval mode:
        ``logits, _ = model(X)`` is the lecture's forward (``forward(idx, targets=None)``
        returns ``(logits, loss)``), ``model.logits(X)`` the same logits without a
        gradient. A count model (``bigram``, ``kneser-ney``) is its ``CountModel``, not a
        Module, with the same ``logits`` (an imported ``arpa`` run: its ``BackoffModel``).
        All have ``block_size``, ``vocab``, ``encode("emma")`` (ids), ``decode(ids)``
        (text) and ``mean_nll(X, Y)``."""
        rid = self.run_id(run)
        ckpt = self.store.checkpoint(rid)
        if ckpt is None:
            record = self.store.run(rid)
            raise NotFoundError(
                f"run {rid} has no checkpoint yet (a {record.kind} run, status "
                f"{record.status}); load it once it has trained"
            )
        return _model_of(ckpt)

    def embeddings(self, run: RunRef) -> tuple[list[str], np.ndarray]:
        """A network's tokens (index 0 is the boundary: ``.`` for characters, ``</s>``
        for words) and its embedding table C as an array (V, n_embd); a word model's
        ``TOP_WORDS`` commonest tokens only; refused for count models."""
        labels, C, unit = self._embedding_table(run)
        if unit == "word":
            # A word vocabulary is in descending train count: its first rows (the
            # boundary and the commonest words) keep the figure readable.
            return labels[:TOP_WORDS], C[:TOP_WORDS]
        return labels, C

    def _embedding_table(self, run: RunRef) -> tuple[list[str], np.ndarray, str]:
        """Every token, the whole embedding table C (V, n_embd) and the unit, from the
        run's checkpoint; refused without a checkpoint and for count models."""
        record = self.run(run)
        return _table_of(record, self.store.checkpoint(record.id))

    def neighbours(
        self, run: RunRef, words: Sequence[str] | None = None, k: int = 5
    ) -> list[tuple[str, list[tuple[str, float]]]]:
        """What a network's embeddings learnt (Bengio et al.'s point): for each of ``words``
        (default: the dataset's ten commonest tokens, boundary and ``<unk>`` aside), its
        ``k`` nearest tokens by cosine similarity of their embedding rows."""
        if isinstance(k, bool) or not 1 <= k <= 100:
            raise InputError(f"k must be between 1 and 100, got {k}")
        record = self.run(run)
        every, C, _ = self._embedding_table(record)  # one checkpoint read, whole table
        return _nearest(record, every, C, words, k)

    def sample(
        self,
        run: RunRef,
        n: int = 20,
        seed: int = 42,
        temperature: float = 1.0,
        top_k: int | None = None,
        prefix: str = "",
    ) -> list[str]:
        """``ngramlm sample``: ``n`` words from the run's last checkpoint, drawn with a
        generator seeded by ``seed`` (the same run and seed give the same words);
        temperature 0 is greedy, ``top_k`` keeps the k likeliest, every word starts
        with ``prefix``."""
        return self.samples(run, n, seed, temperature, top_k, prefix).words

    def samples(
        self,
        run: RunRef,
        n: int = 20,
        seed: int = 42,
        temperature: float = 1.0,
        top_k: int | None = None,
        prefix: str = "",
    ) -> Samples:
        """``sample``'s words, each marked ``train``, ``dev`` or ``new`` as the CLI
        prints them (whether a word is in the test split is never revealed)."""
        if isinstance(n, bool) or not 1 <= n <= MAX_SAMPLES:
            raise InputError(f"-n must be between 1 and {MAX_SAMPLES}, got {n}")
        if seed < 0:
            raise InputError(f"--seed must be >= 0, got {seed}")
        rid = self.run_id(run)
        record = self.store.run(rid)
        ckpt = self.store.checkpoint(rid)
        if ckpt is None:
            raise NotFoundError(f"run {rid} has no checkpoint yet; sample once it has trained")
        return self._samples_of(record, ckpt, n, seed, temperature, top_k, prefix)

    def _samples_of(
        self,
        record: RunRecord,
        ckpt: CheckpointRecord,
        n: int,
        seed: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        prefix: str = "",
    ) -> Samples:
        """``samples`` from a checkpoint read already."""
        import torch

        from ngramlm.sampling import sample

        model = _model_of(ckpt)
        assert model.vocab is not None
        g = torch.Generator().manual_seed(seed)
        words = sample(
            model, model.vocab, n, g, temperature=temperature, top_k=top_k, prefix=prefix
        )
        # Mark only what training could see: a word in the test split reads as "new"; a
        # sentence is compared as the model sees it (rare words as <unk>).
        vocab = model.vocab
        seen = {vocab.normalize(w): "train" for w in self.store.words(record.dataset_id, "train")}
        for w in self.store.words(record.dataset_id, "dev"):
            seen.setdefault(vocab.normalize(w), "dev")
        return Samples(record.id, ckpt.step, tuple((w, seen.get(w, "new")) for w in words))

    def run_report(self, run: RunRef) -> RunReport:
        """``ngramlm report RUN``'s content (see ``RunReport``): the checkpoint is read
        once, for its figures, its samples and its neighbours alike."""
        from ngramlm.stages.report import counted, diagnose

        s = self.store
        rid = self.run_id(run)
        r = s.run(rid)
        metrics = s.metrics(rid)
        evaluation = s.evaluation(rid)
        ckpt = s.checkpoint(rid)
        findings = diagnose(r, metrics) if r.kind == "train" else []
        samples: tuple[tuple[str, str], ...] = ()
        neighbours: Neighbours = []
        if ckpt is not None and r.kind == "train":
            samples = self._samples_of(r, ckpt, 8, 42).marked
            if not counted(r) and s.dataset_by_id(r.dataset_id).unit == "word":
                every, C, _ = _table_of(r, ckpt)
                neighbours = _nearest(r, every, C, None, 5)
        shown = (
            None
            if ckpt is None
            else {"step": ckpt.step, "sha256": ckpt.sha256, "bytes": len(ckpt.data)}
        )
        return RunReport(r, metrics, evaluation, shown, findings, samples, neighbours)

    def export_arpa(self, run: RunRef, path: str | Path) -> ArpaExport:
        """``ngramlm export RUN --arpa FILE``: a count run's model (bigram, kneser-ney,
        modified-kn, arpa) as an ARPA back-off file that KenLM, SRILM and decoders read
        (docs/arpa.md). Refused for a network, a run without a model, a missing folder."""
        from ngramlm.stages.arpa import export_arpa

        return export_arpa(self.store, self.run_id(run), Path(path))

    def import_arpa(
        self, path: str | Path, dataset: str | None = None, *, name: str | None = None
    ) -> RunRecord:
        """``ngramlm import FILE.arpa --dataset NAME``: an ARPA back-off model as a
        finished ``arpa`` run on the dataset, scored from the file's tables (train and dev
        losses recorded; test only through ``finalize``). A file that breaks the format
        (a missing section, wrong header counts, a probability above 1, an n-gram whose
        context is absent) or whose vocabulary is not the dataset's is refused before
        anything is written."""
        from ngramlm.stages.arpa import import_arpa

        ds = self.dataset(dataset)
        return import_arpa(self.store, Path(path), ds.name, name)

    def finalize(self, run: RunRef, yes: bool = False) -> EvaluationRecord:
        """``ngramlm finalize``: evaluate a finished training run's final checkpoint on
        the test split and record it; once per run, ever (``AlreadyFinalized``, a
        ``ConflictError``, afterwards, carrying the recorded result). Refused: runs
        not finished, lr-find runs, a checkpoint altered since training, and a sweep
        run that is not its sweep's best on dev unless ``yes`` (choosing by test loss
        leaks the test set into the choice)."""
        result = self.finalize_result(run, yes=yes)
        if not result.created:
            raise AlreadyFinalized(result.run, result.evaluation)
        return result.evaluation

    def finalize_result(self, run: RunRef, yes: bool = False) -> Finalized:
        """``finalize`` as a result, never an error for a run finalized already: the run,
        its evaluation and ``created`` (False: the recorded one, nothing evaluated again).
        What ``ngramlm finalize`` prints."""
        from ngramlm.stages.finalize import finalize

        return finalize(self.store, self.run_id(run), yes=yes)


# --- from a checkpoint read already ------------------------------------------------------


def _model_of(ckpt: CheckpointRecord) -> NeuralLM | CountModel | BackoffModel:
    from ngramlm import checkpoint

    loaded = checkpoint.load_model(ckpt.data, ckpt.sha256)
    model: NeuralLM | CountModel | BackoffModel = loaded.model  # type: ignore[assignment]
    model.vocab = loaded.vocab  # characters or words, as the dataset's unit
    return model


def _table_of(
    record: RunRecord, ckpt: CheckpointRecord | None
) -> tuple[list[str], np.ndarray, str]:
    """Every token, the whole embedding table C (V, n_embd) and the unit, from the
    run's checkpoint; refused without a checkpoint and for count models."""
    from ngramlm import checkpoint
    from ngramlm.stages.report import counted

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
    loaded = checkpoint.from_bytes(ckpt.data, ckpt.sha256)
    C = loaded.state.model["C"].detach().to("cpu").double().numpy()  # (V, n_embd)
    vocab = loaded.vocab
    return [vocab.boundary, *vocab.tokens], C, vocab.unit


def _nearest(
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
