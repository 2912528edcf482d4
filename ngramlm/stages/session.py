"""A run in this process, as the API starts one: torch's threads set to the plan's for
the while (and back after), Ctrl-C and SIGTERM turned into a stop at the next step, then
the run stage (``stages/run.py``): ``train``, ``train --resume`` and ``lr-find``."""

from __future__ import annotations

from ngramlm.runtime import torch_threads
from ngramlm.stages.plan import Plan, plan_resume
from ngramlm.stages.run import Outcome, Progress, lr_find, resume_run, start_run, stop_on_signals
from ngramlm.store import Store
from ngramlm.store.records import RunRecord


def train_plan(
    store: Store, plan: Plan, *, name: str | None = None, progress: Progress | None = None
) -> Outcome:
    """Create a run of ``plan`` and train (or count) it to its end or to a stop."""
    with torch_threads(plan.threads), stop_on_signals() as stop:
        return start_run(store, plan, name=name, progress=progress, stop=stop)


def resume_plan(
    store: Store, run_id: int, *, threads: int | None = None, progress: Progress | None = None
) -> Outcome:
    """Continue a stored run from its last checkpoint, its threads as ``train`` would
    choose them (``threads``: the user's)."""
    plan = plan_resume(store, run_id, threads)
    with torch_threads(plan.threads), stop_on_signals() as stop:
        return resume_run(store, run_id, plan=plan, progress=progress, stop=stop)


def lr_find_plan(
    store: Store, plan: Plan, *, min_lr: float, max_lr: float, name: str | None = None
) -> RunRecord:
    """The learning-rate range test of ``plan``, recorded as a run of kind ``lr_find``."""
    with torch_threads(plan.threads):
        record, _, _, _ = lr_find(store, plan, min_lr=min_lr, max_lr=max_lr, name=name)
    return record
