"""``Experiments``' sweep methods: grids and searches written whole before training
(``stages/sweep.py``, ``stages/search.py``), each resolved once into a ``SweepPlan``
that its workers train as it is (``stages/supervise.py``). Each method checks its
options and makes one call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ngramlm.api.handle import DatasetRef, Handle, SweepRef, check_threads
from ngramlm.store.records import SweepRecord

if TYPE_CHECKING:
    from ngramlm.stages.finish import SearchModels
    from ngramlm.stages.sweep import SweepPlan, SweepStatus, SweepWatch

Grid = Mapping[str, Sequence[Any]] | Sequence[str] | None
Space = Sequence[str] | Mapping[str, str] | None


def check_counts(workers: int | None, threads: int | None) -> None:
    """``workers`` (0: this process, up to 256) and ``threads`` (1 to 1024), checked once."""
    from ngramlm.stages.sweep import check_workers

    check_workers(workers)
    check_threads(threads)


# create_sweep and sweep (create_search and search) repeat their arguments: each is a
# typed, documented signature a user calls, the one writing only, the other training too.


def create_sweep(
    h: Handle,
    dataset: DatasetRef | None = None,
    *,
    lr_grid: str | Sequence[float] | None = None,
    grid: Grid = None,
    seeds: int = 1,
    model: str | None = None,
    preset: str | None = None,
    name: str | None = None,
    **overrides: Any,
) -> SweepRecord:
    """Write a sweep and all its points (lr x grid x seed replicates), training
    nothing. ``lr_grid``: ``"0.01,0.1,1"``, ``"1e-3:1:7"`` or a list of floats;
    ``grid``: ``{"n_hidden": [100, 200]}`` or ``["n_hidden=100,200"]``. Bad grids
    are refused before anything is written."""
    from ngramlm.stages.plan import Asked
    from ngramlm.stages.sweep import GridRequest, create_grid

    asked = GridRequest(lr_grid, grid, seeds, Asked(model, preset, name, overrides))
    return create_grid(h.opener, h.dataset_arg(dataset), asked).sweep


def sweep_plan(
    h: Handle,
    sweep: SweepRef,
    *,
    workers: int | None = None,
    threads: int | None = None,
    resume: bool = False,
) -> SweepPlan:
    """The plan ``run_sweep`` would train the points left with: the sweep's setup
    (its device resolved), the workers, threads per worker and batched points a
    worker takes (``workers``/``threads``: the user's; the rest as
    ``ngramlm.runtime`` decides)."""
    from ngramlm.stages.sweep import plan

    check_counts(workers, threads)
    return plan(h.store, h.sweep_id(sweep), resume=resume, workers=workers, threads=threads)


def run_sweep(
    h: Handle,
    sweep: SweepRef,
    *,
    workers: int | None = None,
    threads: int | None = None,
    resume: bool = False,
    watch: SweepWatch | None = None,
) -> SweepStatus:
    """Train a sweep's open points (``ngramlm sweep --join``; ``resume=True``: also
    its killed and crashed points, as ``--resume``) with ``workers`` local
    processes of ``threads`` torch threads each (default: ``sweep_plan``'s, one
    single-threaded worker a usable core, at most one a point), or in this process
    when ``workers`` is 0. Workers are processes of their own: a script without an
    ``if __name__ == "__main__"`` guard is not run again, and they stop when this
    process dies. ``watch`` (a ``SweepWatch``) is told the plan, then the sweep's
    status while they run. Ctrl-C stops every worker cleanly (its points
    ``killed``). A worker that dies has its points marked crashed, and
    ``WorkersDied`` (an ``NgramlmError``) says how many points are left. Returns the
    sweep's status at the end."""
    from ngramlm.stages.finish import finish
    from ngramlm.stages.supervise import run
    from ngramlm.stages.sweep import SweepWatch

    plan = sweep_plan(h, sweep, workers=workers, threads=threads, resume=resume)
    final = run(h.store, h.url, plan, watch)
    if resume and finish(h.store, plan.sweep.id, (watch or SweepWatch()).note) is not None:
        from ngramlm.stages.sweep import status

        return status(h.store, plan.sweep.id)
    return final


def sweep(
    h: Handle,
    dataset: DatasetRef | None = None,
    *,
    lr_grid: str | Sequence[float] | None = None,
    grid: Grid = None,
    seeds: int = 1,
    workers: int | None = None,
    threads: int | None = None,
    model: str | None = None,
    preset: str | None = None,
    name: str | None = None,
    watch: SweepWatch | None = None,
    **overrides: Any,
) -> SweepRecord:
    """``ngramlm sweep``: ``create_sweep`` then ``run_sweep``, resolved once (the
    sweep's device, workers and threads); every point is an ordinary run of the sweep
    (``runs(sweep=...)``). ``workers``, ``threads`` and ``watch`` as ``run_sweep``'s."""
    from ngramlm.stages.plan import Asked
    from ngramlm.stages.supervise import launch
    from ngramlm.stages.sweep import GridRequest, create_grid

    check_counts(workers, threads)
    asked = GridRequest(lr_grid, grid, seeds, Asked(model, preset, name, overrides))
    setup = create_grid(h.opener, h.dataset_arg(dataset), asked)
    return launch(h.store, h.url, setup, workers=workers, threads=threads, watch=watch)


def create_search(
    h: Handle,
    dataset: DatasetRef | None = None,
    *,
    search: str = "tpe",
    space: Space = None,
    trials: int | None = None,
    budget: str | None = None,
    prune: str | None = None,
    mix: bool = True,
    seed: int = 0,
    model: str | None = None,
    preset: str | None = None,
    name: str | None = None,
    **overrides: Any,
) -> SweepRecord:
    """Write a search (a sweep whose points its trials propose), training nothing.
    ``search``: ``tpe``, ``random`` or ``grid``; ``space``: ``["lr=1e-3:1e-1:log",
    "n_hidden=100,200"]`` or ``{"lr": "1e-3:1e-1:log"}``, None: the family's default
    for the dataset's unit (``docs/search.md``); ``trials`` and/or ``budget``
    (``"30m"``: no trial starts past it, running ones stop at their first evaluation
    past it, killed and resumable); ``prune="halving"``: successive halving at 1/9 and
    1/3 of the steps; ``mix``: end in the mixture of the best trial and the dataset's
    best count model (``search_models``). The sampler starts from the dataset's earlier
    trials in the space, and no configuration a run of the dataset trained is trained
    again. Bad input is refused before anything is written."""
    from ngramlm.stages.plan import Asked
    from ngramlm.stages.search import SearchRequest, create

    asked = SearchRequest(search, space, trials, budget, prune, seed,
                          Asked(model, preset, name, overrides), mix)  # fmt: skip
    return create(h.opener, h.dataset_arg(dataset), asked).sweep


def search(
    h: Handle,
    dataset: DatasetRef | None = None,
    *,
    search: str = "tpe",
    space: Space = None,
    trials: int | None = None,
    budget: str | None = None,
    prune: str | None = None,
    mix: bool = True,
    workers: int | None = None,
    threads: int | None = None,
    seed: int = 0,
    model: str | None = None,
    preset: str | None = None,
    name: str | None = None,
    watch: SweepWatch | None = None,
    **overrides: Any,
) -> SweepRecord:
    """``ngramlm sweep --search``: ``create_search`` then ``run_sweep``, resolved once
    (which also continues a search: ``run_sweep(resume=True)`` after a kill, or from
    another machine on a PostgreSQL store). Every trial is an ordinary run of the
    sweep; ``search_trials``/``search_frame`` list them. ``workers``, ``threads`` and
    ``watch``: as ``run_sweep``'s (default: one single-threaded worker a usable core).
    With ``mix`` (the default) the spent search's best trial is then mixed with the
    dataset's best count model (fitted when it has none: ``stages/finish.py``), λ on dev;
    ``search_models`` gives the three."""
    from ngramlm.stages.finish import finish
    from ngramlm.stages.plan import Asked
    from ngramlm.stages.search import SearchRequest, create
    from ngramlm.stages.supervise import launch
    from ngramlm.stages.sweep import SweepWatch

    check_counts(workers, threads)
    asked = SearchRequest(search, space, trials, budget, prune, seed,
                          Asked(model, preset, name, overrides), mix)  # fmt: skip
    setup = create(h.opener, h.dataset_arg(dataset), asked)
    launch(h.store, h.url, setup, workers=workers, threads=threads, watch=watch)
    finish(h.store, setup.sweep.id, (watch or SweepWatch()).note)
    return h.store.sweep(setup.sweep.id)


def search_models(h: Handle, sweep: SweepRef) -> SearchModels:
    """What a search ends with: its best trial (``network``), the count model it was
    mixed with (``count``: before a mixture, the dataset's best) and their mixture
    (``mixture``; None before the search's end, or with ``mix=False``); ``best`` is the
    one of them with the lowest dev loss, the run to finalize."""
    from ngramlm.stages.finish import search_models as found

    return found(h.store, h.store.sweep(h.sweep_id(sweep)))
