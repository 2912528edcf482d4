"""``Experiments``' reading methods: datasets, runs, curves and evaluations as the store
holds them (records, or DataFrames). Each validates its arguments and makes one call."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ngramlm.api.handle import (
    CURVE_FIELDS,
    KINDS,
    DatasetRef,
    Handle,
    RunRef,
    SweepRef,
    pandas_module,
)
from ngramlm.errors import InputError
from ngramlm.stages.prepare import check_name
from ngramlm.stages.report import STATUSES
from ngramlm.store.records import (
    DatasetRecord,
    EvaluationRecord,
    MetricRecord,
    RunRecord,
    SweepRecord,
)

if TYPE_CHECKING:
    import pandas as pd

    from ngramlm.stages.sweep import SweepStatus


def datasets(h: Handle) -> list[DatasetRecord]:
    """Every dataset in the store, oldest first."""
    return h.store.datasets()


def words(h: Handle, dataset: DatasetRef, split: str = "train") -> list[str]:
    """A dataset's train or dev words in split order. The test split is locked: only
    ``finalize`` evaluates on it, and no function returns its words."""
    if split not in ("train", "dev"):
        raise InputError(
            f"split {split!r}: words() gives 'train' or 'dev'; the test split is locked "
            "(finalize(run) evaluates a finished run on it, once)"
        )
    return h.store.words(h.dataset(dataset).id, split)


def run(h: Handle, run: RunRef) -> RunRecord:
    """One run, by id, record (read again), ``"last"`` (the newest training run) or a
    result that carries it."""
    return h.store.run(h.run_id(run))


def runs(
    h: Handle,
    dataset: DatasetRef | None = None,
    sweep: SweepRef | None = None,
    status: str | None = None,
    kind: str | None = None,
) -> list[RunRecord]:
    """Runs, newest first, filtered like ``ngramlm report``: by dataset name, sweep,
    status (``running``, ``finished``, ``failed``, ``killed``, ``crashed``: a running
    run with a stale heartbeat; ``pruned``) and kind (``train`` or ``lr_find``)."""
    from ngramlm.stages.tables import select

    check_selection(dataset, status, kind)
    sweep_id = h.sweep_id(sweep) if sweep is not None else None
    ds = h.dataset(dataset) if dataset is not None else None
    return select(h.store, ds, sweep_id, status, kind)


def check_selection(dataset: DatasetRef | None, status: str | None, kind: str | None) -> None:
    """A selection of runs: a known status and kind, a valid dataset name."""
    if status is not None and status not in STATUSES:
        raise InputError(f"--status must be one of {', '.join(STATUSES)}, got {status!r}")
    if kind is not None and kind not in KINDS:
        raise InputError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if isinstance(dataset, str):
        check_name(dataset)


def curve(h: Handle, run: RunRef, *, after: int | None = None) -> list[MetricRecord]:
    """The run's curve: a point per evaluation (step, elapsed_s, lr, batch_loss,
    train_loss, dev_loss; an lr-find run has (lr, batch_loss) per step); ``after``: only
    the points past that step (what a live view has not drawn yet)."""
    if after is not None and (isinstance(after, bool) or not isinstance(after, int)):
        raise InputError(f"after must be a step (an integer), got {after!r}")
    return h.store.metrics(h.run_id(run), after=after)


def curve_frame(h: Handle, run: RunRef) -> pd.DataFrame:
    """``curve`` as a DataFrame (columns ``CURVE_FIELDS``). Needs pandas."""
    rows = [[getattr(p, f) for f in CURVE_FIELDS] for p in curve(h, run)]
    return pandas_module().DataFrame(rows, columns=list(CURVE_FIELDS))


def evaluation(h: Handle, run: RunRef) -> EvaluationRecord | None:
    """The run's recorded test evaluation, if it was finalized (reads nothing of the
    test split)."""
    return h.store.evaluation(h.run_id(run))


def test_evaluations_spent(h: Handle) -> dict[str, int]:
    """How many test evaluations each dataset has had (its name: a count)."""
    return h.store.test_evaluations_spent()


def sweeps(h: Handle) -> list[SweepRecord]:
    """Every sweep and search in the store, newest first."""
    return h.store.sweeps()


def stamp(h: Handle) -> str:
    """A short text that changes whenever the store's datasets, runs, curves, sweeps or
    test evaluations do (one cheap query): poll it to know when to read again."""
    return h.store.stamp()


def sweep_status(h: Handle, sweep: SweepRef) -> SweepStatus:
    """A sweep and its runs now (what ``run_sweep`` returns at its end)."""
    from ngramlm.stages.sweep import status

    return status(h.store, h.sweep_id(sweep))
