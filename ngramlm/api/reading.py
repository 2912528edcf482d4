"""Reading the store: datasets, runs, curves, evaluations and report rows, as records
or DataFrames."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ngramlm.api.base import (
    CURVE_FIELDS,
    KINDS,
    Base,
    RunRef,
    SweepRef,
    pandas_module,
)
from ngramlm.errors import InputError
from ngramlm.stages.prepare import DEFAULT_SEED, check_name
from ngramlm.stages.report import FIELDS, SORTS, STATUSES, rows
from ngramlm.store.records import (
    DatasetRecord,
    EvaluationRecord,
    MetricRecord,
    RunRecord,
    SweepRecord,
)

if TYPE_CHECKING:
    import pandas as pd

    from ngramlm.stages.prepare import Prepared
    from ngramlm.stages.report import SweepGrid
    from ngramlm.stages.sweep import SweepStatus


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


class Reading(Base):
    """Datasets, runs, curves, evaluations and sweeps as the store holds them."""

    def prepare(
        self,
        path: str | Path | None = None,
        name: str | None = None,
        seed: int = DEFAULT_SEED,
        *,
        unit: str = "char",
        min_count: int = 1,
        split: str = "shuffled",
    ) -> DatasetRecord:
        """``ngramlm prepare``: read a word list (default: the bundled names) or, with
        ``unit="word"``, a corpus of one sentence a line; split it (``"shuffled"``: 80/10/10
        by line with ``random.Random(seed)``; ``"ordered:TRAIN,DEV"``: file order, by
        tokens) and record it. ``min_count``: words seen fewer times in train are
        ``<unk>``. The same content under the same name again is a no-op; other content
        under an existing name is refused."""
        return self.prepare_result(
            path, name, seed, unit=unit, min_count=min_count, split=split
        ).dataset

    def prepare_result(
        self,
        path: str | Path | None = None,
        name: str | None = None,
        seed: int = DEFAULT_SEED,
        *,
        unit: str = "char",
        min_count: int = 1,
        split: str = "shuffled",
    ) -> Prepared:
        """``prepare`` as the stage's result: the dataset, ``created`` (False: the same
        content was there already, nothing written), and per split its examples, tokens
        and ``<unk>`` rate. What ``ngramlm prepare`` prints. The file is read and checked
        before the store is opened."""
        from ngramlm.stages.prepare import load, record

        words = load(
            Path(path) if path is not None else None,
            name,
            seed,
            unit=unit,
            min_count=min_count,
            split=split,
        )
        return record(self.store, words)

    def datasets(self) -> list[DatasetRecord]:
        """Every dataset in the store, oldest first."""
        return self.store.datasets()

    def words(self, dataset: str | DatasetRecord, split: str = "train") -> list[str]:
        """A dataset's train or dev words in split order. The test split is locked:
        only ``finalize`` evaluates on it, and no function returns its words."""
        if split not in ("train", "dev"):
            raise InputError(
                f"split {split!r}: words() gives 'train' or 'dev'; the test split is locked "
                "(finalize(run) evaluates a finished run on it, once)"
            )
        return self.store.words(self.dataset(dataset).id, split)

    def run(self, run: RunRef) -> RunRecord:
        """One run, by id, record (read again) or ``"last"`` (the newest training run)."""
        return self.store.run(self.run_id(run))

    def runs(
        self,
        dataset: str | DatasetRecord | None = None,
        sweep: SweepRef | None = None,
        status: str | None = None,
        kind: str | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first, filtered like ``ngramlm report``: by dataset name, sweep,
        status (``running``, ``finished``, ``failed``, ``killed``, ``crashed``: a
        running run with a stale heartbeat) and kind (``train`` or ``lr_find``)."""
        if status is not None and status not in STATUSES:
            raise InputError(f"--status must be one of {', '.join(STATUSES)}, got {status!r}")
        if kind is not None and kind not in KINDS:
            raise InputError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if isinstance(dataset, str):
            check_name(dataset)
        if sweep is not None:
            sid = self.sweep_id(sweep)
            self.store.sweep(sid)  # an unknown sweep is refused by name
            found = sorted(self.store.sweep_runs(sid), key=lambda r: -r.id)
        else:
            found = self.store.runs()
        if dataset is not None:
            ds = self.dataset(dataset)
            found = [r for r in found if r.dataset_id == ds.id]
        return [
            r
            for r in found
            if (kind is None or r.kind == kind) and (status is None or r.status == status)
        ]

    def report_rows(
        self,
        dataset: str | DatasetRecord | None = None,
        sweep: SweepRef | None = None,
        status: str | None = None,
        kind: str | None = None,
        *,
        sort: str = "id",
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """The rows of ``ngramlm report --json/--csv`` (fields ``report.FIELDS``) for the
        runs ``runs`` selects; ``sort`` is ``dev``, ``train``, ``id`` or ``time``."""
        if sort not in SORTS:
            raise InputError(f"--sort must be one of {', '.join(SORTS)}, got {sort!r}")
        if limit is not None and limit < 1:
            raise InputError(f"--limit must be at least 1, got {limit}")
        selected = self.runs(dataset, sweep, status, kind)
        return rows(selected, self.store.evaluations(), sort=sort, limit=limit)

    def report_page(self, dataset: str | None, limit: int) -> RunTable:
        """``ngramlm report``'s default table: the newest ``limit`` runs, read alone (a
        store of 10,000 runs reports as fast as a small one), with their sweeps'
        members for the best-in-sweep mark; ``total``: the runs of the dataset (or all)."""
        from ngramlm.stages.report import best_per_sweep

        s = self.store
        ds_id = s.dataset(dataset).id if dataset is not None else None
        runs = s.runs(dataset_id=ds_id, limit=limit)
        sweeps = sorted({r.sweep_id for r in runs if r.sweep_id is not None})
        best = best_per_sweep([m for sid in sweeps for m in s.sweep_runs(sid)])
        found = rows(runs, s.evaluations(), best=best)
        return RunTable(runs, found, s.count_runs(dataset_id=ds_id))

    def report_table(
        self,
        dataset: str | None = None,
        *,
        status: str | None = None,
        sort: str = "id",
        limit: int | None = None,
    ) -> RunTable:
        """Every run of the dataset (or all) as report rows, filtered by ``status``,
        sorted and cut at ``limit``; ``total``: the rows kept."""
        runs = self.runs(dataset)
        found = rows(runs, self.store.evaluations(), status=status, sort=sort, limit=limit)
        return RunTable(runs, found, len(found))

    def test_evaluations_spent(self) -> dict[str, int]:
        """How many test evaluations each dataset has had (its name: a count)."""
        return self.store.test_evaluations_spent()

    def compare(self, dataset: str | None = None, limit: int | None = None) -> Comparison:
        """``report --compare``: a dataset's finished training runs as Bengio et al.
        2003's Table 1, count baselines first, then networks by dev loss (refused for a
        store of several datasets without ``dataset``)."""
        from ngramlm.stages.report import compare_rows

        s = self.store
        ds_id = self.dataset(dataset).id if dataset is not None else None
        runs = [r for r in s.runs(dataset_id=ds_id, kind="train") if r.status == "finished"]
        names = sorted({r.dataset for r in runs})
        if len(names) > 1:
            raise InputError(
                f"--compare compares the models of one dataset; this store has "
                f"{', '.join(names)}: add --dataset NAME"
            )
        models = compare_rows(runs, s.evaluations())[:limit]
        unit = s.dataset(names[0]).unit if names else "char"
        return Comparison(names[0] if names else None, unit, models)

    def sweep_report(
        self,
        sweep: SweepRef,
        *,
        status: str | None = None,
        sort: str = "id",
        limit: int | None = None,
    ) -> SweepReport:
        """``report --sweep``: a sweep's runs as rows and its dev losses as a grid over
        its first two swept keys (lr first when swept), seeds averaged."""
        from ngramlm.stages.report import sweep_grid

        sw = sweep if isinstance(sweep, SweepRecord) else self.sweep_record(sweep)
        runs = self.store.sweep_runs(sw.id)
        found = rows(runs, self.store.evaluations(), status=status, sort=sort, limit=limit)
        return SweepReport(sw, runs, found, sweep_grid(sw, runs))

    def runs_frame(
        self,
        dataset: str | DatasetRecord | None = None,
        sweep: SweepRef | None = None,
        status: str | None = None,
        kind: str | None = None,
        *,
        sort: str = "id",
        limit: int | None = None,
    ) -> pd.DataFrame:
        """``report_rows`` as a pandas DataFrame whose columns are exactly ``report
        --csv``'s. Needs pandas: ``pip install 'ngramlm[pandas]'``."""
        pd = pandas_module()
        data = self.report_rows(dataset, sweep, status, kind, sort=sort, limit=limit)
        return pd.DataFrame(data, columns=list(FIELDS))

    def curve(self, run: RunRef) -> list[MetricRecord]:
        """The run's curve: a point per evaluation (step, elapsed_s, lr, batch_loss,
        train_loss, dev_loss; an lr-find run has (lr, batch_loss) per step)."""
        return self.store.metrics(self.run_id(run))

    def curve_frame(self, run: RunRef) -> pd.DataFrame:
        """``curve`` as a DataFrame (columns ``CURVE_FIELDS``). Needs pandas."""
        pd = pandas_module()
        points = self.curve(run)
        return pd.DataFrame(
            [[getattr(p, f) for f in CURVE_FIELDS] for p in points], columns=list(CURVE_FIELDS)
        )

    def evaluation(self, run: RunRef) -> EvaluationRecord | None:
        """The run's recorded test evaluation, if it was finalized (reads nothing of the
        test split)."""
        return self.store.evaluation(self.run_id(run))

    def sweep_status(self, sweep: SweepRef) -> SweepStatus:
        """A sweep and its runs now (what ``run_sweep`` returns at its end)."""
        from ngramlm.stages import sweep as core

        return core.status(self.store, self.sweep_id(sweep))

    def search_trials(self, sweep: SweepRef) -> list[dict[str, Any]]:
        """A search's trials in the order they started: run, status, dev loss (a pruned
        trial's where it stopped), its parameters, ``minutes`` from the search's start to
        its end, ``best_so_far``."""
        from ngramlm.stages import search as core

        sw = self._search(sweep)
        return core.trial_rows(sw, self.store.sweep_runs(sw.id), self.store.sweep_curves(sw.id))

    def search_frame(self, sweep: SweepRef) -> pd.DataFrame:
        """``search_trials`` as a DataFrame. Needs pandas."""
        return pandas_module().DataFrame(self.search_trials(sweep))

    def search_importance(self, sweep: SweepRef) -> dict[str, float]:
        """Each searched parameter's importance for the dev loss (Optuna's evaluator over
        the finished trials; empty with fewer than two)."""
        from ngramlm.stages import search as core

        sw = self._search(sweep)
        return core.importance(sw, self.store.sweep_runs(sw.id), self.store.sweep_curves(sw.id))
