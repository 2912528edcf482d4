"""A run's diagnosis: the lecture's reading of its train and dev loss, pure (records in,
findings out), with the numbers that decided it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ngramlm.stages.report import describe
from ngramlm.store.records import MetricRecord, RunRecord

# Diagnosis thresholds, in nats per character.
UNDERFIT_GAP = 0.02  # train and dev this close: capacity, not data, is the limit
OVERFIT_GAP = 0.05  # dev this far above train, and rising: memorising costs dev loss
DEV_RISE = 0.02  # dev this far above its lowest point on the curve: it is rising
STILL_FALLING = 0.01  # dev fell this much over the last 10% of steps: train longer


@dataclass(frozen=True)
class Finding:
    rule: str  # underfit | undertrained | overfit | balanced | still-falling | plateaued
    message: str


def diagnose(run: RunRecord, metrics: Sequence[MetricRecord]) -> list[Finding]:
    """The lecture's reading of train and dev loss, with the numbers that decided it.

    The first finding is about capacity, from the gap (dev - train) and the dev curve:

    * gap ≤ ``UNDERFIT_GAP``: train and dev alike. If dev is still falling (by more than
      ``STILL_FALLING`` over the last 10% of the steps) the run ended before the model
      did: ``undertrained``, train longer (a 300-step run says nothing about the model's
      size). Otherwise ``underfit``: capacity is the limit, grow the model.
    * gap ≥ ``OVERFIT_GAP`` and dev has risen more than ``DEV_RISE`` above its lowest
      point on the curve: ``overfit``, memorising the train split now costs dev loss.
      With no curve to read (one point) the gap alone decides.
    * otherwise ``balanced``. A gap alone is not overfitting: the default preset ends
      with a gap of 0.064 and dev at its lowest, and ten times the parameters (``--preset
      best``) widen the gap to 0.23 and lower dev by 0.16. ``DEV_RISE`` is 0.02, not
      less, because a word corpus's intermediate dev losses are on a fixed sample
      (``training.evaluating.sample_of``) that may sit ~0.01 off the whole split's.

    The second finding reads the end of the curve: still falling (train longer), or
    plateaued."""
    tr, dv = run.train_loss, run.dev_loss
    if tr is None or dv is None:
        return [Finding("none", "no final losses yet: nothing to diagnose")]
    from ngramlm.models import family
    from ngramlm.models.base import CountFamily

    if isinstance(family(run.model), CountFamily):
        return [_counted(run, tr, dv)]
    curve = [m for m in metrics if m.dev_loss is not None]
    trend, falling, rising = _trend(curve)
    lowest = min(curve, key=lambda m: m.dev_loss or 0.0) if curve else None
    first = _capacity(tr, dv, falling, rising, lowest, len(curve))
    return [first] if trend is None else [first, trend]


def _counted(run: RunRecord, tr: float, dv: float) -> Finding:
    """A count model's train loss is in-sample: its gap to dev is expected."""
    from ngramlm.models import family
    from ngramlm.models.base import CountFamily

    fam = family(run.model)
    assert isinstance(fam, CountFamily)
    how = "chosen on dev" if run.extra.get("smoothing_chosen_on_dev") else fam.fixed_smoothing
    return Finding(
        "counted",
        f"{fam.what}: train {tr:.4f} {fam.in_sample}, so the gap to dev {dv:.4f} "
        f"({dv - tr:+.4f}) is expected; {describe(run).smoothing} {how}",
    )


def _trend(curve: Sequence[MetricRecord]) -> tuple[Finding | None, bool, bool]:
    """The end of the dev curve: still falling or plateaued (None with under two
    points), whether it is falling, and whether it has risen above its lowest point."""
    if len(curve) < 2:
        return None, False, False
    last = curve[-1]
    earlier = [m for m in curve if m.step <= last.step * 0.9]
    ref = earlier[-1] if earlier else curve[0]
    drop = (ref.dev_loss or 0.0) - (last.dev_loss or 0.0)
    lowest = min(curve, key=lambda m: m.dev_loss or 0.0)
    rising = (last.dev_loss or 0.0) - (lowest.dev_loss or 0.0) > DEV_RISE
    if drop > STILL_FALLING:
        found = Finding(
            "still-falling",
            f"dev fell {drop:.4f} from step {ref.step:,} to {last.step:,} "
            f"(> {STILL_FALLING} over the last 10%): train longer (--steps)",
        )
        return found, True, rising
    found = Finding(
        "plateaued",
        f"dev changed {-drop:+.4f} from step {ref.step:,} to {last.step:,}: "
        "the curve has flattened; more steps alone will not help much",
    )
    return found, False, rising


def _capacity(
    tr: float,
    dv: float,
    falling: bool,
    rising: bool,
    lowest: MetricRecord | None,
    points: int,
) -> Finding:
    """The finding about capacity, from the gap and the dev curve (``diagnose``)."""
    gap = dv - tr
    if gap <= UNDERFIT_GAP and falling:
        return Finding(
            "undertrained",
            f"train {tr:.4f} ≈ dev {dv:.4f} (gap {gap:+.4f} ≤ {UNDERFIT_GAP}) and dev is "
            "still falling: the run ended before the model did; train longer (--steps) "
            "before growing it",
        )
    if gap <= UNDERFIT_GAP:
        return Finding(
            "underfit",
            f"train {tr:.4f} ≈ dev {dv:.4f} (gap {gap:+.4f} ≤ {UNDERFIT_GAP}): the model "
            "underfits; grow --n-hidden, then --n-embd, or the batch size",
        )
    if gap >= OVERFIT_GAP and (rising or points < 2):
        lowest_at = (
            f", and dev has risen {(dv - (lowest.dev_loss or 0.0)):.4f} since its lowest "
            f"(step {lowest.step:,})"
            if rising and lowest is not None
            else ""
        )
        return Finding(
            "overfit",
            f"dev {dv:.4f} is well above train {tr:.4f} (gap {gap:+.4f} ≥ {OVERFIT_GAP})"
            f"{lowest_at}: the model overfits; regularise (--dropout, --weight-decay) or "
            "add data",
        )
    return Finding(
        "balanced",
        f"dev {dv:.4f} vs train {tr:.4f} (gap {gap:+.4f}) with dev not rising: a "
        "generalisation gap, not overfitting; a larger model may still lower dev",
    )
