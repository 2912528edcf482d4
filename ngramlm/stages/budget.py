"""A search's budget kept (``sweep --search --budget``): no trial starts once it is spent
(the store refuses the claim, ``Store.add_point``'s ``until``), and a trial still
running stops at its first evaluation past it, or at its next step when no evaluation
comes within the grace (a few percent of the budget: a word trial evaluates once an
epoch). Either way it is recorded ``killed`` with its checkpoint and a reason that says
so (``SPENT``), so ``ngramlm train --resume RUN`` trains it to its end, and a search
ends within a few percent of its budget."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ngramlm.store.records import RunRecord

GRACE_SHARE = 0.02  # of the budget: how long past it a trial may run to its next evaluation
GRACE_MIN_S = 1.0
GRACE_MAX_S = 60.0
SPENT = "the search's budget was spent"  # the start of a trial's reason: stopped by it


@dataclass(frozen=True)
class Budget:
    """A search session's deadline, on this process's monotonic clock, and its grace."""

    end: float  # time.monotonic() when the budget is spent
    grace: float  # seconds past it that a trial may go on to its next evaluation

    @classmethod
    def of(cls, deadline: float | None, budget_s: float | None) -> Budget | None:
        """The budget of a deadline (``time.time()``, as ``SweepSetup`` carries it) read
        once here; None: no budget."""
        if deadline is None:
            return None
        grace = min(GRACE_MAX_S, max(GRACE_MIN_S, GRACE_SHARE * float(budget_s or 0.0)))
        return cls(time.monotonic() + deadline - time.time(), grace)

    def spent(self) -> bool:
        return time.monotonic() >= self.end

    def over(self) -> bool:
        """Past the grace too: a trial stops at its next step."""
        return time.monotonic() >= self.end + self.grace


def at_evaluation(step: int, dev: float | None) -> str:
    """The reason of a trial stopped at its first evaluation past the budget."""
    at = f"step {step:,}" + (f" (dev {dev:.4f})" if dev is not None else "")
    return f"{SPENT}: stopped at its first evaluation past it, {at}; {RESUME}"


def between_evaluations(budget: Budget) -> str:
    """The reason of a trial stopped at a step: no evaluation came within the grace."""
    return (
        f"{SPENT}: stopped between evaluations (none came within {budget.grace:.0f}s past "
        f"it); {RESUME}"
    )


RESUME = "`ngramlm train --resume RUN` trains it to its end"


def stopped_by_budget(run: RunRecord) -> bool:
    """Whether ``run`` is a trial its search's budget stopped (killed, resumable)."""
    return run.status == "killed" and (run.error or "").startswith(SPENT)


def interrupted(run: RunRecord) -> bool:
    """Whether ``run`` was killed by a signal (Ctrl-C, SIGTERM), not by its search's budget."""
    return run.status == "killed" and not stopped_by_budget(run)
