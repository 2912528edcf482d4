"""What ``ngramlm report`` reads from the store and shows: the runs (a page of the newest,
or a selection), ``--compare``'s models side by side, a sweep as a grid and one run in
depth. The rows, grids and diagnoses are ``stages/report.py``'s and
``stages/diagnose.py``'s (pure); this module is the store's side of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ngramlm.errors import InputError
from ngramlm.resources import BUNDLED_UNIT
from ngramlm.stages.diagnose import Finding, diagnose
from ngramlm.stages.embeddings import Neighbours, nearest, table_of
from ngramlm.stages.report import (
    SweepGrid,
    best_per_sweep,
    compare_rows,
    counted,
    rows,
    sweep_grid,
    unfinished,
)
from ngramlm.stages.sample import sample_run
from ngramlm.store import Store
from ngramlm.store.records import (
    DatasetRecord,
    EvaluationRecord,
    MetricRecord,
    RunRecord,
    SweepRecord,
)


@dataclass(frozen=True)
class RunTable:
    """Runs as ``ngramlm report`` lists them: the records, their rows (``report.FIELDS``,
    sweeps grouped) and how many runs the selection holds (``total``)."""

    runs: list[RunRecord]
    rows: list[dict[str, Any]]
    total: int


@dataclass(frozen=True)
class Comparison:
    """``report --compare``: one dataset's finished models side by side (rows of
    ``report.COMPARE_FIELDS``) and the dataset's unit (``char`` or ``word``)."""

    dataset: str | None
    unit: str
    models: list[dict[str, Any]]


@dataclass(frozen=True)
class SweepReport:
    """``report --sweep``: a grid sweep, its runs, their rows and the dev-loss grid."""

    sweep: SweepRecord
    runs: list[RunRecord]
    rows: list[dict[str, Any]]
    grid: SweepGrid


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


def select(
    store: Store,
    dataset: DatasetRecord | None,
    sweep_id: int | None,
    status: str | None,
    kind: str | None,
) -> list[RunRecord]:
    """Runs, newest first, of a dataset and/or a sweep, with a status and a kind."""
    if sweep_id is not None:
        store.sweep(sweep_id)  # an unknown sweep is refused by name
        found = sorted(store.sweep_runs(sweep_id), key=lambda r: -r.id)
    else:
        found = store.runs()
    return [
        r
        for r in found
        if (dataset is None or r.dataset_id == dataset.id)
        and (kind is None or r.kind == kind)
        and (status is None or r.status == status)
    ]


def page(store: Store, dataset: str | None, limit: int) -> RunTable:
    """The newest ``limit`` runs, read alone (a store of 10,000 runs reports as fast as a
    small one), with their sweeps' members for the best-in-sweep mark."""
    ds_id = store.dataset(dataset).id if dataset is not None else None
    runs = store.runs(dataset_id=ds_id, limit=limit)
    sweeps = sorted({r.sweep_id for r in runs if r.sweep_id is not None})
    best = best_per_sweep([m for sid in sweeps for m in store.sweep_runs(sid)])
    found = rows(runs, store.evaluations(), best=best, last=_last(store, runs))
    return RunTable(runs, found, store.count_runs(dataset_id=ds_id))


def table(
    store: Store,
    dataset: DatasetRecord | None,
    *,
    status: str | None,
    sort: str,
    limit: int | None,
) -> RunTable:
    """Every run of the dataset (or all) as rows, filtered, sorted and cut."""
    runs = select(store, dataset, None, None, None)
    found = rows(runs, store.evaluations(), status=status, sort=sort, limit=limit,
                 last=_last(store, runs))  # fmt: skip
    return RunTable(runs, found, len(found))


def compare(store: Store, dataset: DatasetRecord | None, limit: int | None) -> Comparison:
    """A dataset's finished training runs as Bengio et al. 2003's Table 1 (refused for a
    store of several datasets without ``dataset``)."""
    ds_id = dataset.id if dataset is not None else None
    runs = [r for r in store.runs(dataset_id=ds_id, kind="train") if r.status == "finished"]
    names = sorted({r.dataset for r in runs})
    if len(names) > 1:
        raise InputError(
            f"--compare compares the models of one dataset; this store has "
            f"{', '.join(names)}: add --dataset NAME"
        )
    models = compare_rows(runs, store.evaluations())[:limit]
    unit = store.dataset(names[0]).unit if names else BUNDLED_UNIT
    return Comparison(names[0] if names else None, unit, models)


def sweep_report(
    store: Store, sweep: SweepRecord, *, status: str | None, sort: str, limit: int | None
) -> SweepReport:
    """A sweep's runs as rows and its dev losses as a grid over its first two swept keys
    (lr first when swept), seeds averaged."""
    runs = store.sweep_runs(sweep.id)
    found = rows(runs, store.evaluations(), status=status, sort=sort, limit=limit,
                 last=_last(store, runs))  # fmt: skip
    return SweepReport(sweep, runs, found, sweep_grid(sweep, runs))


def run_report(store: Store, run_id: int) -> RunReport:
    """One run in depth; its checkpoint is read once, for its figures, its samples and
    (a word network's) its neighbours alike."""
    r = store.run(run_id)
    metrics = store.metrics(run_id)
    ckpt = store.checkpoint(run_id)
    findings = diagnose(r, metrics) if r.kind == "train" else []
    samples: tuple[tuple[str, str], ...] = ()
    near: Neighbours = []
    if ckpt is not None and r.kind == "train":
        samples = sample_run(store, (r, ckpt), 8, 42).marked
        if not counted(r) and store.dataset_by_id(r.dataset_id).unit == "word":
            every, C, _ = table_of(r, ckpt)
            near = nearest(r, every, C, None, 5)
    shown = (
        None
        if ckpt is None
        else {"step": ckpt.step, "sha256": ckpt.sha256, "bytes": len(ckpt.data)}
    )
    return RunReport(r, metrics, store.evaluation(run_id), shown, findings, samples, near)


def rows_of(
    store: Store, runs: Sequence[RunRecord], *, sort: str, limit: int | None
) -> list[dict[str, Any]]:
    """``report --json/--csv``'s rows of ``runs``."""
    return rows(runs, store.evaluations(), sort=sort, limit=limit, last=_last(store, runs))


def _last(store: Store, runs: Sequence[RunRecord]) -> dict[int, MetricRecord]:
    """The last evaluations of the runs without final losses (a killed run's, say)."""
    return store.last_evaluations([r.id for r in runs if unfinished(r)])
