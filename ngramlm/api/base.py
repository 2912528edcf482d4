"""The handle on a store that every part of the API builds on: the store, ids, the
checks and errors the methods share."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ngramlm.errors import ConflictError, InputError, NgramlmError, NotFoundError
from ngramlm.stages.prepare import resolve_dataset
from ngramlm.store import Store
from ngramlm.store.connection import DEFAULT_URL
from ngramlm.store.records import DatasetRecord, EvaluationRecord, RunRecord, SweepRecord

if TYPE_CHECKING:
    from ngramlm.config import RunConfig

KINDS = ("train", "lr_find")  # what ``runs(kind=...)`` takes
CURVE_FIELDS = ("step", "elapsed_s", "lr", "batch_loss", "train_loss", "dev_loss")
MAX_SAMPLES = 100_000
TOP_WORDS = 100  # a word model's embedding figure shows its commonest tokens only
POLL_S = 0.5  # how often a sweep's progress is reported while workers run

RunRef = int | str | RunRecord
SweepRef = int | str | SweepRecord


class AlreadyFinalized(ConflictError):
    """``finalize`` on a run that was finalized already: the test split is evaluated once
    per run, ever. ``evaluation`` is the recorded result (nothing was evaluated again)."""

    def __init__(self, run: RunRecord, evaluation: EvaluationRecord) -> None:
        super().__init__(
            f"run {run.id} was finalized already; the test split is evaluated once per run, "
            f"ever (recorded test loss {evaluation.test_loss:.4f} on "
            f"{evaluation.created_at:%Y-%m-%d %H:%M} UTC)"
        )
        self.run = run
        self.evaluation = evaluation


class MissingExtra(NgramlmError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


@dataclass(frozen=True)
class Samples:
    """Words sampled from a run's checkpoint at ``step``; ``marked`` pairs each word with
    where it occurs: ``train``, ``dev`` or ``new`` (a test word reads as ``new``)."""

    run: int
    step: int
    marked: tuple[tuple[str, str], ...]

    @property
    def words(self) -> list[str]:
        return [w for w, _ in self.marked]


# --- ids and shared checks --------------------------------------------------------------

_ID = re.compile(r"^[0-9]{1,18}$")


def parse_id(text: str | int, what: str = "run") -> int:
    """Run and sweep ids are positive integers; anything else is refused before any query."""
    if isinstance(text, bool) or (isinstance(text, int) and text < 1):
        raise InputError(f"{what} id {text!r} is not valid; give a positive number (e.g. 12)")
    if isinstance(text, int):
        return text
    if not _ID.match(text.strip()) or int(text) < 1:
        raise InputError(
            f"{what} id {text!r} is not valid; give the number shown by `ngramlm report` "
            f"(e.g. 12){' or last' if what == 'run' else ''}"
        )
    return int(text)


def check_workers(workers: int | None) -> None:
    """The API's worker count: 0 trains in this process, 1 to 256 start processes,
    None: as many as the policy finds useful (``runtime``)."""
    if workers is not None and (isinstance(workers, bool) or not 0 <= workers <= 256):
        raise InputError(f"--workers must be between 0 (in this process) and 256, got {workers}")


def check_threads(threads: int | None) -> None:
    if threads is not None and (isinstance(threads, bool) or not 1 <= threads <= 1024):
        raise InputError(f"--threads must be between 1 and 1024, got {threads}")


def auto_threads(cfg: RunConfig) -> int:
    """The threads a run of ``cfg`` takes without ``--threads`` (``runtime``:
    one for a small model; the usable cores that are free now for a large one)."""
    from ngramlm.runtime import threads_for

    return threads_for(cfg)


def pandas_module() -> Any:
    """pandas, or an error naming the extra that installs it."""
    try:
        import pandas
    except ImportError:
        raise MissingExtra(
            "pandas is not installed; install it with pip install 'ngramlm[pandas]' "
            "(or use report_rows()/curve(), which need no pandas)"
        ) from None
    return pandas


@contextmanager
def forward_signals(procs: Sequence[subprocess.Popen[bytes]]) -> Iterator[None]:
    """Ctrl-C and SIGTERM reach the sweep's workers as SIGTERM (each saves a checkpoint
    and marks its point killed); they are waited for however the block ends."""
    import signal

    def forward(signum: int, frame: object) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)

    main = threading.current_thread() is threading.main_thread()
    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for p in procs:
            if p.stdin is not None:
                p.stdin.close()  # a worker still running stops at its next step
            p.wait()


# --- the handle ------------------------------------------------------------------------


class Base:
    """One store (``Experiments`` is this with its methods by concern: reading.py,
    models.py, training.py, sweeps.py, figures.py).

    ``Experiments(url)`` opens the store on first use (``open_store`` opens it at once);
    ``Experiments(store=...)`` wraps a ``Store`` that is already open (what the CLI
    does). Methods that train or sample import torch when called."""

    def __init__(self, url: str | None = None, *, store: Store | None = None) -> None:
        if store is not None:
            self.url = store.url.render_as_string(hide_password=False)
        else:
            self.url = url or os.environ.get("NGRAMLM_DB") or DEFAULT_URL
        self._store = store

    @property
    def store(self) -> Store:
        """The underlying ``Store`` (opened, and created at head if new, on first use)."""
        if self._store is None:
            self._store = Store(self.url)
        return self._store

    @property
    def where(self) -> str:
        """The store's name for messages (never with a password)."""
        return self.store.where

    def close(self) -> None:
        """Release the store's connections (it opens again on the next use)."""
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Base:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        from ngramlm.store.connection import mask

        return f"Experiments({self.where if self._store is not None else mask(self.url)!r})"

    def dataset(self, name: str | DatasetRecord | None = None) -> DatasetRecord:
        """The dataset named ``name``; None: the bundled names (prepared on first use)."""
        if isinstance(name, DatasetRecord):
            return name
        return resolve_dataset(self.store, name)

    def run_id(self, run: RunRef) -> int:
        """The id of a run given as its id, its record or ``"last"``."""
        if isinstance(run, RunRecord):
            return run.id
        if isinstance(run, str) and run.strip() == "last":
            newest = self.store.runs(kind="train", limit=1)
            if not newest:
                raise NotFoundError(
                    f"{self.store.where} holds no training run yet; `ngramlm train` first"
                )
            return newest[0].id
        return parse_id(run, "run")

    @staticmethod
    def sweep_id(sweep: SweepRef) -> int:
        """The id of a sweep given as its id or its record."""
        if isinstance(sweep, SweepRecord):
            return sweep.id
        return parse_id(sweep, "sweep")

    def sweep_record(self, sweep: SweepRef) -> SweepRecord:
        """One sweep, by id or record."""
        return self.store.sweep(self.sweep_id(sweep))

    def _search(self, sweep: SweepRef) -> SweepRecord:
        sw = self.sweep_record(sweep)
        if "search" not in sw.spec:
            raise InputError(f"sweep {sw.id} is a grid, not a search; report --sweep shows it")
        return sw
