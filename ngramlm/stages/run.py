"""Runs against the store: create the run, train (or count), record curves, checkpoints
and the outcome. The loop itself is ``ngramlm.training.loop``; this module is the glue.

Status transitions: ``running`` -> ``finished`` | ``failed`` (an exception; its message
is kept) | ``killed`` (Ctrl-C or SIGTERM: a checkpoint is saved first) | ``pruned`` (a
search's trial stopped at a rung, ``stages/search.py``; never resumed or finalized). A run whose
process died without a word keeps ``running`` with a stale heartbeat and is shown as
``crashed``; ``resume`` continues a killed, failed or crashed run from its checkpoint.

What connects the loop to the store while a run lives (hooks, heartbeat, retries, the
outcome and its rescue) is ``stages/hooks.py``; counted models are ``stages/counted.py``.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch

from ngramlm import checkpoint
from ngramlm.config import RunConfig
from ngramlm.errors import InputError, StoreError
from ngramlm.models import CountFamily, family_of
from ngramlm.stages.counted import execute_count, load_components
from ngramlm.stages.hooks import (
    Heartbeat,
    Outcome,
    Progress,
    StoreHooks,
    load_examples,
    record_failure,
    record_outcome,
    stop_on_signals,
)
from ngramlm.stages.lease import beating, lost_run
from ngramlm.stages.plan import Plan, plan_resume
from ngramlm.store import Store
from ngramlm.store.records import DatasetRecord, MetricRecord, NewRun, RunRecord
from ngramlm.training import lrfind
from ngramlm.training.batched import train_batched
from ngramlm.training.loop import TrainResult, TrainState
from ngramlm.training.loop import train as train_loop
from ngramlm.version import __version__

__all__ = [
    "Outcome",
    "Progress",
    "execute_batched",
    "execute_run",
    "load_examples",
    "lr_find",
    "owner_alive",
    "owner_exited",
    "resume_run",
    "run_columns",
    "start_run",
    "stop_on_signals",
]


def execute_run(
    store: Store,
    run: RunRecord,
    plan: Plan,
    progress: Progress,
    stop: threading.Event,
    resume: TrainState | None = None,
) -> Outcome:
    """Train an already-created run of ``plan`` to its end (or to a stop) and record the
    outcome."""
    dataset, cfg = plan.dataset, plan.config
    hooks = StoreHooks(store, run, cfg, dataset.vocab, progress, stop)
    hooks.step = resume.step if resume else 0
    hooks.stored_step = resume.step if resume else None
    assert cfg.train is not None
    progress.start(run, cfg.train.steps, hooks.step)
    with Heartbeat(store, [run.id], on_lost=hooks.lose):
        try:
            examples = load_examples(
                store,
                dataset,
                cfg.model.block_size,
                plan.train_words,
                windows=family_of(cfg).sequence,
            )
            # the initial weights' losses, once a run (a resume from step 0 may have them)
            at_start = hooks.step == 0 and all(m.step != 0 for m in store.metrics(run.id))
            result = train_loop(
                cfg,
                examples,
                plan.device,
                hooks,
                resume,
                eval_at_start=at_start,
                precision=plan.precision,
            )
        except BaseException as exc:
            progress.stop()
            record_failure(store, [hooks], exc)
            raise
        progress.stop()
        return record_outcome(store, dataset, hooks, result)


def execute_batched(
    store: Store,
    runs: Sequence[RunRecord],
    dataset: DatasetRecord,
    cfgs: Sequence[RunConfig],
    device: torch.device,
    progress: Progress,
    stop: threading.Event,
) -> list[Outcome]:
    """Train already-created runs of one shape together as one batched model
    (``ngramlm.training.batched``) and record each one's outcome as if it had run alone."""
    hooks = [
        StoreHooks(store, run, cfg, dataset.vocab, progress if i == 0 else Progress(), stop)
        for i, (run, cfg) in enumerate(zip(runs, cfgs, strict=True))
    ]
    # One model trained them all: each run records its share of the group's time.
    n = len(hooks)
    return train_together(
        store,
        dataset,
        hooks,
        device,
        progress,
        lambda i, result: record_outcome(store, dataset, hooks[i], result, members=n),
    )


def train_together(
    store: Store,
    dataset: DatasetRecord,
    hooks: Sequence[StoreHooks],
    device: torch.device,
    progress: Progress,
    record: Callable[[int, TrainResult], Outcome],
) -> list[Outcome]:
    """Train the runs of ``hooks`` (already created, of one shape) as one batched model
    under one heartbeat and record each one's outcome (``record(i, result)``) when it
    ends: a member whose hooks ask it to stop while the others' do not (a pruned trial,
    ``stages/rungs.py``) leaves the batch there, the rest at the end. An exception while
    training records every run without an outcome failed."""
    cfgs = [h.cfg for h in hooks]
    assert cfgs[0].train is not None
    outcomes: dict[int, Outcome] = {}

    def ended(i: int, result: TrainResult) -> None:
        outcomes[i] = record(i, result)

    def lose(exc: StoreError) -> None:
        for h in hooks:
            h.lose(exc)

    progress.start(hooks[0].run, cfgs[0].train.steps, 0)
    with Heartbeat(store, [h.run.id for h in hooks], on_lost=lose):  # every member's, in one beat
        try:
            examples = load_examples(store, dataset, cfgs[0].model.block_size)
            results = train_batched(
                cfgs, examples, device, hooks, eval_at_start=True, on_leave=ended
            )
        except BaseException as exc:
            progress.stop()
            record_failure(store, [h for i, h in enumerate(hooks) if i not in outcomes], exc)
            raise
        progress.stop()
        for i, result in enumerate(results):
            if i not in outcomes:
                ended(i, result)
    return [outcomes[i] for i in range(len(hooks))]


def run_columns(plan: Plan) -> dict[str, Any]:
    """A new run's queryable columns: its family's hyperparameters and, for a trained
    family, the precision ``--precision`` resolved to (``Plan.precision``)."""
    return {**family_of(plan.config).columns(plan.config), "precision": plan.precision}


def trained_threads(plan: Plan) -> int | None:
    """The torch threads a run of ``plan`` records: its own, or None for a count model
    (it has no training step)."""
    return None if family_of(plan.config).counted else plan.threads


def new_run(plan: Plan, kind: str, name: str | None, sweep_id: int | None = None) -> NewRun:
    """A new ``running`` run of ``plan`` owned by this process, with its whole config."""
    cfg = plan.config
    return NewRun(
        dataset_id=plan.dataset.id,
        kind=kind,
        name=name,
        preset=plan.preset,
        config=cfg.to_dict(),
        config_hash=cfg.config_hash(),
        columns=run_columns(plan),
        device=str(plan.device),
        host=socket.gethostname(),
        pid=os.getpid(),
        version=__version__,
        sweep_id=sweep_id,
        threads=trained_threads(plan),
    )


def start_run(
    store: Store,
    plan: Plan,
    *,
    name: str | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> Outcome:
    """Create a run of ``plan`` (any family) and take it to its end: trained, or counted."""
    fam = family_of(plan.config)
    if isinstance(fam, CountFamily):
        # the runs it combines, checked before anything is written
        components = load_components(store, plan.dataset, plan.config)
        plan = plan.bound(fam.bind(plan.config, components))
        run = store.create_run(new_run(plan, "train", name))
        return execute_count(store, run, plan.dataset, plan.config, stop, components)
    run = store.create_run(new_run(plan, "train", name))
    return execute_run(store, run, plan, progress or Progress(), stop or threading.Event(), None)


def owner_exited(host: str, pid: int) -> bool:
    """Whether process ``pid`` on ``host`` is known to have exited: only this host's
    processes can be seen, so another host's owner is never called gone."""
    if host != socket.gethostname() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)  # signal 0: is there such a process? nothing is sent
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: alive
        return False
    return False


def owner_alive(run: RunRecord) -> bool:
    """Whether the owner of ``running`` run ``run`` is seen alive: a process of this host
    that has not exited (this very process: while it trains the run). Another host's
    processes cannot be seen: for them the heartbeat alone tells."""
    if run.host != socket.gethostname():
        return False
    if run.pid == os.getpid():
        return beating(run.id)
    return not owner_exited(run.host, run.pid)


def resume_run(
    store: Store,
    run_id: int,
    *,
    plan: Plan | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> Outcome:
    """Continue a killed, failed or crashed run from its checkpoint. ``plan``: the run's
    (``plan_resume``; None: made here, for the threads torch has now)."""
    plan = plan or plan_resume(store, run_id, torch.get_num_threads())
    run, _ = store.claim_for_resume(
        run_id, host=socket.gethostname(), pid=os.getpid(), exited=owner_exited,
        alive=owner_alive, threads=trained_threads(plan),
    )  # fmt: skip
    if family_of(plan.config).counted:  # counting has no state to resume: count again
        return execute_count(store, run, plan.dataset, plan.config, stop)
    ckpt = store.checkpoint(run_id)
    state: TrainState | None = None  # None: it died before its first checkpoint, start over
    if ckpt is not None:
        state = checkpoint.from_bytes(ckpt.data, ckpt.sha256).state
    return execute_run(store, run, plan, progress or Progress(), stop or threading.Event(), state)


def lr_find(
    store: Store,
    plan: Plan,
    *,
    min_lr: float,
    max_lr: float,
    name: str | None = None,
) -> tuple[RunRecord, list[float], list[float], lrfind.Suggestion]:
    """Run the learning-rate range test and store it as a run of kind ``lr_find``."""
    dataset, cfg = plan.dataset, plan.config
    if cfg.train is None:
        raise InputError(f"--model {cfg.family} is counted, not trained: it has no learning rate")
    lrfind.validate_range(min_lr, max_lr, cfg.train.steps)
    run = store.create_run(new_run(replace(plan, preset=None), "lr_find", name))
    t0 = time.perf_counter()
    lost: list[StoreError] = []  # the Heartbeat's, once the store is lost to the run
    lrs = lrfind.lr_schedule(min_lr, max_lr, cfg.train.steps)
    try:
        with Heartbeat(store, [run.id], on_lost=lost.append):
            block_size, windows = cfg.model.block_size, family_of(cfg).sequence
            examples = load_examples(store, dataset, block_size, windows=windows)
            assert plan.precision is not None  # a trained family's
            losses = lrfind.range_test(
                cfg, examples, plan.device, lrs, plan.precision, should_stop=lambda: bool(lost)
            )
    except BaseException as exc:
        store.end_run(run.id, status="failed", error=f"{type(exc).__name__}: {exc}", steps_done=0)
        raise
    if lost:  # stopped at a step boundary: its partial curve is no range test
        raise lost_run(
            store,
            run.id,
            lost[0],
            f"lr-find stopped at step {len(losses):,} of {len(lrs):,} "
            "and nothing of it is recorded; run it again once the store is back",
        )
    elapsed = time.perf_counter() - t0
    suggestion = lrfind.suggest(lrs, losses)
    points = [
        MetricRecord(i + 1, elapsed, lr, loss if math.isfinite(loss) else None, None, None)
        for i, (lr, loss) in enumerate(zip(lrs, losses, strict=True))
    ]
    store.add_metrics(run.id, points, len(points))
    extra = {
        "suggested_lr": suggestion.lr,
        "lr_at_min": suggestion.lr_at_min,
        "min_smoothed_loss": suggestion.min_smoothed_loss,
        "method": suggestion.method,
        "min_lr": min_lr,
        "max_lr": max_lr,
    }
    record = store.end_run(
        run.id,
        status="finished",
        steps_done=len(points),
        train_loss=None,
        dev_loss=None,
        train_seconds=elapsed,
        checkpoint_sha256=None,
        extra=extra,
    )
    return record, lrs, losses, suggestion
