"""Sweeps and searches: written whole before training (``stages/grid.py``,
``stages/search.py``), then trained by workers (``stages/sweep.py``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ngramlm.api.base import (
    POLL_S,
    SweepRef,
    check_threads,
    check_workers,
    forward_signals,
)
from ngramlm.api.training import Training
from ngramlm.errors import InputError
from ngramlm.store.records import DatasetRecord, SweepRecord

if TYPE_CHECKING:
    from ngramlm.config import RunConfig
    from ngramlm.runtime import SweepPlan
    from ngramlm.stages.sweep import SweepStatus


class Sweeps(Training):
    """Grids of runs and searches over a space, with local workers."""

    def create_sweep(
        self,
        dataset: str | DatasetRecord | None = None,
        *,
        lr_grid: str | Sequence[float] | None = None,
        grid: Mapping[str, Sequence[Any]] | Sequence[str] | None = None,
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
        from ngramlm.stages import grid as grids
        from ngramlm.stages import sweep as core
        from ngramlm.stages.plan import plan_run

        if lr_grid is None and not grid:
            raise InputError("give --lr-grid (e.g. 0.01,0.1,1) and/or --grid KEY=V1,V2")
        if isinstance(lr_grid, str):
            lrs = grids.parse_lr_grid(lr_grid)
        else:
            lrs = grids.lr_values(lr_grid) if lr_grid is not None else []
        points: list[Any] = []  # (lrs, grid) once checked against the resolved config

        def check(base: RunConfig) -> None:
            if isinstance(grid, Mapping):
                parsed = grids.grid_of(grid, base)  # data stays data
            else:  # the CLI's text
                items = [grid] if isinstance(grid, str) else list(grid or [])
                parsed = grids.parse_grid(items, base)
            rates = lrs
            if "lr" in parsed:
                if rates:
                    raise InputError(
                        "give the learning rates with --lr-grid or --grid lr=..., not both"
                    )
                rates = parsed.pop("lr")
            if not rates and base.train is not None:
                rates = [base.train.lr]
            grids.expand(base, rates, parsed, seeds)  # refuse bad grids before writing
            points[:] = [rates, parsed]

        plan = plan_run(
            lambda: self.store,
            dataset,
            model=model,
            preset=preset,
            threads=1,
            overrides=overrides,
            check=check,
        )
        rates, parsed = points
        return core.create(self.store, plan.dataset, plan.config, rates, parsed, seeds, name)

    def sweep_plan(
        self,
        sweep: SweepRef,
        *,
        workers: int | None = None,
        threads: int | None = None,
        resume: bool = False,
    ) -> SweepPlan:
        """The workers, threads per worker and batched points a worker takes that
        ``run_sweep`` would use for the points left (``workers``/``threads``: the user's;
        the rest as ``ngramlm.runtime`` decides)."""
        from ngramlm.stages import sweep as core

        check_workers(workers)
        check_threads(threads)
        sid = self.sweep_id(sweep)
        self.store.sweep(sid)  # refuse an unknown sweep by name
        return core.plan(self.store, sid, resume=resume, workers=workers, threads=threads)

    def run_sweep(
        self,
        sweep: SweepRef,
        *,
        workers: int | None = None,
        threads: int | None = None,
        resume: bool = False,
        on_poll: Callable[[SweepStatus], None] | None = None,
    ) -> SweepStatus:
        """Train a sweep's open points (``ngramlm sweep --join``; ``resume=True``: also
        its killed and crashed points, as ``--resume``) with ``workers`` local
        processes of ``threads`` torch threads each (default: ``sweep_plan``'s, one
        single-threaded worker a usable core, at most one a point), or in this process
        when ``workers`` is 0. Workers are processes of their own: a script without an
        ``if __name__ == "__main__"`` guard is not run again, and they stop when this
        process dies. ``on_poll`` is called with the sweep's status while they run.
        Ctrl-C stops every worker cleanly (its points ``killed``). A worker that dies
        has its points marked crashed, and ``WorkersDied`` (an ``NgramlmError``) says
        how many points are left. Returns the sweep's status at the end."""
        from ngramlm.stages import sweep as core

        plan = self.sweep_plan(sweep, workers=workers, threads=threads, resume=resume)
        sid = self.sweep_id(sweep)
        if workers == 0:
            from ngramlm.runtime import torch_threads
            from ngramlm.stages.run import stop_on_signals

            with torch_threads(plan.threads), stop_on_signals() as stop:
                core.work(self.store, sid, resume=resume, stop=stop, batch_size=plan.batch_size)
            return core.status(self.store, sid)
        procs = core.start_workers(self.url, sid, plan, resume)
        with forward_signals(procs):
            return core.supervise(self.store, sid, procs, on_poll, POLL_S)

    def sweep(
        self,
        dataset: str | DatasetRecord | None = None,
        *,
        lr_grid: str | Sequence[float] | None = None,
        grid: Mapping[str, Sequence[Any]] | Sequence[str] | None = None,
        seeds: int = 1,
        workers: int | None = None,
        threads: int | None = None,
        model: str | None = None,
        preset: str | None = None,
        name: str | None = None,
        **overrides: Any,
    ) -> SweepRecord:
        """``ngramlm sweep``: ``create_sweep`` then ``run_sweep``; every point is an
        ordinary run of the sweep (``runs(sweep=...)``). ``workers`` and ``threads``
        as ``run_sweep``'s."""
        check_workers(workers)
        check_threads(threads)
        record = self.create_sweep(
            dataset,
            lr_grid=lr_grid,
            grid=grid,
            seeds=seeds,
            model=model,
            preset=preset,
            name=name,
            **overrides,
        )
        self.run_sweep(record, workers=workers, threads=threads)
        return self.store.sweep(record.id)

    def create_search(
        self,
        dataset: str | DatasetRecord | None = None,
        *,
        search: str = "tpe",
        space: Sequence[str] | Mapping[str, str] | None = None,
        trials: int | None = None,
        budget: str | None = None,
        prune: str | None = None,
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
        (``"30m"``); ``prune="halving"``: successive halving at 1/9 and 1/3 of the steps.
        Bad input is refused before anything is written."""
        from ngramlm.models import options
        from ngramlm.stages import search as core
        from ngramlm.stages.plan import plan_run
        from ngramlm.stages.space import Dim, parse_budget, parse_space

        if budget is not None and not isinstance(budget, str):
            raise InputError(f"--budget {budget!r} is not a duration; give e.g. 90s, 30m or 2h")
        budget_s = parse_budget(budget) if budget is not None else None
        items = [f"{k}={v}" for k, v in space.items()] if isinstance(space, Mapping) else space
        if not items:  # the family's default space for the dataset's unit (read, not written)
            fam, _, _ = options(model, preset, overrides)
            unit = self.dataset(dataset).unit if dataset is not None else "char"
            default_preset, defaults = fam.search_space(unit)
            fixed = set(overrides) | ({"epochs"} if "steps" in overrides else set())
            items = [f"{k}={v}" for k, v in defaults.items() if k not in fixed]
            if model is None and preset is None:
                preset = default_preset
        dims: dict[str, Dim] = {}

        def check(base: RunConfig) -> None:
            dims.update(parse_space(list(items), base))
            if "epochs" in dims and "steps" in overrides:
                raise InputError(
                    "--space epochs=... sets each trial's steps; drop --steps (or the space "
                    "over epochs)"
                )
            core.check(base, dims, search, trials, budget_s, prune)

        plan = plan_run(
            lambda: self.store,
            dataset,
            model=model,
            preset=preset,
            threads=1,
            overrides=overrides,
            check=check,
        )
        return core.create(
            self.store,
            plan.dataset,
            plan.config,
            dims,
            sampler=search,
            trials=trials,
            budget_s=budget_s,
            prune=prune,
            seed=seed,
            name=name,
        )

    def search(
        self,
        dataset: str | DatasetRecord | None = None,
        *,
        search: str = "tpe",
        space: Sequence[str] | Mapping[str, str] | None = None,
        trials: int | None = None,
        budget: str | None = None,
        prune: str | None = None,
        workers: int | None = None,
        seed: int = 0,
        model: str | None = None,
        preset: str | None = None,
        name: str | None = None,
        **overrides: Any,
    ) -> SweepRecord:
        """``ngramlm sweep --search``: ``create_search`` then ``run_sweep`` (which also
        continues a search: ``resume=True`` after a kill, or from another machine on a
        PostgreSQL store). Every trial is an ordinary run of the sweep;
        ``search_trials``/``search_frame`` list them. ``workers``: as ``sweep``'s (default:
        one single-threaded worker a usable core)."""
        check_workers(workers)
        record = self.create_search(
            dataset,
            search=search,
            space=space,
            trials=trials,
            budget=budget,
            prune=prune,
            seed=seed,
            model=model,
            preset=preset,
            name=name,
            **overrides,
        )
        self.run_sweep(record, workers=workers)
        return self.store.sweep(record.id)
