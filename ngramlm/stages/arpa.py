"""ARPA in and out: a count run's model as an ARPA file, and an ARPA file as a run.

``export_arpa`` writes a finished count run's model (bigram, Kneser-Ney, modified
Kneser-Ney, or an imported one) in the ARPA back-off format (``ngramlm.models.ngram.arpa``;
the conversion in ``backoff``). ``import_arpa`` reads one, checks it against a dataset's
vocabulary (``<s>``/``</s>`` the boundary, ``<unk>`` the dataset's unknown) before
anything is written, and records it as a finished ``arpa`` run scored from the file's
tables: its train and dev losses, its checkpoint (the tables); the test loss only
through ``finalize``, like any run.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from ngramlm import checkpoint, outputs
from ngramlm.config import RunConfig
from ngramlm.data.text import regular_file
from ngramlm.errors import InputError, NotFoundError
from ngramlm.models.ngram import ArpaConfig, BackoffModel, arpa_check, arpa_tables_of
from ngramlm.models.ngram import arpa as arpa_format
from ngramlm.stages.counted import record_counted
from ngramlm.stages.hooks import check_space, load_examples
from ngramlm.stages.plan import Plan
from ngramlm.stages.prepare import resolve_dataset
from ngramlm.stages.run import new_run
from ngramlm.store import Store
from ngramlm.store.records import RunRecord
from ngramlm.training.loop import EvalPoint


@dataclass(frozen=True)
class ArpaExport:
    """What ``export_arpa`` wrote: the run, the file and its n-grams per order."""

    run: int
    path: Path
    ngrams: tuple[int, ...]


def export_arpa(store: Store, run_id: int, path: Path, force: bool = False) -> ArpaExport:
    """Write run ``run_id``'s count model to ``path`` as an ARPA file, whole or not at all
    (``outputs.write_file``): an existing file only with ``force``, never a directory or
    a device; the target is checked before the model is loaded."""
    outputs.check_target(path, force=force, option="--arpa")
    ckpt = store.checkpoint(run_id)
    if ckpt is None:
        r = store.run(run_id)
        raise NotFoundError(
            f"run {run_id} has no model yet (status {r.status}); export it once it has finished"
        )
    loaded = checkpoint.load_model(ckpt.data, ckpt.sha256)
    try:
        tables = arpa_tables_of(loaded.model, loaded.vocab.itos)
    except InputError as exc:
        raise InputError(f"run {run_id} is a {loaded.config.family} model: {exc}") from None
    outputs.write_file(
        path, lambda tmp: arpa_format.write(tables, tmp), force=force, option="--arpa"
    )
    return ArpaExport(run_id, path, tuple(int(g.shape[0]) for g in tables.grams))


def import_arpa(store: Store, path: Path, dataset: str, name: str | None = None) -> RunRecord:
    """Record the ARPA file ``path`` as a finished run on ``dataset``, scored from its
    tables; every check happens before the run is written."""
    ds = resolve_dataset(store, dataset)
    vocab = ds.vocab
    regular_file(path, "an ARPA file (.arpa)")  # a file, not a device, FIFO or folder
    tables = arpa_format.read(path, arpa_format.arpa_words(vocab.itos), ds.name)
    if tables.order < 2:
        raise InputError(
            f"{path.name} is a unigram model; ngramlm's models predict from a context "
            "(order 2 or more)"
        )
    t0 = time.perf_counter()
    model = BackoffModel(tables)
    arpa_check.check(tables, model, path.name)  # a model, its numbers probabilities
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    cfg = RunConfig(ArpaConfig(vocab.size, tables.order, path.name, sha))
    ex = load_examples(store, ds, tables.order - 1)
    dev_loss = model.mean_nll(ex.Xdev, ex.Ydev)
    train_loss = model.mean_nll(ex.Xtr, ex.Ytr)
    blob = checkpoint.counted_blob(model, cfg, vocab)
    elapsed = time.perf_counter() - t0
    check_space(store, f"{path.name}'s tables", blob.size, "prune the model")  # nothing written
    run = store.create_run(new_run(Plan.of(ds, cfg, threads=1), "train", name))
    point = EvalPoint(1, elapsed, 0.0, None, train_loss, dev_loss)
    extra = {"n_ngrams": [int(g.shape[0]) for g in tables.grams], "source": path.name}
    return record_counted(store, run.id, point, blob, extra)
