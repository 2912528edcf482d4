"""Runs against the store: create the run, train (or count), record curves, checkpoints
and the outcome. The loop itself is ``ngramlm.training.loop``; this module is the glue.

Status transitions: ``running`` -> ``finished`` | ``failed`` (an exception; its message
is kept) | ``killed`` (Ctrl-C or SIGTERM: a checkpoint is saved first) | ``pruned`` (a
search's trial stopped at a rung, ``stages/search.py``; never resumed or finalized). A run whose
process died without a word keeps ``running`` with a stale heartbeat and is shown as
``crashed``; ``resume`` continues a killed, failed or crashed run from its checkpoint.

One owner per live run: while a run is ``running`` its process beats its heart from a
timer thread (``Heartbeat``), in its own short transactions, whatever the main thread is
doing; ``resume`` takes a run over only when that heartbeat is stale
(``store.records.STALE_AFTER_S``) and refuses a live one, naming its host and pid.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import torch

from ngramlm import __version__, checkpoint
from ngramlm.config import RunConfig
from ngramlm.data import Vocab, examples_of
from ngramlm.errors import DiskFullError, InputError, StoreError
from ngramlm.models import Component, CountFamily, config_from_dict, family_of
from ngramlm.models.base import NeuralFamily
from ngramlm.store import Store
from ngramlm.store.records import HEARTBEAT_S, DatasetRecord, MetricRecord, RunRecord
from ngramlm.store.runs import check_checkpoint_size
from ngramlm.training import lrfind
from ngramlm.training.batched import train_batched
from ngramlm.training.loop import (
    EvalPoint,
    Examples,
    Hooks,
    TrainResult,
    TrainState,
    resolve_device,
)
from ngramlm.training.loop import train as train_loop

T = TypeVar("T")

FLUSH_S = 5.0  # metrics are written in batches at most this often (and at checkpoints)
RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0)  # a store that fails a write gets ~15 s to return


def with_retries(write: Callable[[], T], stop: threading.Event | None = None) -> T:
    """Retry a store write with backoff; the last failure propagates (at once when
    ``stop`` is set while it waits)."""
    for delay in RETRY_DELAYS_S:
        try:
            return write()
        except DiskFullError:
            raise  # seconds will not free the disk
        except StoreError:
            if stop is None:
                time.sleep(delay)
            elif stop.wait(delay):
                raise
    return write()


class Heartbeat:
    """A daemon thread that beats the hearts of this process's running runs every
    ``HEARTBEAT_S`` in its own short transactions (retried, so it waits its turn behind
    SQLite's other writers), whatever the main thread is doing: a step, an evaluation,
    a checkpoint or a count model's fit. A run is ``crashed`` only when its heartbeat
    is older than ``STALE_AFTER_S``, so a live run is never shown as crashed nor taken
    over by ``--resume``. Use it as a context manager: it stops, and its thread is
    joined, when the run ends however it ends."""

    def __init__(self, store: Store, run_ids: Sequence[int]) -> None:
        self.store, self.run_ids = store, list(run_ids)
        self.host, self.pid = socket.gethostname(), os.getpid()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"heartbeat-{self.run_ids}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            # a store that stays unwritable: the run's own writes find out and save its
            # state (execute_run); the heart beats again when it can
            with contextlib.suppress(StoreError):
                with_retries(
                    lambda: self.store.heartbeat(self.run_ids, host=self.host, pid=self.pid),
                    self._stop,
                )


class Progress:
    """What the terminal shows; the CLI supplies a Rich implementation."""

    def start(self, run: RunRecord, total: int, initial: int) -> None: ...

    def update(self, step: int, batch_loss: float, elapsed_s: float) -> None: ...

    def evaluated(self, point: EvalPoint) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class Outcome:
    run: RunRecord
    result: TrainResult


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Turn Ctrl-C and SIGTERM into a request to stop at the next step boundary, so the
    run can save a consistent checkpoint and be marked ``killed``."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)


class StoreHooks(Hooks):
    """Connects the loop to the store (batched metrics, heartbeats, checkpoints) and to
    the progress display."""

    def __init__(
        self,
        store: Store,
        run: RunRecord,
        cfg: RunConfig,
        vocab: tuple[str, ...],
        progress: Progress,
        stop: threading.Event,
        unit: str = "char",
    ) -> None:
        self.store, self.run, self.cfg, self.vocab = store, run, cfg, vocab
        self.unit = unit
        self.progress, self.stop = progress, stop
        self.pending: list[MetricRecord] = []
        self.last_write = time.monotonic()
        self.step = 0
        self.lost: StoreError | None = None  # set when the store stayed unwritable
        self.stored_step: int | None = None  # the step of the run's last stored checkpoint

    def _write(self, write: Callable[[], object]) -> None:
        """Write with retries; if the store stays unwritable, ask the loop to stop so the
        run's state can be saved to a file (see execute_run)."""
        if self.lost is not None:
            return
        try:
            with_retries(write)
        except StoreError as exc:
            self.lost = exc
            self.stop.set()

    def flush(self) -> None:
        pending, step = list(self.pending), self.step
        self._write(lambda: self.store.add_metrics(self.run.id, pending, step))
        if self.lost is None:
            self.pending = []
        self.last_write = time.monotonic()

    def on_progress(self, step: int, batch_loss: float, elapsed_s: float) -> None:
        self.step = step
        self.progress.update(step, batch_loss, elapsed_s)
        if time.monotonic() - self.last_write > FLUSH_S:  # live steps_done for report
            self.flush()

    def on_eval(self, point: EvalPoint) -> None:
        self.step = point.step
        self.pending.append(
            MetricRecord(
                point.step,
                point.elapsed_s,
                point.lr,
                point.batch_loss,
                point.train_loss,
                point.dev_loss,
            )
        )
        self.progress.evaluated(point)
        if time.monotonic() - self.last_write > FLUSH_S:
            self.flush()

    def on_checkpoint(self, state: TrainState) -> None:
        self.step = state.step
        self.flush()
        self._write(
            lambda: save_checkpoint(self.store, self.run.id, state, self.cfg, self.vocab, self.unit)
        )
        if self.lost is None:
            self.stored_step = state.step

    def should_stop(self) -> bool:
        return self.stop.is_set()


def save_checkpoint(
    store: Store,
    run_id: int,
    state: TrainState,
    cfg: RunConfig,
    vocab: tuple[str, ...],
    unit: str = "char",
) -> str:
    data, sha = checkpoint.to_bytes(state, cfg, vocab, unit=unit)
    store.save_checkpoint(run_id, state.step, sha, data)
    return sha


def load_examples(store: Store, dataset: DatasetRecord, block_size: int) -> Examples:
    """Train and dev examples; the test split is never loaded here."""
    vocab = Vocab(dataset.vocab, dataset.unit)
    train = examples_of(store.words(dataset.id, "train"), vocab, block_size)
    dev = examples_of(store.words(dataset.id, "dev"), vocab, block_size)
    # Views of a token stream (data.Windows) stand in for tensors: the loop, the steppers,
    # the evaluation and the count families read rows through X[ix] and X[a:b] only.
    return Examples(
        *cast(tuple[torch.Tensor, torch.Tensor], train),
        *cast(tuple[torch.Tensor, torch.Tensor], dev),
    )


def execute_run(
    store: Store,
    run: RunRecord,
    dataset: DatasetRecord,
    cfg: RunConfig,
    device: torch.device,
    progress: Progress,
    stop: threading.Event,
    resume: TrainState | None = None,
) -> Outcome:
    """Train an already-created run to its end (or to a stop) and record the outcome."""
    hooks = StoreHooks(store, run, cfg, dataset.vocab, progress, stop, dataset.unit)
    hooks.step = resume.step if resume else 0
    hooks.stored_step = resume.step if resume else None
    assert cfg.train is not None
    progress.start(run, cfg.train.steps, hooks.step)
    with Heartbeat(store, [run.id]):
        try:
            examples = load_examples(store, dataset, cfg.model.block_size)
            result = train_loop(cfg, examples, device, hooks, resume)
        except BaseException as exc:
            progress.stop()
            _record_failure(store, [hooks], exc)
            raise
        progress.stop()
        return _record_outcome(store, dataset, hooks, result)


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
        StoreHooks(
            store,
            run,
            cfg,
            dataset.vocab,
            progress if i == 0 else Progress(),
            stop,
            dataset.unit,
        )
        for i, (run, cfg) in enumerate(zip(runs, cfgs, strict=True))
    ]
    assert cfgs[0].train is not None
    progress.start(runs[0], cfgs[0].train.steps, 0)
    with Heartbeat(store, [r.id for r in runs]):  # every member's heart, in one beat
        try:
            examples = load_examples(store, dataset, cfgs[0].model.block_size)
            results = train_batched(cfgs, examples, device, hooks)
        except BaseException as exc:
            progress.stop()
            _record_failure(store, hooks, exc)
            raise
        progress.stop()
        # One model trained them all: each run records its share of the group's time.
        n = len(hooks)
        return [
            _record_outcome(store, dataset, h, r, members=n)
            for h, r in zip(hooks, results, strict=True)
        ]


def _record_failure(store: Store, hooks: Sequence[StoreHooks], exc: BaseException) -> None:
    """Record what is known; the run is failed (a bug or bad data), not crashed."""
    for h in hooks:
        try:
            h.flush()
        finally:
            store.end_run(
                h.run.id, status="failed", error=f"{type(exc).__name__}: {exc}", steps_done=h.step
            )


def _record_outcome(
    store: Store,
    dataset: DatasetRecord,
    hooks: StoreHooks,
    result: TrainResult,
    members: int = 1,
) -> Outcome:
    """Record a finished (or stopped) run. ``members`` > 1: the run was one of a batched
    group whose time is ``state.elapsed_s``; it records its share (group time / members)
    as its time, and the group's time and size in ``extra``."""
    run, cfg = hooks.run, hooks.cfg
    hooks.step = result.state.step
    state = result.state
    seconds = state.elapsed_s / members
    group = {"group_seconds": state.elapsed_s, "group_members": members} if members > 1 else None

    def record_outcome() -> RunRecord:
        sha = save_checkpoint(store, run.id, state, cfg, dataset.vocab, dataset.unit)
        if result.stopped:
            # a search's trial stopped at a rung (stages/search.py's TrialStop) is pruned
            pruned: str | None = getattr(hooks.stop, "pruned", None)
            return store.end_run(
                run.id,
                status="pruned" if pruned else "killed",
                error=pruned or "stopped by a signal (Ctrl-C or SIGTERM)",
                steps_done=state.step,
                train_seconds=seconds,
            )
        return store.finish_run(
            run.id,
            steps_done=state.step,
            train_loss=result.train_loss,
            dev_loss=result.dev_loss,
            train_seconds=seconds,
            checkpoint_sha256=sha,
            extra=group,
        )

    record: RunRecord | None = None
    hooks.flush()  # the last curve points (retried; sets hooks.lost if the store is gone)
    if hooks.lost is None:
        try:
            record = with_retries(record_outcome)
        except StoreError as exc:
            hooks.lost = exc
    if hooks.lost is not None or record is None:
        raise _rescue(store, dataset, hooks, state)
    return Outcome(record, result)


def _rescue(
    store: Store, dataset: DatasetRecord, hooks: StoreHooks, state: TrainState
) -> StoreError:
    """The store is gone or full: never lose the run silently. Its state goes to a file
    in the working directory, written whole or not at all; where that fails too (the
    disk is full), the one line says which steps are lost, where the run's last stored
    checkpoint is and how to resume it."""
    run, lost = hooks.run, hooks.lost
    path = Path(f"ngramlm-run-{run.id}-step-{state.step}.safetensors").resolve()
    try:
        data, _ = checkpoint.to_bytes(state, hooks.cfg, dataset.vocab, unit=dataset.unit)
        write_whole(path, data)
        return StoreError(
            f"run {run.id}: the store stayed unwritable ({lost}); training stopped at "
            f"step {state.step:,} and its checkpoint is saved to {path}"
        )
    except OSError as exc:
        no_file = f"no rescue file either ({exc.strerror or exc} in {path.parent})"
    k = hooks.stored_step
    gone = f"steps {(k or 0) + 1:,}-{state.step:,} are lost" if state.step > (k or 0) else ""
    last = (
        f"the last stored checkpoint is run {run.id} step {k:,}"
        if k
        else f"run {run.id} has no stored checkpoint (a resume starts it again from step 0)"
    )
    then = "free some space" if isinstance(lost, DiskFullError) else "once the store is back"
    # A failed run resumes at once; if even this cannot be written, the run is crashed
    # once its heartbeat (stopped with this process) goes stale.
    with contextlib.suppress(StoreError):
        store.end_run(run.id, status="failed", error=str(lost), steps_done=k or 0)
    return StoreError(
        f"run {run.id}: {lost}; {', '.join(filter(None, [gone, no_file]))}; {last}; "
        f"{then}, then `ngramlm train --resume {run.id}`"
    )


def write_whole(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: a temporary file beside it, synced,
    then renamed; a failed write (a full disk) leaves no file, never an empty one."""
    part = path.with_name(path.name + ".partial")
    try:
        with part.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(part, path)
    except OSError:
        part.unlink(missing_ok=True)
        raise


def run_columns(cfg: RunConfig, device: torch.device) -> dict[str, Any]:
    """A new run's queryable columns: its family's hyperparameters and, for a trained
    family, the precision ``--precision`` resolves to on ``device``."""
    fam = family_of(cfg)
    precision = fam.precision(cfg, device) if isinstance(fam, NeuralFamily) else None
    return {**fam.columns(cfg), "precision": precision}


def _create_run(
    store: Store,
    dataset: DatasetRecord,
    cfg: RunConfig,
    kind: str,
    name: str | None,
    preset: str | None,
    device: torch.device,
) -> RunRecord:
    """A new ``running`` run of this process, with its whole config."""
    return store.create_run(
        dataset_id=dataset.id,
        kind=kind,
        name=name,
        preset=preset,
        config=cfg.to_dict(),
        config_hash=cfg.config_hash(),
        columns=run_columns(cfg, device),
        device=str(device),
        host=socket.gethostname(),
        pid=os.getpid(),
        version=__version__,
    )


def start_run(
    store: Store,
    dataset: DatasetRecord,
    cfg: RunConfig,
    *,
    preset: str | None = None,
    name: str | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> Outcome:
    """Create a run of any family and take it to its end: trained, or counted."""
    fam = family_of(cfg)
    if isinstance(fam, CountFamily):
        # the runs it combines, checked before anything is written
        components = load_components(store, dataset, cfg)
        cfg = fam.bind(cfg, components)
        run = _create_run(store, dataset, cfg, "train", name, preset, torch.device("cpu"))
        return execute_count(store, run, dataset, cfg, stop, components)
    assert cfg.train is not None
    device = resolve_device(cfg.train.device)  # refuse an absent device before writing
    run = _create_run(store, dataset, cfg, "train", name, preset, device)
    return execute_run(
        store, run, dataset, cfg, device, progress or Progress(), stop or threading.Event(), None
    )


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


def resume_run(
    store: Store,
    run_id: int,
    *,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> Outcome:
    run, _ = store.claim_for_resume(
        run_id, host=socket.gethostname(), pid=os.getpid(), exited=owner_exited
    )
    cfg = config_from_dict(run.config)
    if family_of(cfg).counted:  # counting has no state to resume: count again
        return execute_count(store, run, store.dataset_by_id(run.dataset_id), cfg, stop)
    ckpt = store.checkpoint(run_id)
    state: TrainState | None = None  # None: it died before its first checkpoint, start over
    if ckpt is not None:
        loaded = checkpoint.from_bytes(ckpt.data, ckpt.sha256)
        cfg, state = loaded.config, loaded.state
    dataset = store.dataset_by_id(run.dataset_id)
    assert cfg.train is not None
    device = resolve_device(cfg.train.device)
    return execute_run(
        store,
        run,
        dataset,
        cfg,
        device,
        progress or Progress(),
        stop or threading.Event(),
        state,
    )


def lr_find(
    store: Store,
    dataset: DatasetRecord,
    cfg: RunConfig,
    *,
    min_lr: float,
    max_lr: float,
    name: str | None = None,
) -> tuple[RunRecord, list[float], list[float], lrfind.Suggestion]:
    """Run the learning-rate range test and store it as a run of kind ``lr_find``."""
    if cfg.train is None:
        raise InputError(f"--model {cfg.family} is counted, not trained: it has no learning rate")
    lrfind.validate_range(min_lr, max_lr, cfg.train.steps)
    device = resolve_device(cfg.train.device)
    run = _create_run(store, dataset, cfg, "lr_find", name, None, device)
    t0 = time.perf_counter()
    try:
        with Heartbeat(store, [run.id]):
            examples = load_examples(store, dataset, cfg.model.block_size)
            lrs = lrfind.lr_schedule(min_lr, max_lr, cfg.train.steps)
            losses = lrfind.range_test(cfg, examples, device, lrs)
    except BaseException as exc:
        store.end_run(run.id, status="failed", error=f"{type(exc).__name__}: {exc}", steps_done=0)
        raise
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
    record = store.finish_run(
        run.id,
        steps_done=len(points),
        train_loss=None,
        dev_loss=None,
        train_seconds=elapsed,
        checkpoint_sha256=None,
        extra=extra,
    )
    return record, lrs, losses, suggestion


# --- counted models --------------------------------------------------------------------


class Stopped(Exception):
    """A stop request (Ctrl-C, SIGTERM) arrived while a model was being counted."""


def components_dataset(store: Store, cfg: RunConfig) -> str | None:
    """The dataset of the first run a counted config is fitted from (a mixture's), to
    default ``--dataset`` to; None for a config fitted from no run."""
    fam = family_of(cfg)
    ids = fam.components(cfg) if isinstance(fam, CountFamily) else []
    return store.run(ids[0]).dataset if ids else None


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
    the loaded runs the config is fitted from (None: load them, as a resume does)."""
    with Heartbeat(store, [run.id]):  # a fit can take minutes: it beats meanwhile
        return _count(store, run, dataset, cfg, stop, components)


def _count(
    store: Store,
    run: RunRecord,
    dataset: DatasetRecord,
    cfg: RunConfig,
    stop: threading.Event | None,
    components: Sequence[Component] | None,
) -> Outcome:
    fam = family_of(cfg)
    assert isinstance(fam, CountFamily)
    t0 = time.perf_counter()

    def check_stop() -> None:
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
        size = fam.tensor_bytes(model)
        if size is not None:  # too long for the store: refused before it takes the memory
            check_checkpoint_size(run.id, size)
        data, sha = checkpoint.counted_to_bytes(model, cfg, dataset.vocab, unit=dataset.unit)
        del model  # and the tables before the store copies the checkpoint's bytes
        check_checkpoint_size(run.id, len(data))  # a failed run, not a half-written one
    except Stopped:  # killed, as a trained run would be
        record = store.end_run(
            run.id, status="killed", error="stopped by a signal (Ctrl-C or SIGTERM)", steps_done=0
        )
        state = TrainState(step=0, model={}, optimizer={}, rng=torch.zeros(0))
        return Outcome(record, TrainResult(state, stopped=True))
    except BaseException as exc:
        store.end_run(run.id, status="failed", error=f"{type(exc).__name__}: {exc}", steps_done=0)
        raise
    point = EvalPoint(1, elapsed, 0.0, None, train_loss, dev_loss)
    metric = MetricRecord(1, elapsed, 0.0, None, train_loss, dev_loss)
    if not store.metrics(run.id):  # a resumed run may have recorded it before it died
        with_retries(lambda: store.add_metrics(run.id, [metric], steps_done=1))
    with_retries(lambda: store.save_checkpoint(run.id, 1, sha, data))
    record = with_retries(
        lambda: store.finish_run(
            run.id,
            steps_done=1,
            train_loss=train_loss,
            dev_loss=dev_loss,
            train_seconds=elapsed,
            checkpoint_sha256=sha,
            extra=extra,
        )
    )
    state = TrainState(step=1, model={}, optimizer={}, rng=torch.zeros(0), elapsed_s=elapsed)
    return Outcome(record, TrainResult(state, False, train_loss, dev_loss, [point]))
