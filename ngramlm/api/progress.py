"""What a run in training tells its caller (``train(progress=...)``): the ``Progress``
sink to subclass (start, update, evaluating, evaluated, stop; the defaults do nothing)
and the ``EvalPoint`` each evaluation gives; and what ``train`` returns, its
``Outcome`` (the run and this session's curve points). A sweep's likewise: the
``SweepWatch`` to subclass (``sweep(watch=...)``), told its ``SweepPlan`` and its
``SweepStatus`` while it runs. Imports torch: the CLI imports it when
training starts."""

from __future__ import annotations

from ngramlm.stages.run import Outcome as Outcome
from ngramlm.stages.run import Progress as Progress
from ngramlm.stages.sweep import SweepPlan as SweepPlan
from ngramlm.stages.sweep import SweepStatus as SweepStatus
from ngramlm.stages.sweep import SweepWatch as SweepWatch
from ngramlm.training.loop import EvalPoint as EvalPoint

__all__ = ["EvalPoint", "Outcome", "Progress", "SweepPlan", "SweepStatus", "SweepWatch"]
