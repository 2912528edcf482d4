"""``Experiments``' report methods: ``ngramlm report``'s rows and tables, ``--compare``, a
sweep's grid, one run in depth, a search's trials. Each validates its arguments and makes
one call to the report stage (``stages/tables.py``, ``stages/study.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ngramlm.api.handle import DatasetRef, Handle, RunRef, SweepRef, pandas_module
from ngramlm.api.reading import check_selection, runs
from ngramlm.errors import InputError
from ngramlm.stages.report import FIELDS, SORTS
from ngramlm.stages.tables import Comparison as Comparison
from ngramlm.stages.tables import RunReport as RunReport
from ngramlm.stages.tables import RunTable as RunTable
from ngramlm.stages.tables import SweepReport as SweepReport

if TYPE_CHECKING:
    import pandas as pd

    from ngramlm.stages.edges import Edge


def check_order(sort: str, limit: int | None) -> None:
    """A report's ``sort`` (dev, train, id or time) and ``limit`` (at least 1)."""
    if sort not in SORTS:
        raise InputError(f"--sort must be one of {', '.join(SORTS)}, got {sort!r}")
    if limit is not None and (isinstance(limit, bool) or limit < 1):
        raise InputError(f"--limit must be at least 1, got {limit}")


def report_rows(
    h: Handle,
    dataset: DatasetRef | None = None,
    sweep: SweepRef | None = None,
    status: str | None = None,
    kind: str | None = None,
    *,
    sort: str = "id",
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The rows of ``ngramlm report --json/--csv`` (fields ``report.FIELDS``) for the
    runs ``runs`` selects; ``sort`` is ``dev``, ``train``, ``id`` or ``time``."""
    from ngramlm.stages.tables import rows_of

    check_order(sort, limit)
    return rows_of(h.store, runs(h, dataset, sweep, status, kind), sort=sort, limit=limit)


# runs_frame repeats report_rows' arguments: a typed, documented signature of its own.


def runs_frame(
    h: Handle,
    dataset: DatasetRef | None = None,
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
    found = report_rows(h, dataset, sweep, status, kind, sort=sort, limit=limit)
    return pd.DataFrame(found, columns=list(FIELDS))


def report_page(h: Handle, dataset: str | None, limit: int) -> RunTable:
    """``ngramlm report``'s default table: the newest ``limit`` runs, read alone (a store
    of 10,000 runs reports as fast as a small one), with their sweeps' members for the
    best-in-sweep mark; ``total``: the runs of the dataset (or all)."""
    from ngramlm.stages.tables import page

    check_selection(dataset, None, None)
    check_order("id", limit)
    return page(h.store, dataset, limit)


def report_table(
    h: Handle,
    dataset: str | None = None,
    *,
    status: str | None = None,
    sort: str = "id",
    limit: int | None = None,
) -> RunTable:
    """Every run of the dataset (or all) as report rows, filtered by ``status``, sorted
    and cut at ``limit``; ``total``: the rows kept."""
    from ngramlm.stages.tables import table

    check_selection(dataset, status, None)
    check_order(sort, limit)
    ds = h.dataset(dataset) if dataset is not None else None
    return table(h.store, ds, status=status, sort=sort, limit=limit)


def compare(h: Handle, dataset: str | None = None, limit: int | None = None) -> Comparison:
    """``report --compare``: a dataset's finished training runs as Bengio et al.
    2003's Table 1, count baselines first, then networks by dev loss (refused for a
    store of several datasets without ``dataset``)."""
    from ngramlm.stages.tables import compare as compared

    check_selection(dataset, None, None)
    check_order("id", limit)
    return compared(h.store, h.dataset(dataset) if dataset is not None else None, limit)


def sweep_report(
    h: Handle,
    sweep: SweepRef,
    *,
    status: str | None = None,
    sort: str = "id",
    limit: int | None = None,
) -> SweepReport:
    """``report --sweep``: a sweep's runs as rows and its dev losses as a grid over
    its first two swept keys (lr first when swept), seeds averaged."""
    from ngramlm.stages.tables import sweep_report as reported

    check_selection(None, status, None)
    check_order(sort, limit)
    return reported(h.store, h.sweep_record(sweep), status=status, sort=sort, limit=limit)


def run_report(h: Handle, run: RunRef) -> RunReport:
    """``ngramlm report RUN``'s content (see ``RunReport``): the checkpoint is read
    once, for its figures, its samples and its neighbours alike."""
    from ngramlm.stages.tables import run_report as reported

    return reported(h.store, h.run_id(run))


def search_trials(h: Handle, sweep: SweepRef) -> list[dict[str, Any]]:
    """A search's trials in the order they started: run, status, dev loss (a pruned
    trial's where it stopped), its parameters, ``minutes`` from the search's start to
    its end, ``best_so_far``, and a failed trial's ``error`` (why it failed)."""
    from ngramlm.stages.study import trials

    return trials(h.store, h.search_record(sweep))


def search_rungs(h: Handle, sweep: SweepRef) -> list[float]:
    """Where a pruning search compares its trials, as fractions of each trial's steps
    (``--prune halving``: a trial outside the best third there stops, ``pruned``); empty
    for a search that does not prune."""
    from ngramlm.stages.halving import RUNG_FRACTIONS

    sw = h.search_record(sweep)
    return list(RUNG_FRACTIONS) if sw.spec["search"].get("prune") else []


def search_edges(h: Handle, sweep: SweepRef) -> list[Edge]:
    """The ranges of a search's space whose end its best trials (the best quarter of the
    finished ones) crowd within 10% of, each with a wider range to try (``Edge.wider``,
    a ``--space`` item); empty below four finished trials."""
    from ngramlm.stages.edges import edges
    from ngramlm.stages.space import space_of
    from ngramlm.stages.study import trials

    sw = h.search_record(sweep)
    return edges(space_of(sw)[1], trials(h.store, sw))


def search_frame(h: Handle, sweep: SweepRef) -> pd.DataFrame:
    """``search_trials`` as a DataFrame. Needs pandas."""
    return pandas_module().DataFrame(search_trials(h, sweep))


def search_importance(h: Handle, sweep: SweepRef) -> dict[str, float]:
    """Each searched parameter's importance for the dev loss (Optuna's evaluator over
    the finished trials; empty with fewer than two)."""
    from ngramlm.stages.study import importances

    return importances(h.store, h.search_record(sweep))
