"""Training: a run's plan and config, ``train``, ``resume`` and ``lr_find``; each method
checks its options, resolves one ``Plan`` (``stages/plan.py``) and hands it to the run
stage (``stages/run.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ngramlm.api.base import RunRef, check_threads
from ngramlm.api.models import Models
from ngramlm.errors import InputError
from ngramlm.store.records import DatasetRecord, RunRecord

if TYPE_CHECKING:
    from ngramlm.config import RunConfig
    from ngramlm.stages.plan import Plan
    from ngramlm.stages.run import Outcome, Progress


class Training(Models):
    """Runs trained (or counted) in this process and recorded in the store."""

    def plan(
        self,
        dataset: str | DatasetRecord | None = None,
        *,
        model: str | None = None,
        preset: str | None = None,
        threads: int | None = None,
        **overrides: Any,
    ) -> Plan:
        """The ``Plan`` that ``train`` would run: the dataset, the validated config, its
        preset, device, precision and threads, resolved once. Options are checked before
        the store is touched (nothing is written for a bad one, and the bundled names are
        prepared only when ``dataset`` is None)."""
        from ngramlm.stages.plan import plan_run

        check_threads(threads)
        return plan_run(
            lambda: self.store,
            dataset,
            model=model,
            preset=preset,
            threads=threads,
            overrides=overrides,
        )

    def config(
        self,
        dataset: str | DatasetRecord | None = None,
        *,
        model: str | None = None,
        preset: str | None = None,
        **overrides: Any,
    ) -> tuple[DatasetRecord, RunConfig, str | None]:
        """The dataset, the validated config and the preset that ``train`` would use
        (``plan``'s); nothing is written for a bad option."""
        p = self.plan(dataset, model=model, preset=preset, threads=1, **overrides)
        return p.dataset, p.config, p.preset

    def train(
        self,
        dataset: str | DatasetRecord | None = None,
        *,
        model: str | None = None,
        preset: str | None = None,
        name: str | None = None,
        threads: int | None = None,
        progress: Progress | None = None,
        **overrides: Any,
    ) -> RunRecord:
        """``ngramlm train``: train (or count) one model and record the run, its curve
        and checkpoints. ``model`` is the family (``mlp``, ``wavenet``, ``bigram``,
        ``kneser-ney``, ``modified-kn``, ``mixture``), ``preset`` a preset (``lecture``,
        ``default``, ``best``, ``bengio``, ``words``, ``wavenet``); ``overrides`` are the train
        options by their Python names (``steps=2000``, ``n_hidden=100``, ``order=4``...),
        refused by name when the family does not take them. ``threads`` as
        ``--threads`` (default: one thread for small models; restored afterwards).
        Ctrl-C (a kernel interrupt) stops at the next step with a checkpoint: the run is
        returned with status ``killed``."""
        return self.train_outcome(
            dataset,
            model=model,
            preset=preset,
            name=name,
            threads=threads,
            progress=progress,
            **overrides,
        ).run

    def train_outcome(
        self,
        dataset: str | DatasetRecord | None = None,
        *,
        model: str | None = None,
        preset: str | None = None,
        name: str | None = None,
        threads: int | None = None,
        progress: Progress | None = None,
        **overrides: Any,
    ) -> Outcome:
        """``train``, returning the runner's ``Outcome`` (the run and this session's
        curve points): what ``ngramlm train --json`` prints."""
        from ngramlm.runtime import torch_threads
        from ngramlm.stages.run import start_run, stop_on_signals

        plan = self.plan(dataset, model=model, preset=preset, threads=threads, **overrides)
        with torch_threads(plan.threads), stop_on_signals() as stop:
            return start_run(self.store, plan, name=name, progress=progress, stop=stop)

    def resume(
        self, run: RunRef, *, threads: int | None = None, progress: Progress | None = None
    ) -> RunRecord:
        """``ngramlm train --resume``: continue a killed, failed or crashed run from its
        last checkpoint; it ends with the losses of an uninterrupted run."""
        return self.resume_outcome(run, threads=threads, progress=progress).run

    def resume_outcome(
        self, run: RunRef, *, threads: int | None = None, progress: Progress | None = None
    ) -> Outcome:
        """``resume``, returning the runner's ``Outcome``."""
        from ngramlm.runtime import torch_threads
        from ngramlm.stages.plan import plan_resume
        from ngramlm.stages.run import resume_run, stop_on_signals

        check_threads(threads)
        rid = self.run_id(run)
        plan = plan_resume(self.store, rid, threads)  # threads as `train` chooses them
        with torch_threads(plan.threads), stop_on_signals() as stop:
            return resume_run(self.store, rid, plan=plan, progress=progress, stop=stop)

    def lr_find(
        self,
        dataset: str | DatasetRecord | None = None,
        *,
        min_lr: float = 1e-3,
        max_lr: float = 1.0,
        steps: int = 1000,
        model: str | None = None,
        preset: str | None = None,
        name: str | None = None,
        threads: int | None = None,
        **overrides: Any,
    ) -> RunRecord:
        """``ngramlm lr-find``: the lecture's learning-rate range test (one SGD step per
        rate, log-spaced from ``min_lr`` to ``max_lr``), recorded as a run of kind
        ``lr_find`` whose ``extra["suggested_lr"]`` is the suggestion. The lecture's
        model unless ``model``/``preset`` say otherwise."""
        from ngramlm.runtime import torch_threads
        from ngramlm.stages.run import lr_find
        from ngramlm.training.lrfind import validate_range

        for key in ("lr", "lr_schedule", "warmup", "decay_at", "decay_factor"):
            if key in overrides:
                raise InputError(f"lr-find sets every step's rate itself: drop {key}")
        check_threads(threads)
        validate_range(min_lr, max_lr, steps)
        if model is None and preset is None:
            preset = "lecture"  # the lecture's model, as in makemore part 2
        given = {**overrides, "steps": steps, "lr": max_lr, "lr_schedule": "constant", "warmup": 0}
        plan = self.plan(dataset, model=model, preset=preset, threads=threads, **given)
        with torch_threads(plan.threads):
            record, _, _, _ = lr_find(self.store, plan, min_lr=min_lr, max_lr=max_lr, name=name)
        return record
