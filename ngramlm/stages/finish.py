"""A search's last step: its best network mixed with the dataset's best count model.

Bengio et al. (2003) found the network and a smoothed n-gram err differently, so their
mixture beats both (on Brown: 0.776x of the best count model where the network alone is
0.856x). A search ends there by default: once its trials are spent, the best finished
trial is mixed with the dataset's best count model (the lowest dev loss among its count
runs; when it has none, ``REFERENCE_COUNT`` is fitted at the orders ``reference_orders``
gives, lowest first, until dev stops improving), λ chosen on dev. The count model and
the mixture are ordinary runs of the dataset; the mixture names the search by its
network part (``mix``'s first run is a trial of the search), so nothing in the search's
trials changes and a search resumed after a kill mixes once, at its end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ngramlm.models import (
    MIXTURE_FAMILY,
    REFERENCE_COUNT,
    CountFamily,
    config_from_dict,
    family_of,
    reference_orders,
)
from ngramlm.stages.budget import interrupted
from ngramlm.stages.report import best_by_dev, best_count_model
from ngramlm.store import Store
from ngramlm.store.records import DatasetRecord, RunRecord, SweepRecord

Say = Callable[[str], None]


@dataclass(frozen=True)
class SearchModels:
    """What a search ends with: its best network (a finished trial), the dataset's count
    model it was mixed with, and their mixture (None where not made, or not yet)."""

    network: RunRecord | None
    count: RunRecord | None
    mixture: RunRecord | None

    @property
    def best(self) -> RunRecord | None:
        """The one of the three with the lowest dev loss: the run to finalize."""
        return best_by_dev(r for r in (self.network, self.count, self.mixture) if r)

    def ids(self) -> dict[str, int | None]:
        """The runs' ids by role (``report --sweep --json``'s ``models``)."""
        rs = {"network": self.network, "count": self.count, "mixture": self.mixture}
        return {k: r.id if r else None for k, r in {**rs, "best": self.best}.items()}


def _finished(r: RunRecord) -> bool:
    return r.status == "finished" and r.dev_loss is not None


def mixes(sweep: SweepRecord) -> bool:
    """Whether the search ends in a mixture (``--no-mix`` turns it off; searches written
    before there was one do not)."""
    return bool(sweep.spec.get("search", {}).get("mix", False))


def search_models(store: Store, sweep: SweepRecord) -> SearchModels:
    """The search's best trial, and the mixture made of one of its trials (the newest
    finished one) with the count model it took; before a mixture, the dataset's best
    count model."""
    return _models(store, store.sweep_runs(sweep.id), sweep.dataset_id)


def _models(store: Store, trials: Sequence[RunRecord], dataset_id: int) -> SearchModels:
    """``search_models`` of the search's ``trials``, read once by the caller."""
    ids = {r.id for r in trials}
    runs = store.runs(dataset_id=dataset_id, kind="train")  # newest first
    for r in runs:
        mix = _mix_of(r)
        if mix is not None and mix[0] in ids and _finished(r):
            return SearchModels(store.run(mix[0]), store.run(mix[1]), r)
    return SearchModels(best_by_dev(trials), best_count_model(runs), None)


def _mix_of(r: RunRecord) -> Sequence[int] | None:
    if r.model != MIXTURE_FAMILY:
        return None
    cfg = config_from_dict(r.config)
    fam = family_of(cfg)
    return fam.components(cfg) if isinstance(fam, CountFamily) else None


def fit_reference(store: Store, dataset: DatasetRecord, say: Say) -> RunRecord | None:
    """``REFERENCE_COUNT`` fitted at each of ``reference_orders``, lowest first, until dev
    stops improving; the best one (None if none finished: a stop, say)."""
    from ngramlm.stages.plan import plan_run
    from ngramlm.stages.session import train_plan

    best: RunRecord | None = None
    for n in reference_orders(dataset.unit):
        plan = plan_run(store, dataset, model=REFERENCE_COUNT, overrides={"order": n})
        run = train_plan(store, plan, name=f"{REFERENCE_COUNT} {n}-gram (for a mixture)").run
        if not _finished(run):
            break
        say(f"  {REFERENCE_COUNT} {n}-gram: run {run.id}, dev {run.dev_loss:.4f}")
        if best is not None and (run.dev_loss or math.inf) >= (best.dev_loss or math.inf):
            break
        best = run
    return best


def finish(store: Store, sweep_id: int, say: Say = lambda _: None) -> SearchModels | None:
    """Mix a spent search's best trial with the dataset's best count model (fitted when
    absent), once: None where the search does not mix, has no finished trial, or was
    stopped before its end by a signal (its killed trials resume first)."""
    sweep = store.sweep(sweep_id)
    if not mixes(sweep):
        return None
    runs = store.sweep_runs(sweep.id)
    # (a trial its budget stopped is killed too, and the search is at its end)
    if any(r.status == "running" or interrupted(r) for r in runs):
        return None
    found = _models(store, runs, sweep.dataset_id)
    if found.mixture is not None or found.network is None:
        return found if found.mixture is not None else None
    dataset = store.dataset_by_id(sweep.dataset_id)
    count = found.count
    if count is None:
        say(f"the search's best trial, run {found.network.id}, is mixed with a count model "
            f"fitted now: {REFERENCE_COUNT} at the order dev prefers")  # fmt: skip
        count = fit_reference(store, dataset, say)
        if count is None:
            return None
    from ngramlm.stages.plan import plan_run
    from ngramlm.stages.session import train_plan

    mix = (found.network.id, count.id)
    plan = plan_run(store, dataset, model=MIXTURE_FAMILY, overrides={"mix": mix})
    mixture = train_plan(store, plan, name=f"search {sweep.id}: mixture").run
    return SearchModels(found.network, count, mixture if _finished(mixture) else None)
