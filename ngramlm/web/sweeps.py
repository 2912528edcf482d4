"""What the sweeps, sweep and datasets views read: every sweep and search with its runs'
progress, one search's trials (ranked, best dev against wall time, the parameters that
vary, their importances, pruned trials, the best trials' dev curves and the rungs where
halving compared them), one grid's runs and cells, and the datasets with their splits
and the test evaluations spent on them."""

from __future__ import annotations

import math
import threading
from typing import Any

from ngramlm.api import Experiments, SweepRecord
from ngramlm.web.runs import RunsTable

# A search trial's row holds these besides its parameters (``Experiments.search_trials``).
MAX_CURVES = 100  # the best trials' dev curves drawn on a search's page
TRIAL_FIELDS = (
    "trial", "run", "status", "dev_loss", "at_step", "steps", "minutes", "train_seconds",
    "error", "best_so_far",
)  # fmt: skip


def kind_of(sweep: SweepRecord) -> str:
    return "search" if "search" in sweep.spec else "grid"


def sweeps_page(exp: Experiments, table: RunsTable) -> dict[str, Any]:
    """Every sweep and search, newest first, with its runs by status and best dev."""
    rows = table.snapshot().rows
    out = []
    for sw in exp.sweeps():
        members = [r for r in rows if r["sweep"] == sw.id]
        devs = [r["dev_loss"] for r in members if r["status"] == "finished" and r["dev_loss"]]
        by: dict[str, int] = {}
        for r in members:
            by[r["status"]] = by.get(r["status"], 0) + 1
        out.append(
            {
                "sweep": sw.id,
                "name": sw.name,
                "dataset": sw.dataset,
                "kind": kind_of(sw),
                "points": sw.n_points,
                "runs": len(members),
                "statuses": by,
                "best_dev": min(devs, default=None),
                "created_at": sw.created_at.isoformat(),
            }
        )
    return {"sweeps": out}


def dims_of(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A search's ``--space`` items as axes: a range (its ends, log or not) or choices."""
    out: dict[str, dict[str, Any]] = {}
    for item in spec.get("search", {}).get("space", []):
        key, _, value = str(item).partition("=")
        parts = value.split(":")
        if "," in value or len(parts) not in (2, 3):
            out[key] = {"choices": value.split(",")}
            continue
        try:
            out[key] = {"low": float(parts[0]), "high": float(parts[1]), "log": parts[-1] == "log"}
        except ValueError:
            out[key] = {"choices": [value]}
    return out


class Importances:
    """A search's importances, computed again only when the store changed (Optuna's
    evaluator over the finished trials)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, tuple[str, dict[str, float]]] = {}

    def of(self, exp: Experiments, sweep_id: int, stamp: str) -> dict[str, float]:
        with self._lock:
            held = self._held.get(sweep_id)
        if held is not None and held[0] == stamp:
            return held[1]
        found = {k: v for k, v in exp.search_importance(sweep_id).items() if math.isfinite(v)}
        with self._lock:
            self._held[sweep_id] = (stamp, found)
        return found


def sweep_page(
    exp: Experiments, sweep_id: int, table: RunsTable, importances: Importances
) -> dict[str, Any]:
    """One sweep: a search's trials and what it learnt, or a grid's runs and cells."""
    sw = exp.sweep_record(sweep_id)  # an unknown sweep: 404
    head = {
        "sweep": sw.id,
        "name": sw.name,
        "dataset": sw.dataset,
        "kind": kind_of(sw),
        "points": sw.n_points,
        "created_at": sw.created_at.isoformat(),
        "search": {k: v for k, v in sw.spec.get("search", {}).items() if k != "space"},
        "grid": {k: sw.spec[k] for k in ("grid", "lr_grid", "seeds") if k in sw.spec},
    }
    if head["kind"] == "grid":
        report = exp.sweep_report(sw.id)
        g = report.grid
        cells = [
            {"row": r, "col": c, "dev": dev, "runs": g.counts.get((r, c), 0)}
            for (r, c), dev in g.cells.items()
        ]
        grid = {
            "row_key": g.row_key,
            "col_key": g.col_key,
            "rows": g.row_values,
            "cols": g.col_values,
            "cells": cells,
            "best": g.best.id if g.best else None,
        }
        return {**head, "runs": report.rows, "cells": grid}
    trials = exp.search_trials(sw.id)
    dims = dims_of(sw.spec)
    for key in {k for t in trials for k in t} - set(TRIAL_FIELDS) - set(dims):
        dims[key] = {}
    varying = [k for k in dims if len({repr(t.get(k)) for t in trials}) > 1]
    ranked = sorted(
        trials, key=lambda t: (t["status"] != "finished", t["dev_loss"] is None, t["dev_loss"] or 0)
    )
    return {
        **head,
        "trials": ranked,
        "dims": dims,
        "varying": varying,
        "importance": importances.of(exp, sw.id, table.stamp()),
        "rungs": exp.search_rungs(sw.id),
        "curves": trial_curves(exp, ranked[:MAX_CURVES]),
    }


def trial_curves(exp: Experiments, trials: list[dict[str, Any]]) -> dict[str, list[list[float]]]:
    """Each trial's dev loss at its evaluations, [[step, dev], ...] by run."""
    out = {}
    for t in trials:
        if t["run"] is not None:
            curve = exp.curve(t["run"])
            out[str(t["run"])] = [[m.step, m.dev_loss] for m in curve if m.dev_loss is not None]
    return out


def datasets_page(exp: Experiments, table: RunsTable) -> dict[str, Any]:
    """The datasets: their splits, vocabulary, sha256, runs and test evaluations spent."""
    spent = exp.test_evaluations_spent()
    rows = table.snapshot().rows
    out = []
    for ds in exp.datasets():
        mine = [r for r in rows if r["dataset"] == ds.name]
        devs = [r["dev_loss"] for r in mine if r["status"] == "finished" and r["dev_loss"]]
        tokens = ds.vocab.tokens
        out.append(
            {
                "name": ds.name,
                "unit": ds.unit,
                "lines": ds.n_words,
                "train": ds.n_train,
                "dev": ds.n_dev,
                "test": ds.n_test,
                "duplicates": ds.n_duplicates,
                "vocab_size": ds.vocab_size,
                "vocab_head": [str(t) for t in list(tokens)[:40]],
                "min_count": ds.min_count,
                "split": ds.split,
                "seed": ds.seed,
                "sha256": ds.sha256,
                "source": ds.source_path,
                "created_at": ds.created_at.isoformat(),
                "runs": len(mine),
                "best_dev": min(devs, default=None),
                "test_evaluations_spent": spent.get(ds.name, 0),
            }
        )
    return {"datasets": out}
