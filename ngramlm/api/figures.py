"""Figures: matplotlib ``Figure``s drawn by ``ngramlm.plots`` from store records."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ngramlm.api.base import RunRef, SweepRef
from ngramlm.api.sweeps import Sweeps
from ngramlm.errors import InputError

if TYPE_CHECKING:
    from ngramlm.plots import Figure


class Figures(Sweeps):
    """The CLI's ``ngramlm plot`` figures."""

    def plot_curves(self, *runs: RunRef, log_x: bool = False, x: str = "step") -> Figure:
        """Train (dashed) and dev (solid) loss against step, log y axis, the runs
        overlaid (a count model's losses are labelled lines beside the networks):
        ``ngramlm plot curves``. ``x="fraction"`` aligns runs by the fraction of their
        steps; ``log_x`` puts the step axis on a log scale."""
        from ngramlm import plots

        if not runs:
            raise InputError("plot_curves needs at least one run")
        ids = list(dict.fromkeys(self.run_id(r) for r in runs))  # in order, each once
        series = [(self.store.run(i), self.store.metrics(i)) for i in ids]
        return plots.curves_figure(series, log_x=log_x, x=x)

    def plot_lr_find(self, run: RunRef) -> Figure:
        """An lr-find run's loss against the learning rate, smoothed, with the suggested
        rate: ``ngramlm plot lr-find``."""
        from ngramlm import plots

        rid = self.run_id(run)
        return plots.lr_find_figure(self.store.run(rid), self.store.metrics(rid))

    def plot_embeddings(self, run: RunRef) -> Figure:
        """A network's character embeddings in 2-D (PCA when n_embd > 2), each point its
        character: ``ngramlm plot embeddings``."""
        from ngramlm import plots

        record = self.run(run)
        chars, C = self.embeddings(record)
        return plots.embeddings_figure(record, chars, C)

    def plot_search(self, sweep: SweepRef) -> Figure:
        """A search's best dev loss against wall time and its dev loss against each
        parameter: ``ngramlm plot search``."""
        from ngramlm import plots

        sw = self._search(sweep)
        return plots.search_figure(sw, self.search_trials(sw))

    def plot_sweep(self, sweep: SweepRef) -> Figure:
        """A sweep's dev loss against its swept value, a line per value of the other
        grid key: ``ngramlm plot sweep``."""
        from ngramlm import plots

        sid = self.sweep_id(sweep)
        return plots.sweep_figure(self.store.sweep(sid), self.store.sweep_runs(sid))
