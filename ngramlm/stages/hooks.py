"""What connects the training loop to the store while a run lives: the ``Progress`` a
terminal supplies, ``StoreHooks`` (batched metrics, checkpoints) and the run's outcome,
recorded or rescued to a file when the store is gone. ``stages/run.py`` starts and
resumes runs with them; ``stages/counted.py`` counts. A run's hold on the store (writes
retried within a bound, the ``Heartbeat``) is ``stages/lease.py``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar, cast

import torch

from ngramlm import checkpoint, outputs
from ngramlm.blob import Blob
from ngramlm.config import RunConfig
from ngramlm.data import Vocab, examples_of
from ngramlm.data.sequences import train_stride, windows_of
from ngramlm.errors import DiskFullError, InputError, StoreError
from ngramlm.evaluation import WindowSet
from ngramlm.stages.lease import Heartbeat as Heartbeat
from ngramlm.stages.lease import with_retries as with_retries
from ngramlm.store import Store
from ngramlm.store.checks import is_loss
from ngramlm.store.connection import waiting_at_most
from ngramlm.store.records import HEARTBEAT_S, DatasetRecord, MetricRecord, RunRecord
from ngramlm.training.loop import (
    EvalPoint,
    Examples,
    Hooks,
    TrainResult,
    TrainState,
)

T = TypeVar("T")

FLUSH_S = 5.0  # metrics are written in batches at most this often (and at checkpoints)


class Progress:
    """What the terminal shows; the CLI supplies a Rich implementation."""

    def start(self, run: RunRecord, total: int, initial: int) -> None: ...

    def update(self, step: int, batch_loss: float, elapsed_s: float) -> None: ...

    def evaluating(self, split: str, done: int, total: int) -> None:
        """An evaluation is under way: ``done`` of ``total`` chunks of ``split`` ("train",
        "dev", "train sample", "dev sample"); told before its first chunk and after each."""

    def evaluated(self, point: EvalPoint) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class Outcome:
    run: RunRecord
    result: TrainResult


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """Turn Ctrl-C and SIGTERM into a request to stop at the next step boundary (or
    between an evaluation's chunks), so the run can save a consistent checkpoint and be
    marked ``killed``."""
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
        vocab: Vocab,
        progress: Progress,
        stop: threading.Event,
    ) -> None:
        self.store, self.run, self.cfg, self.vocab = store, run, cfg, vocab
        self.progress, self.stop = progress, stop
        self.pending: list[MetricRecord] = []
        self.last_write = time.monotonic()
        self.step = 0
        self.lost: StoreError | None = None  # set when the store stayed unwritable
        self.stored_step: int | None = None  # the step of the run's last stored checkpoint
        # set at the first loss that is no loss (nan, inf): the run ends failed with it
        self.diverged: str | None = None

    def lose(self, exc: StoreError) -> None:
        """The store is lost to the run (its heartbeat could not be written within the
        bound): stop at the next step and save the run's state to a file
        (record_outcome, rescue); nothing more is written but the run's end, if it can."""
        if self.lost is None:
            self.lost = exc
        self.stop.set()

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

    def on_evaluating(self, split: str, done: int, total: int) -> None:
        self.progress.evaluating(split, done, total)

    def on_eval(self, point: EvalPoint) -> None:
        self.step = point.step
        losses = {"batch": point.batch_loss, "train": point.train_loss, "dev": point.dev_loss}
        for split, loss in losses.items():
            if loss is not None and not is_loss(loss):
                losses[split] = None  # never recorded: the store holds losses only
                self.diverged = self.diverged or (
                    f"diverged: its {split} loss was {loss:.6g} at step {point.step:,}; "
                    "train it again with a lower --lr"
                )
        self.pending.append(
            MetricRecord(
                point.step,
                point.elapsed_s,
                point.lr,
                losses["batch"],
                losses["train"],
                losses["dev"],
            )
        )
        self.progress.evaluated(point)
        if time.monotonic() - self.last_write > FLUSH_S:
            self.flush()

    def on_checkpoint(self, state: TrainState) -> None:
        self.step = state.step
        self.flush()
        self._write(lambda: save_checkpoint(self.store, self.run.id, state, self.cfg, self.vocab))
        if self.lost is None:
            self.stored_step = state.step

    def should_stop(self) -> bool:
        return self.stop.is_set()


def save_checkpoint(
    store: Store,
    run_id: int,
    state: TrainState,
    cfg: RunConfig,
    vocab: Vocab,
) -> str:
    blob = checkpoint.to_blob(state, cfg, vocab)
    store.save_checkpoint(run_id, state.step, blob)
    return blob.sha256


def check_space(store: Store, what: str, size: int, smaller: str) -> None:
    """Refuse, before writing it, a checkpoint of ``size`` bytes that the disk under an
    SQLite store cannot hold: it is written twice (the write-ahead log, then the database
    file). A database server says so itself when its disk is full."""
    free = store.free_bytes()
    if free is None or 2 * size <= free:
        return
    raise DiskFullError(
        f"{what} is {_gb(size)}; storing it needs about {_gb(2 * size)} in {store.where}, "
        f"and its disk has {_gb(free)} free; free some space, give --db a store on a "
        f"larger disk, or {smaller}"
    )


def _gb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n < 1e9 else f"{n / 1e9:,.2f} GB"


def load_examples(
    store: Store,
    dataset: DatasetRecord,
    block_size: int,
    train_words: Sequence[str] | None = None,
    *,
    windows: bool = False,
) -> Examples:
    """Train and dev examples (``train_words``: the train split, read already by the
    plan); the test split is never loaded here. ``windows``: a family that learns whole
    windows (``NeuralFamily.sequence``) gets the splits' windows (``data.sequences``)."""
    vocab = dataset.vocab
    if train_words is None:
        train_words = store.words(dataset.id, "train")
    dev_words = store.words(dataset.id, "dev")
    if windows:
        return load_windows(train_words, dev_words, vocab, block_size)
    train = examples_of(train_words, vocab, block_size)
    dev = examples_of(dev_words, vocab, block_size)
    # Views of a token stream (data.Windows) stand in for tensors: the loop, the steppers,
    # the evaluation and the count families read rows through X[ix] and X[a:b] only.
    return Examples(
        *cast(tuple[torch.Tensor, torch.Tensor], train),
        *cast(tuple[torch.Tensor, torch.Tensor], dev),
    )


def load_windows(
    train_words: Sequence[str], dev_words: Sequence[str], vocab: Vocab, block_size: int
) -> Examples:
    """A sequence family's examples: the train split's windows in pieces of
    ``train_stride`` targets to step on, train and dev at stride 1 to evaluate (the same
    windows when no line is longer than a block, as on the lecture's names)."""
    T, V = block_size, vocab.size
    # Views of a token stream (data.sequences.Rows) stand in for tensors, as in
    # load_examples: the loop and the evaluation read rows through X[ix] and X[a:b] only.
    Xw, Yw = cast(tuple[torch.Tensor, torch.Tensor], windows_of(train_words, vocab, T, 1))
    Xtr, Ytr = cast(
        tuple[torch.Tensor, torch.Tensor], windows_of(train_words, vocab, T, train_stride(T))
    )
    if Xtr.shape[0] == Xw.shape[0]:  # no pieces: the same windows
        Xtr, Ytr = Xw, Yw
    Xdev, Ydev = cast(tuple[torch.Tensor, torch.Tensor], windows_of(dev_words, vocab, T, 1))
    return Examples(Xtr, Ytr, Xdev, Ydev, (WindowSet(Xw, Yw, V), WindowSet(Xdev, Ydev, V)))


def record_failure(store: Store, hooks: Sequence[StoreHooks], exc: BaseException) -> None:
    """Record what is known; the run is failed (a bug or bad data), not crashed."""
    for h in hooks:
        try:
            h.flush()
        finally:
            store.end_run(
                h.run.id, status="failed", error=f"{type(exc).__name__}: {exc}", steps_done=h.step
            )


def record_outcome(
    store: Store,
    dataset: DatasetRecord,
    hooks: StoreHooks,
    result: TrainResult,
    members: int = 1,
    seconds: float | None = None,
) -> Outcome:
    """Record a finished (or stopped) run. ``members`` > 1: the run was one of a batched
    group whose time is ``state.elapsed_s``; it records its share (``seconds``, by default
    group time / members) as its time, and the group's time and size in ``extra``; a
    final loss measured on a split's fixed sample says so there too (``final_sample``:
    {split: [targets in the sample, targets in the split]})."""
    run, cfg = hooks.run, hooks.cfg
    hooks.step = result.state.step
    state = result.state
    seconds = state.elapsed_s / members if seconds is None else seconds
    group = {"group_seconds": state.elapsed_s, "group_members": members} if members > 1 else {}
    # the final losses' splits measured on a fixed sample: {split: [sample, whole]}
    sizes = result.points[-1].sample_sizes if result.points else ()
    sample = {"final_sample": {name: [k, n] for name, k, n in sizes}} if sizes else {}

    def record_outcome() -> RunRecord:
        sha = save_checkpoint(store, run.id, state, cfg, dataset.vocab)
        if result.stopped:
            # a search's trial stopped at a rung (stages/halving.py's TrialStop) is pruned;
            # one its budget stopped is killed, with the reason (stages/budget.py)
            pruned: str | None = getattr(hooks.stop, "pruned", None)
            spent: str | None = getattr(hooks.stop, "budget_stop", None)
            return store.end_run(
                run.id,
                status="pruned" if pruned else "killed",
                error=pruned or spent or "stopped by a signal (Ctrl-C or SIGTERM)",
                steps_done=state.step,
                train_seconds=seconds,
            )
        if hooks.diverged is not None:
            return store.end_run(
                run.id,
                status="failed",
                error=hooks.diverged,
                steps_done=state.step,
                train_seconds=seconds,
            )
        return store.end_run(
            run.id,
            status="finished",
            steps_done=state.step,
            train_loss=result.train_loss,
            dev_loss=result.dev_loss,
            train_seconds=seconds,
            checkpoint_sha256=sha,
            extra={**group, **sample} or None,
        )

    record: RunRecord | None = None
    hooks.flush()  # the last curve points (retried; sets hooks.lost if the store is gone)
    if hooks.lost is None:
        try:
            record = with_retries(record_outcome)
        except StoreError as exc:
            hooks.lost = exc
    if hooks.lost is not None or record is None:
        raise rescue(store, dataset, hooks, state)
    return Outcome(record, result)


def rescue(
    store: Store, dataset: DatasetRecord, hooks: StoreHooks, state: TrainState
) -> StoreError:
    """The store is gone or full: never lose the run silently. Its state goes to a file
    in the working directory, written whole or not at all; where that fails too (the
    disk is full), the one line says which steps are lost, where the run's last stored
    checkpoint is and how to resume it."""
    run, lost = hooks.run, hooks.lost
    path = Path(f"ngramlm-run-{run.id}-step-{state.step}.safetensors").resolve()
    try:
        write_whole(path, checkpoint.to_blob(state, hooks.cfg, dataset.vocab))
        return StoreError(
            f"run {run.id}: the store stayed unwritable ({lost}); training stopped at "
            f"step {state.step:,} and its checkpoint is saved to {path}"
        )
    except InputError as exc:  # the one line outputs.write_file refused it with
        no_file = f"no rescue file either ({exc})"
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
    with contextlib.suppress(StoreError), waiting_at_most(HEARTBEAT_S):
        store.end_run(run.id, status="failed", error=str(lost), steps_done=k or 0)
    return StoreError(
        f"run {run.id}: {lost}; {', '.join(filter(None, [gone, no_file]))}; {last}; "
        f"{then}, then `ngramlm train --resume {run.id}`"
    )


def write_whole(path: Path, blob: Blob) -> None:
    """Write ``blob`` to ``path`` whole or not at all (``outputs.write_file``, replacing
    a file of that name): a failed write (a full disk) leaves no file, never an empty one."""

    def pieces(tmp: Path) -> None:
        with tmp.open("wb") as f:
            f.writelines(blob.pieces)

    outputs.write_file(path, pieces, force=True)
