"""Pure functions from store records to report rows and sweep grids (a run's diagnosis:
``stages/diagnose.py``).

The field names of ``run_row`` are the stable, documented columns of ``ngramlm report
--json`` and ``--csv`` (see README.md).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ngramlm.errors import ConflictError
from ngramlm.store.records import (
    CheckpointRecord,
    DatasetRecord,
    EvaluationRecord,
    MetricRecord,
    RunRecord,
    SweepRecord,
)

if TYPE_CHECKING:
    from ngramlm.models import Description

FIELDS = (
    "run", "dataset", "sweep", "kind", "name", "status", "block_size", "n_embd",
    "n_hidden", "n_layers", "batch_size", "optimizer", "lr", "steps", "steps_done", "seed",
    "train_loss", "dev_loss", "gap", "test_loss", "seconds", "created_at", "best_in_sweep",
    "model",  # added in 0.2: appended, so CSV columns keep their positions
    "precision",  # with store revision 0007: fp32 | bf16; null for count models, older runs
    # what the run is: network | count | mixture | imported-arpa | lr-find
    "category",
    # a run without final losses (running, killed, crashed, failed, pruned): its last
    # recorded evaluation's step and losses; null for any other run
    "last_eval_step", "last_train_loss", "last_dev_loss",
)  # fmt: skip
# Fields that only a trained network has: None for a counted model (an n-gram).
NETWORK_ONLY = ("n_embd", "n_hidden", "n_layers", "batch_size", "optimizer", "lr", "steps", "seed")

SORTS = ("dev", "train", "id", "time")
STATUSES = ("running", "finished", "failed", "killed", "crashed", "pruned")


def best_by_dev(runs: Iterable[RunRecord]) -> RunRecord | None:
    """The finished run with the lowest dev loss (the first of equals), or None."""
    finished = [r for r in runs if r.status == "finished" and r.dev_loss is not None]
    return min(finished, key=lambda r: r.dev_loss or math.inf, default=None)


def best_count_model(runs: Iterable[RunRecord]) -> RunRecord | None:
    """Of ``runs``, the finished count model with the lowest finite dev loss: an n-gram
    baseline of Table 1 (bigram, Kneser-Ney, an imported ARPA file; not a mixture, which
    holds a network), the line a network or a search has to beat. None when there is none."""
    baselines = [
        r for r in runs
        if r.kind == "train" and r.dev_loss is not None and math.isfinite(r.dev_loss)
        and counted(r) and describe(r).rank < 2
    ]  # fmt: skip
    return best_by_dev(baselines)


def best_per_sweep(runs: Iterable[RunRecord]) -> set[int]:
    by_sweep: dict[int, list[RunRecord]] = {}
    for r in runs:
        if r.sweep_id is not None:
            by_sweep.setdefault(r.sweep_id, []).append(r)
    best = (best_by_dev(members) for members in by_sweep.values())
    return {b.id for b in best if b is not None}


# The families are asked here (``ngramlm.models``, which imports torch) when a report is
# made, not when the CLI starts: ``ngramlm --help`` and ``db`` stay quick.


def counted(r: RunRecord) -> bool:
    """Whether the run's model was counted (an n-gram) rather than trained by steps."""
    from ngramlm.models import family

    return family(r.model).counted


def describe(r: RunRecord) -> Description:
    """What the run's family says of it, from its stored config and outcome."""
    from ngramlm.models import config_from_dict, family

    return family(r.model).describe(config_from_dict(r.config), r.extra)


def category(r: RunRecord) -> str:
    """What the run is: ``lr-find`` (a learning-rate range test), else its family's
    category (``network``, ``count``, ``mixture``, ``imported-arpa``)."""
    from ngramlm.models import family

    return "lr-find" if r.kind == "lr_find" else family(r.model).category


def legend(runs: Iterable[RunRecord]) -> list[str]:
    """What the model column's short forms of ``runs`` mean, each once, in order."""
    from ngramlm.models import family

    shown = ["lr-find: a learning-rate range test, its lr the rate it suggests"
             if r.kind == "lr_find" else family(r.model).legend for r in runs]  # fmt: skip
    return [x for x in dict.fromkeys(shown) if x]


def last_evaluation(curve: Sequence[MetricRecord]) -> MetricRecord | None:
    """The last point of a curve with both train and dev loss (None: it has none)."""
    both = [m for m in curve if m.train_loss is not None and m.dev_loss is not None]
    return both[-1] if both else None


# The lecture's names.txt (karpathy/makemore, 32,033 lines) as ``prepare`` reads it: the
# sha256 of its words, one a line (docs/cli.md's `prepare names.txt` prints it, and
# tests/test_docs.py checks that transcript on the file). The figures the lecture printed
# (a family's ``printed``) hold on it and its seed-42 shuffled 80/10/10 split alone.
LECTURE_NAMES_SHA256 = "816d2a728695db28a20e17eae61c9c423091a511b3df09a06a489dccbf0876c7"


def lectures_split(ds: DatasetRecord) -> bool:
    """Whether ``ds`` is the lecture's names split as the lecture split them: told by
    the sha256 of its words recorded at prepare, its seed, split and unit; never by its
    name, which any word list may be given."""
    return (ds.sha256, ds.seed, ds.split, ds.unit, ds.min_count) == (
        LECTURE_NAMES_SHA256, 42, "shuffled", "char", 1
    )  # fmt: skip


def printed(r: RunRecord, ds: DatasetRecord) -> tuple[str, float, float] | None:
    """Who printed the losses of the run's preset, and their train and dev: None when no
    one did, or when ``ds`` (the run's dataset) is not the one they were measured on."""
    from ngramlm.models import family

    return family(r.model).printed.get(r.preset or "") if lectures_split(ds) else None


def run_row(
    r: RunRecord,
    evaluation: EvaluationRecord | None,
    best: bool = False,
    last: MetricRecord | None = None,
) -> dict[str, Any]:
    """A run as ``report --json``'s row; ``last``: its last evaluation, shown only for a
    run without final losses."""
    gap = r.dev_loss - r.train_loss if r.dev_loss is not None and r.train_loss is not None else None
    if not unfinished(r):
        last = None
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
        "precision": r.precision,
        "category": category(r),
        "last_eval_step": last.step if last else None,
        "last_train_loss": last.train_loss if last else None,
        "last_dev_loss": last.dev_loss if last else None,
    }
    if counted(r):
        row.update(dict.fromkeys(NETWORK_ONLY))
    return row


def unfinished(r: RunRecord) -> bool:
    """A training run without final losses (running, killed, crashed, failed, pruned)."""
    return r.kind == "train" and (r.train_loss is None or r.dev_loss is None)


def rows(
    runs: Sequence[RunRecord],
    evaluations: dict[int, EvaluationRecord],
    *,
    status: str | None = None,
    sort: str = "id",
    limit: int | None = None,
    best: set[int] | None = None,
    last: dict[int, MetricRecord] | None = None,
) -> list[dict[str, Any]]:
    """Report rows of ``runs``, sweeps grouped; ``best``: the best runs of their sweeps
    when ``runs`` is a page that may not hold every member (default: from ``runs``);
    ``last``: the last evaluations of the unfinished ones."""
    best = best_per_sweep(runs) if best is None else best
    last = last or {}
    selected = [r for r in runs if status is None or r.status == status]
    out = [run_row(r, evaluations.get(r.id), r.id in best, last.get(r.id)) for r in selected]
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
    from ngramlm.models import config_from_dict, family

    return family(r.model).hyperparameters(config_from_dict(r.config), r.extra)


def shown_hyperparameters(r: RunRecord) -> dict[str, Any]:
    """``hyperparameters`` as ``report RUN`` shows them: a setting left to ngramlm (0 or
    ``auto``) as what it resolved to, ``epochs`` as "—" when steps were given."""
    from ngramlm.models import config_from_dict

    flat = hyperparameters(r)
    t = config_from_dict(r.config).train
    if t is None:
        return flat
    if "eval_every" in flat and not t.eval_every:
        flat["eval_every"] = f"auto ({t.eval_interval:,})"
    if "checkpoint_every" in flat and not t.checkpoint_every:
        flat["checkpoint_every"] = f"auto ({t.checkpoint_interval:,})"
    if "epochs" in flat and not t.epochs:
        flat["epochs"] = "—"  # the run was given steps
    if "device" in flat and r.device:
        flat["device"] = r.device + (" (auto)" if t.device == "auto" else "")
    if "precision" in flat and r.precision and t.precision == "auto":
        flat["precision"] = f"{r.precision} (auto)"
    return flat


def steps_shown(steps_done: int, steps: int) -> str:
    """A network's steps for the table: "1,200 / 60,000" until it has taken them all."""
    return f"{steps_done:,}" if steps_done >= steps else f"{steps_done:,} / {steps:,}"


def describe_model(r: RunRecord) -> str:
    """A short name: ``bigram add-1``, ``kneser-ney 6-gram D=0.94``, ``mlp 8/24/512``."""
    return describe(r).label


COMPARE_FIELDS = (
    "run", "model", "description", "preset", "n", "h", "m", "layers", "direct", "params",
    "train_loss", "dev_loss", "test_loss", "dev_perplexity", "test_perplexity", "seconds",
)  # fmt: skip


def compare_rows(
    runs: Sequence[RunRecord], evaluations: dict[int, EvaluationRecord]
) -> list[dict[str, Any]]:
    """Finished training runs as the rows of the paper's Table 1: n-gram baselines first
    (by order), then the networks by dev loss, then the mixtures by dev loss. ``n`` is
    the order the model conditions on (context + 1), ``h`` hidden units, ``m`` embedding
    size; perplexities are per character (exp of the loss)."""
    out: list[tuple[int, dict[str, Any]]] = []
    for r in runs:
        if r.kind != "train" or r.status != "finished" or r.dev_loss is None:
            continue
        d = describe(r)
        ev = evaluations.get(r.id)
        row = {
            "run": r.id,
            "model": r.model,
            "description": d.label,
            "preset": r.preset,
            "n": d.n,
            "h": d.h,
            "m": d.m,
            "layers": d.layers,
            "direct": d.direct,
            "params": d.params,
            "train_loss": r.train_loss,
            "dev_loss": r.dev_loss,
            "test_loss": ev.test_loss if ev else None,
            "dev_perplexity": math.exp(r.dev_loss),
            "test_perplexity": math.exp(ev.test_loss) if ev else None,
            "seconds": r.train_seconds,
        }
        out.append((d.rank, row))
    # Count baselines first, by family and order; then the networks, then the mixtures
    # (``Description.rank``), each by dev loss.
    out.sort(key=lambda x: (x[0], x[1]["n"] if x[0] < 2 else 0, x[1]["dev_loss"]))
    return [row for _, row in out]


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
    best: RunRecord | None  # the one run with the lowest dev loss (a single seed)
    counts: dict[tuple[Any, Any], int]  # finished runs (seeds) behind each cell's mean
    best_cell: tuple[Any, Any] | None  # the cell with the lowest mean: the grid's best

    @property
    def seeds(self) -> int:
        """The most seed replicates behind one cell (1: every cell is a single run)."""
        return max(self.counts.values(), default=0)


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
    best = best_by_dev(runs)
    all_rows = sorted({_value(r, row_key) for r in runs}, key=_sortable)
    all_cols = sorted({_value(r, col_key) for r in runs}, key=_sortable) if col_key else [None]
    means = {k: sum(v) / len(v) for k, v in cells.items()}
    return SweepGrid(
        row_key,
        col_key,
        all_rows,
        all_cols,
        dict(means),
        best,
        {k: len(v) for k, v in cells.items()},
        min(means, key=lambda k: means[k], default=None),
    )


def _sortable(v: Any) -> tuple[int, Any]:
    return (0, v) if isinstance(v, (int, float)) else (1, str(v))


def check_checkpoint(run: RunRecord, ckpt: CheckpointRecord, *, strict: bool = False) -> None:
    """A finished run is read from the checkpoint recorded when it finished (its sha256
    on the run), never another written over it (a forged checkpoint carries a matching
    sha256 of its own): ``sample``, ``report RUN`` and ``finalize`` read no other.
    ``strict`` (finalize): a finished run with no recorded sha256 is refused too."""
    actual = hashlib.sha256(ckpt.data).hexdigest()
    recorded = run.checkpoint_sha256
    if run.status != "finished" or (recorded is None and not strict) or actual == recorded:
        return
    raise ConflictError(
        f"run {run.id}'s checkpoint (sha256 {actual[:12]}) is not the one recorded at the "
        f"end of training ({(recorded or 'none')[:12]}); refusing to read it"
    )
