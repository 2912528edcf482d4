"""Counted models as runs: the finished runs a config is fitted from (a mixture's), and
counting on train, tuning on dev and recording an ordinary finished run with one curve
point. Counting takes seconds: a stop request ends the run as ``killed`` with nothing to
save, and a resume counts again. A store that stays locked past the bound (its heartbeat
unwritable, ``stages/lease.py``) stops it too, with one line and nothing recorded."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import torch

from ngramlm import checkpoint
from ngramlm.blob import Blob
from ngramlm.config import RunConfig
from ngramlm.errors import InputError, StoreError
from ngramlm.models import Component, CountFamily, family_of
from ngramlm.stages.hooks import Heartbeat, Outcome, check_space, load_examples, with_retries
from ngramlm.stages.lease import lost_run
from ngramlm.store import Store
from ngramlm.store.records import DatasetRecord, MetricRecord, RunRecord
from ngramlm.training.loop import (
    EvalPoint,
    TrainResult,
    TrainState,
)


class Stopped(Exception):
    """A stop request (Ctrl-C, SIGTERM) arrived while a model was being counted."""


class Lost(Exception):
    """The run's heartbeat could not be written within the bound while it was counted."""


def load_components(store: Store, dataset: DatasetRecord, cfg: RunConfig) -> list[Component]:
    """The finished runs a counted config is fitted from (``CountFamily.components``),
    each loaded from its final checkpoint: finished training runs on ``dataset`` whose
    checkpoint is the one recorded at their end. One line of InputError otherwise."""
    fam = family_of(cfg)
    ids = fam.components(cfg) if isinstance(fam, CountFamily) else []
    runs = [store.run(i) for i in ids]
    for r in runs:
        if r.kind != "train":
            raise InputError(f"run {r.id} is an {r.kind} run; mix finished training runs")
        if r.status != "finished":
            raise InputError(f"run {r.id} is {r.status}; mix finished runs")
    for r in runs[1:]:
        if r.dataset_id != runs[0].dataset_id:
            raise InputError(
                f"runs {runs[0].id} and {r.id} are on different datasets ({runs[0].dataset} "
                f"and {r.dataset}); mix runs of one dataset"
            )
    if runs and runs[0].dataset_id != dataset.id:
        which = " and ".join(str(r.id) for r in runs)
        raise InputError(
            f"runs {which} are on dataset {runs[0].dataset}, not {dataset.name}; drop "
            f"--dataset or use --dataset {runs[0].dataset}"
        )
    out = []
    for r in runs:
        ckpt = store.checkpoint(r.id)
        if ckpt is None or r.checkpoint_sha256 is None:
            raise InputError(f"run {r.id} has no final checkpoint; retrain it")
        try:
            loaded = checkpoint.load_model(ckpt.data, r.checkpoint_sha256)
        except InputError as exc:
            raise InputError(f"run {r.id}: {exc}") from None
        out.append(Component(r.id, loaded.config, dict(r.extra), loaded.model))
    return out


def execute_count(
    store: Store,
    run: RunRecord,
    dataset: DatasetRecord,
    cfg: RunConfig,
    stop: threading.Event | None = None,
    components: Sequence[Component] | None = None,
) -> Outcome:
    """Count on train, choose what the config left open on dev, evaluate and record an
    ordinary finished run with one curve point. Counting takes seconds, so a stop request
    ends the run as ``killed`` with nothing to save; resume counts again. ``components``:
    the loaded runs the config is fitted from (None: load them, as a resume does). A
    heartbeat unwritable past the bound stops it at the next check, in one line
    (``lost_run``): nothing more is written."""
    lost: list[StoreError] = []  # the Heartbeat's, once the store is lost to the run
    with Heartbeat(store, [run.id], on_lost=lost.append):  # a fit can take minutes
        try:
            return _count(store, run, dataset, cfg, stop, components, lost)
        except Lost:
            raise lost_run(
                store,
                run.id,
                lost[0],
                "counting stopped and nothing of it is recorded; "
                f"once the store is back, `ngramlm train --resume {run.id}` counts it again",
            ) from None


def _count(
    store: Store,
    run: RunRecord,
    dataset: DatasetRecord,
    cfg: RunConfig,
    stop: threading.Event | None,
    components: Sequence[Component] | None,
    lost: Sequence[StoreError],
) -> Outcome:
    fam = family_of(cfg)
    assert isinstance(fam, CountFamily)
    t0 = time.perf_counter()

    def check_stop() -> None:
        if lost:
            raise Lost
        if stop is not None and stop.is_set():
            raise Stopped

    try:
        if components is None:
            components = load_components(store, dataset, cfg)
            cfg = fam.bind(cfg, components)
        ex = load_examples(store, dataset, cfg.model.block_size)
        model = fam.fit(cfg.model, ex.Xtr, ex.Ytr, components)
        check_stop()
        extra, dev_loss = fam.tune_and_score(model, ex.Xdev, ex.Ydev)
        train_loss = model.mean_nll(ex.Xtr, ex.Ytr)
        check_stop()
        elapsed = time.perf_counter() - t0
        del ex  # the examples are done with: their memory goes before the checkpoint's
        # The checkpoint is views of the tensors to_tensors makes (no copy of them); the
        # model's tables go before the store writes it, part by part.
        blob = checkpoint.counted_blob(model, cfg, dataset.vocab)
        del model
        fewer = "count fewer n-grams (a lower --order or a larger --min-count at prepare)"
        check_space(store, f"run {run.id}'s checkpoint", blob.size, fewer)  # a failed run
    except Stopped:  # killed, as a trained run would be
        record = store.end_run(
            run.id, status="killed", error="stopped by a signal (Ctrl-C or SIGTERM)", steps_done=0
        )
        state = TrainState(step=0, model={}, optimizer={}, rng=torch.zeros(0))
        return Outcome(record, TrainResult(state, stopped=True))
    except Lost:
        raise  # nothing is written: execute_count says so
    except BaseException as exc:
        store.end_run(run.id, status="failed", error=f"{type(exc).__name__}: {exc}", steps_done=0)
        raise
    point = EvalPoint(1, elapsed, 0.0, None, train_loss, dev_loss)
    if lost:  # the store was lost while the checkpoint was built: nothing recorded
        raise Lost
    record = record_counted(store, run.id, point, blob, extra)
    state = TrainState(step=1, model={}, optimizer={}, rng=torch.zeros(0), elapsed_s=elapsed)
    return Outcome(record, TrainResult(state, False, train_loss, dev_loss, [point]))


def record_counted(
    store: Store, run_id: int, point: EvalPoint, blob: Blob, extra: dict[str, Any] | None
) -> RunRecord:
    """A counted run's end (a count model's, an imported ARPA file's): its one curve
    point (``point``: its time, train and dev loss), its checkpoint and its finished row,
    each write retried."""
    metric = MetricRecord(1, point.elapsed_s, 0.0, None, point.train_loss, point.dev_loss)
    if not store.metrics(run_id):  # a resumed run may have recorded it before it died
        with_retries(lambda: store.add_metrics(run_id, [metric], steps_done=1))
    with_retries(lambda: store.save_checkpoint(run_id, 1, blob))
    return with_retries(
        lambda: store.end_run(
            run_id,
            status="finished",
            steps_done=1,
            train_loss=point.train_loss,
            dev_loss=point.dev_loss,
            train_seconds=point.elapsed_s,
            checkpoint_sha256=blob.sha256,
            extra=extra,
        )
    )
