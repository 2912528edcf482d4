"""``Experiments``' figures: matplotlib ``Figure``s drawn by ``ngramlm.plots`` from store
records (``ngramlm plot``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ngramlm.api.handle import Handle, RunRef, SweepRef
from ngramlm.api.reports import search_edges, search_trials
from ngramlm.api.trained import embeddings
from ngramlm.errors import InputError
from ngramlm.measure import measure

if TYPE_CHECKING:
    from ngramlm.plots import Figure
    from ngramlm.store.records import RunRecord


def plot_curves(h: Handle, *runs: RunRef, log_x: bool = False, x: str = "step") -> Figure:
    """Train (dashed) and dev (solid) loss against step, log y axis, the runs
    overlaid (a count model's losses are labelled lines beside the networks):
    ``ngramlm plot curves``. ``x="fraction"`` aligns runs by the fraction of their
    steps; ``log_x`` puts the step axis on a log scale."""
    from ngramlm import plots

    if not runs:
        raise InputError("plot_curves needs at least one run")
    ids = list(dict.fromkeys(h.run_id(r) for r in runs))  # in order, each once
    series = [(h.store.run(i), h.store.metrics(i)) for i in ids]
    units = {h.store.dataset(r.dataset).unit for r, _ in series}
    m = measure(units.pop() if len(units) == 1 else "char")  # mixed units: nats
    return plots.curves_figure(series, log_x=log_x, x=x, m=m)


def plot_lr_find(h: Handle, run: RunRef) -> Figure:
    """An lr-find run's loss against the learning rate, smoothed, with the suggested
    rate: ``ngramlm plot lr-find``."""
    from ngramlm import plots

    rid = h.run_id(run)
    return plots.lr_find_figure(h.store.run(rid), h.store.metrics(rid))


def plot_embeddings(h: Handle, run: RunRef) -> Figure:
    """A network's character embeddings in 2-D (PCA when n_embd > 2), each point its
    character: ``ngramlm plot embeddings``."""
    from ngramlm import plots

    rid = h.run_id(run)
    return plots.embeddings_figure(h.store.run(rid), *embeddings(h, rid))


def plot_search(h: Handle, sweep: SweepRef) -> Figure:
    """A search's best dev loss against wall time and its dev loss against each
    parameter, beside the dataset's best count model (a labelled line, when it has
    one), and a range whose end its best trials crowd against marked with the wider
    range to try (``search_edges``): ``ngramlm plot search``."""
    from ngramlm import plots

    sw = h.search_record(sweep)
    edges = {e.key: (e.value, e.wider) for e in search_edges(h, sw)}
    m = measure(h.store.dataset(sw.dataset).unit)
    return plots.search_figure(
        sw, search_trials(h, sw), count_model=_count_model(h, sw.dataset_id), edges=edges, m=m
    )


def plot_sweep(h: Handle, sweep: SweepRef) -> Figure:
    """A sweep's dev loss against its swept value, a line per value of the other
    grid key, beside the dataset's best count model (a labelled line, when it has
    one): ``ngramlm plot sweep``."""
    from ngramlm import plots

    sw = h.store.sweep(h.sweep_id(sweep))
    runs = h.store.sweep_runs(sw.id)
    return plots.sweep_figure(sw, runs, _count_model(h, sw.dataset_id))


def _count_model(h: Handle, dataset_id: int) -> RunRecord | None:
    """The dataset's best count model by dev loss (``stages.report.best_count_model``)."""
    from ngramlm.stages.report import best_count_model

    return best_count_model(h.store.runs(dataset_id=dataset_id, kind="train"))
