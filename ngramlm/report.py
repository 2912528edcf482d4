"""Pure functions from store records to report rows, diagnoses and sweep grids.

The field names of ``run_row`` are the stable, documented columns of ``ngramlm report
--json`` and ``--csv`` (see README.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ngramlm.config import ModelConfig
from ngramlm.store.records import EvaluationRecord, MetricRecord, RunRecord, SweepRecord

FIELDS = (
    "run", "dataset", "sweep", "kind", "name", "status", "block_size", "n_embd",
    "n_hidden", "n_layers", "batch_size", "optimizer", "lr", "steps", "steps_done", "seed",
    "train_loss", "dev_loss", "gap", "test_loss", "seconds", "created_at", "best_in_sweep",
    "model",  # added in 0.2: appended, so CSV columns keep their positions
)  # fmt: skip
# Fields that only an MLP has: None for a count model (bigram, Kneser-Ney).
MLP_ONLY = ("n_embd", "n_hidden", "n_layers", "batch_size", "optimizer", "lr", "steps", "seed")

SORTS = ("dev", "train", "id", "time")
STATUSES = ("running", "finished", "failed", "killed", "crashed")

# Diagnosis thresholds, in nats per character.
UNDERFIT_GAP = 0.02  # train and dev this close: capacity, not data, is the limit
OVERFIT_GAP = 0.05  # dev this far above train: the model memorises the train split
STILL_FALLING = 0.01  # dev fell this much over the last 10% of steps: train longer


def best_per_sweep(runs: Iterable[RunRecord]) -> set[int]:
    best: dict[int, RunRecord] = {}
    for r in runs:
        if r.sweep_id is None or r.status != "finished" or r.dev_loss is None:
            continue
        cur = best.get(r.sweep_id)
        if cur is None or r.dev_loss < (cur.dev_loss or math.inf):
            best[r.sweep_id] = r
    return {r.id for r in best.values()}


def run_row(
    r: RunRecord, evaluation: EvaluationRecord | None, best: bool = False
) -> dict[str, Any]:
    gap = r.dev_loss - r.train_loss if r.dev_loss is not None and r.train_loss is not None else None
    row = {
        "run": r.id,
        "dataset": r.dataset,
        "sweep": r.sweep_id,
        "kind": r.kind,
        "name": r.name,
        "status": r.status,
        "block_size": r.block_size,
        "n_embd": r.n_embd,
        "n_hidden": r.n_hidden,
        "n_layers": r.n_layers,
        "batch_size": r.batch_size,
        "optimizer": r.optimizer,
        "lr": r.lr,
        "steps": r.steps,
        "steps_done": r.steps_done,
        "seed": r.seed,
        "train_loss": r.train_loss,
        "dev_loss": r.dev_loss,
        "gap": gap,
        "test_loss": evaluation.test_loss if evaluation else None,
        "seconds": r.train_seconds,
        "created_at": r.created_at.isoformat(),
        "best_in_sweep": best,
        "model": r.model,
    }
    if r.model != "mlp":
        row.update(dict.fromkeys(MLP_ONLY))
    return row


def rows(
    runs: Sequence[RunRecord],
    evaluations: dict[int, EvaluationRecord],
    *,
    status: str | None = None,
    sort: str = "id",
    limit: int | None = None,
) -> list[dict[str, Any]]:
    best = best_per_sweep(runs)
    selected = [r for r in runs if status is None or r.status == status]
    out = [run_row(r, evaluations.get(r.id), r.id in best) for r in selected]
    key = {
        "dev": lambda x: (x["dev_loss"] is None, x["dev_loss"] or 0.0),
        "train": lambda x: (x["train_loss"] is None, x["train_loss"] or 0.0),
        "id": lambda x: -x["run"],
        "time": lambda x: (x["seconds"] is None, -(x["seconds"] or 0.0)),
    }[sort]
    out.sort(key=key)
    # Sweep runs group under their sweep (in the order their first member appears).
    order: dict[Any, int] = {}
    for x in out:
        order.setdefault(x["sweep"], len(order))
    out.sort(key=lambda x: order[x["sweep"]])
    return out[:limit] if limit is not None else out


# --- models side by side (Bengio et al. 2003, Table 1) ---------------------------------


def hyperparameters(r: RunRecord) -> dict[str, Any]:
    """A run's hyperparameters as one flat mapping (an n-gram's chosen smoothing included)."""
    if r.model != "mlp":
        flat = dict(r.config["ngram"])
        if "smoothing" in r.extra:
            flat["smoothing"] = r.extra["smoothing"]
            flat["smoothing_chosen_on_dev"] = r.extra.get("smoothing_chosen_on_dev", False)
        return flat
    return {**r.config["model"], **r.config["train"]}


def describe_model(r: RunRecord) -> str:
    """A short name: ``bigram add-1``, ``kneser-ney 6-gram D=0.94``, ``mlp 8/24/512``."""
    if r.model == "bigram":
        return f"bigram add-{r.extra.get('smoothing', 1):.3g}"
    if r.model == "kneser-ney":
        return f"kneser-ney {r.order}-gram D={r.extra.get('smoothing', 0):.3g}"
    text = f"mlp {r.block_size}/{r.n_embd}/{r.n_hidden}"
    return text + (f"x{r.n_layers}" if r.n_layers > 1 else "")


COMPARE_FIELDS = (
    "run", "model", "description", "preset", "n", "h", "m", "layers", "direct", "params",
    "train_loss", "dev_loss", "test_loss", "dev_perplexity", "test_perplexity", "seconds",
)  # fmt: skip


def compare_rows(
    runs: Sequence[RunRecord], evaluations: dict[int, EvaluationRecord]
) -> list[dict[str, Any]]:
    """Finished training runs as the rows of the paper's Table 1: n-gram baselines first
    (by order), then the MLPs by dev loss. ``n`` is the order the model conditions on
    (context + 1), ``h`` hidden units, ``m`` embedding size; perplexities are per
    character (exp of the loss)."""
    out: list[dict[str, Any]] = []
    for r in runs:
        if r.kind != "train" or r.status != "finished" or r.dev_loss is None:
            continue
        hp = hyperparameters(r)
        ev = evaluations.get(r.id)
        mlp = r.model == "mlp"
        params = None
        if mlp:
            params = ModelConfig(**r.config["model"]).n_params
        out.append(
            {
                "run": r.id,
                "model": r.model,
                "description": describe_model(r),
                "preset": r.preset,
                "n": r.order,
                "h": r.n_hidden if mlp else None,
                "m": r.n_embd if mlp else None,
                "layers": r.n_layers if mlp else None,
                "direct": bool(hp.get("direct")) if mlp else None,
                "params": params,
                "train_loss": r.train_loss,
                "dev_loss": r.dev_loss,
                "test_loss": ev.test_loss if ev else None,
                "dev_perplexity": math.exp(r.dev_loss),
                "test_perplexity": math.exp(ev.test_loss) if ev else None,
                "seconds": r.train_seconds,
            }
        )
    family: dict[str, int] = {"bigram": 0, "kneser-ney": 1}
    out.sort(
        key=lambda x: (
            family.get(x["model"], 2),
            x["n"] if x["model"] != "mlp" else 0,
            x["dev_loss"],
        )
    )
    return out


# --- one run: diagnosis ----------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    rule: str  # underfit | overfit | balanced | still-falling | plateaued
    message: str


def diagnose(run: RunRecord, metrics: Sequence[MetricRecord]) -> list[Finding]:
    """The lecture's reading of train and dev loss, with the numbers that decided it."""
    findings: list[Finding] = []
    tr, dv = run.train_loss, run.dev_loss
    if tr is None or dv is None:
        return [Finding("none", "no final losses yet: nothing to diagnose")]
    if run.model != "mlp":
        what = "add-k" if run.model == "bigram" else "discount"
        how = "chosen on dev" if run.extra.get("smoothing_chosen_on_dev") else "as given"
        return [
            Finding(
                "counted",
                f"a count model: train {tr:.4f} is measured on the very counts it was built "
                f"from, so the gap to dev {dv:.4f} ({dv - tr:+.4f}) is expected; its {what} "
                f"{run.extra.get('smoothing', 0):.4g} was {how}",
            )
        ]
    gap = dv - tr
    if gap <= UNDERFIT_GAP:
        findings.append(
            Finding(
                "underfit",
                f"train {tr:.4f} ≈ dev {dv:.4f} (gap {gap:+.4f} ≤ {UNDERFIT_GAP}): the model "
                "underfits; grow --n-hidden, then --n-embd, or the batch size",
            )
        )
    elif gap >= OVERFIT_GAP:
        findings.append(
            Finding(
                "overfit",
                f"dev {dv:.4f} is well above train {tr:.4f} (gap {gap:+.4f} ≥ {OVERFIT_GAP}): "
                "the model overfits; regularise (--dropout, --weight-decay) or add data",
            )
        )
    else:
        findings.append(
            Finding(
                "balanced",
                f"dev {dv:.4f} vs train {tr:.4f} (gap {gap:+.4f}, between {UNDERFIT_GAP} and "
                f"{OVERFIT_GAP}): neither clearly under- nor overfitting",
            )
        )
    curve = [m for m in metrics if m.dev_loss is not None]
    if len(curve) >= 2:
        last = curve[-1]
        cutoff = last.step * 0.9
        earlier = [m for m in curve if m.step <= cutoff]
        ref = earlier[-1] if earlier else curve[0]
        drop = (ref.dev_loss or 0.0) - (last.dev_loss or 0.0)
        if drop > STILL_FALLING:
            findings.append(
                Finding(
                    "still-falling",
                    f"dev fell {drop:.4f} from step {ref.step:,} to {last.step:,} "
                    f"(> {STILL_FALLING} over the last 10%): train longer (--steps)",
                )
            )
        else:
            findings.append(
                Finding(
                    "plateaued",
                    f"dev changed {-drop:+.4f} from step {ref.step:,} to {last.step:,}: "
                    "the curve has flattened; more steps alone will not help much",
                )
            )
    return findings


def sparkline(values: Sequence[float]) -> str:
    """A one-line chart of a curve (lower is better, so lower blocks mean lower loss)."""
    blocks = "▁▂▃▄▅▆▇█"
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    span = hi - lo or 1.0
    return "".join(
        blocks[min(7, int((v - lo) / span * 7.999))] if math.isfinite(v) else " " for v in values
    )


# --- a sweep as a grid -----------------------------------------------------------------


@dataclass(frozen=True)
class SweepGrid:
    row_key: str
    col_key: str | None
    row_values: list[Any]
    col_values: list[Any]
    cells: dict[tuple[Any, Any], float | None]  # mean dev loss over seed replicates
    best: RunRecord | None


def _value(r: RunRecord, key: str) -> Any:
    return hyperparameters(r)[key]


def sweep_grid(sweep: SweepRecord, runs: Sequence[RunRecord]) -> SweepGrid:
    """Dev loss over the sweep's first two swept keys (lr first when swept)."""
    keys = ["lr", *sweep.spec.get("grid", {})]
    if len(sweep.spec.get("lr_grid", [])) <= 1 and len(keys) > 1:
        keys = keys[1:]  # lr was fixed: the grid's own keys are the axes
    row_key = keys[0]
    col_key = keys[1] if len(keys) > 1 else None
    cells: dict[tuple[Any, Any], list[float]] = {}
    for r in runs:
        if r.status != "finished" or r.dev_loss is None:
            continue
        cell = (_value(r, row_key), _value(r, col_key) if col_key else None)
        cells.setdefault(cell, []).append(r.dev_loss)
    finished = [r for r in runs if r.status == "finished" and r.dev_loss is not None]
    best = min(finished, key=lambda r: r.dev_loss or math.inf, default=None)
    all_rows = sorted({_value(r, row_key) for r in runs}, key=_sortable)
    all_cols = sorted({_value(r, col_key) for r in runs}, key=_sortable) if col_key else [None]
    return SweepGrid(
        row_key,
        col_key,
        all_rows,
        all_cols,
        {k: sum(v) / len(v) for k, v in cells.items()},
        best,
    )


def _sortable(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, (int, float)) else (1, str(v))
