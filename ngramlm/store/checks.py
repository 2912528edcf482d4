"""What the store refuses to record: a loss that cannot be one.

A loss is a mean negative log-likelihood: finite and at least 0. A negative one comes
from probabilities that sum past 1 (an ARPA file that is not a normalised model), an
infinite or NaN one from a diverged run or a probability of 0; recorded, it would rank
as a result forever. Every write of a loss (a curve's points, a run's final losses, the
test loss) passes ``check_losses`` first, so nothing is written; the database holds the
same rule (revision 0010) for plain SQL.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ngramlm.errors import InputError
from ngramlm.store.records import MetricRecord


def is_loss(value: float) -> bool:
    """The rule itself: a loss is finite and at least 0."""
    return math.isfinite(value) and value >= 0


def check_losses(run_id: int, where: str = "", **losses: float | None) -> None:
    """Refuse, naming the run and the value, a loss that is negative or not finite
    (``None`` is a loss not measured, and passes)."""
    for name, value in losses.items():
        if value is not None and not is_loss(value):
            raise InputError(
                f"run {run_id}{where}: its {name.replace('_', ' ')} {float(value):.6g} is not a "
                "loss (finite and at least 0); nothing was recorded: the model diverged "
                "(lower --lr) or its probabilities do not sum to 1"
            )


def check_metrics(run_id: int, rows: Sequence[MetricRecord]) -> None:
    """Every loss of a batch of curve points (``check_losses``)."""
    for r in rows:
        check_losses(run_id, f" at step {r.step}", batch_loss=r.batch_loss,
                     train_loss=r.train_loss, dev_loss=r.dev_loss)  # fmt: skip
