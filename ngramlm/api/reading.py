"""Reading the store: datasets, runs, curves, evaluations and report rows, as records
or DataFrames."""

from __future__ import annotations

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
from ngramlm.store.records import DatasetRecord, EvaluationRecord, MetricRecord, RunRecord

if TYPE_CHECKING:
    import pandas as pd

    from ngramlm.stages.sweep import SweepStatus


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
        from ngramlm.stages.prepare import load, record

        words = load(
            Path(path) if path is not None else None,
            name,
            seed,
            unit=unit,
            min_count=min_count,
            split=split,
        )
        return record(self.store, words).dataset

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
