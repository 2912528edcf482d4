"""What ``sweep --search`` and ``report --sweep`` show of a search: the trials ranked,
the best dev loss over time, and each parameter's importance."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from ngramlm.api import Experiments, SearchModels, display
from ngramlm.cli.common import console, fmt_loss, measure_of, print_json, safe
from ngramlm.cli.sweep_view import FAILED, failure
from ngramlm.measure import Measure

RANKED = 20  # trials in the table; --json lists every one
TIMES = (10, 20, 30, 60)  # minutes the best-so-far line reports the best dev at (and the end)

# Below this many finished trials an importance says little (each parameter's effect
# is estimated from the best of too few points), and the line says so.
FEW_TRIALS = 10


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else safe(v)


def ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Finished trials by dev loss, then pruned ones by the dev loss they stopped at."""
    order = {"finished": 0, "pruned": 1}
    return sorted(
        rows,
        key=lambda r: (order.get(r["status"], 2), r["dev_loss"] is None, r["dev_loss"] or 0.0),
    )


def best_over_time(rows: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """The best finished dev at ``TIMES`` minutes the search ran past, and at its end
    (the minutes it actually ran, its last trial's end): (minutes, best dev) pairs."""
    end = max(r["minutes"] for r in rows)
    out = []
    for t in [*(t for t in TIMES if t < end), end]:
        got = [r["best_so_far"] for r in rows if r["minutes"] <= t and r["best_so_far"]]
        if got:
            out.append((t, min(got)))
    return out


def duration(seconds: float) -> str:
    """``90 s``, ``30 min``, ``2 h``: a budget as it is read."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.3g} h"


def minutes_label(minutes: float) -> str:
    """``10 min``, ``34 min``; below ten minutes to a tenth (``2.1 min``)."""
    return f"{minutes:.0f} min" if minutes >= 10 else f"{minutes:.1f} min"


def header(sweep_id: int, dataset: str, search: dict[str, Any]) -> str:
    """A new search's first line: its sampler, its budget, its trials when the space has
    fewer points than --trials asked for, and the dataset's earlier trials it learns from."""
    line = f"search {sweep_id} on {safe(dataset)}: {safe(search['sampler'])}"
    if search.get("budget_s"):
        line += f", a budget of {duration(search['budget_s'])}"
    asked, size = search.get("trials_asked"), search.get("space_points")
    if asked is not None and size is not None:
        points, trials = ("point", "trial") if size == 1 else ("points", "trials")
        line += (
            f"; the space has {size:,} {points}, fewer than --trials {asked:,}: {size:,} {trials}"
        )
    warm = search.get("earlier", 0)
    if warm:
        trials = "trial" if warm == 1 else "trials"
        line += (
            f"; {warm:,} earlier {trials} on {safe(dataset)} in its space: the sampler "
            "starts from them and trains none of them again"
        )
    return line


def budget_stopped(sweep_id: int, stopped: list[int]) -> None:
    """The trials its budget stopped, and how to train them to their end."""
    if len(stopped) == 1:
        console.print(
            f"stopped by the budget: run {stopped[0]} (killed, with a checkpoint; "
            f"`ngramlm train --resume {stopped[0]}` trains it to its end)",
            highlight=False,
        )
    elif stopped:
        console.print(
            f"stopped by the budget: runs {', '.join(map(str, stopped))} (killed, with a "
            f"checkpoint; `ngramlm train --resume RUN` trains one to its end, "
            f"`ngramlm sweep --resume {sweep_id}` all of them)",
            highlight=False,
        )


def show_search(exp: Experiments, sweep_id: int, as_json: bool, nats: bool = False) -> None:
    sw = exp.sweep_record(sweep_id)
    rows = exp.search_trials(sw)
    imp = exp.search_importance(sw)
    keys = list(sw.spec["search"]["space"])
    params = [k.partition("=")[0].strip().replace("-", "_") for k in keys]
    best = next((r for r in ranked(rows) if r["status"] == "finished"), None)
    models = exp.search_models(sw)
    if as_json:
        print_json(
            {
                "sweep": sw.id,
                "dataset": sw.dataset,
                "search": sw.spec["search"],
                "trials": len(rows),
                "finished": sum(r["status"] == "finished" for r in rows),
                "pruned": sum(r["status"] == "pruned" for r in rows),
                "best_run": best["run"] if best else None,
                "importance": imp,
                "edges": [vars(e) for e in exp.search_edges(sw)],
                "models": models.ids(),
                "runs": ranked(rows),
            }
        )
        return
    m = measure_of(exp, sw.dataset, nats)  # (--json: nats, always)
    search = sw.spec["search"]
    table = Table(
        title=f"search {sw.id} on {safe(sw.dataset)} ({safe(search['sampler'])}"
        + (", halving" if search["prune"] else "")
        + f"): {len(rows)} trials, ranked by dev"
    )
    for col in ("", "run", "status", *params, "dev " + m.name, "at step", "min"):
        table.add_column(safe(col), justify="left" if col in ("", "status") else "right")
    for r in ranked(rows)[:RANKED]:
        table.add_row(
            "★" if best is not None and r["run"] == best["run"] else "",
            str(r["run"]),
            safe(r["status"]),
            *(_fmt(r[p]) for p in params),
            m.fmt(r["dev_loss"]),
            f"{r['at_step']:,}",
            f"{r['minutes']:.1f}",
        )
    console.print(table)
    if len(rows) > RANKED:
        console.print(f"… and {len(rows) - RANKED} more (--json lists every trial)")
    failed = [r for r in rows if r["status"] == "failed"]
    for r in failed[:FAILED]:
        console.print(failure(r["run"], r["error"]), highlight=False)
    if len(failed) > FAILED:
        console.print(f"… and {len(failed) - FAILED} more failed (--json gives every reason)")
    budget_stopped(sw.id, [r["run"] for r in rows if r.get("stopped_by_budget")])
    if rows:
        at = [f"{minutes_label(t)} {m.fmt(b)}" for t, b in best_over_time(rows)]
        console.print("best dev so far: " + (", ".join(at) or "no finished trial yet"))
    show_importance(imp, rows)
    for edge in exp.search_edges(sw):
        console.print(f"[yellow]edge[/] {safe(edge.line())}", highlight=False, soft_wrap=True)
    if models.mixture is not None:
        show_models(models, m)
    elif best is not None:
        console.print(
            f"best: run {best['run']}, dev {m.fmt(best['dev_loss'])}; "
            f"`ngramlm finalize {best['run']}` is the one test evaluation"
        )


def show_importance(imp: dict[str, float], rows: list[dict[str, Any]]) -> None:
    if imp:
        finished = sum(r["status"] == "finished" for r in rows)
        caveat = (
            f" (from {finished} finished trials: a rough guide until there are {FEW_TRIALS})"
            if finished < FEW_TRIALS
            else ""
        )
        console.print(
            "importance (PED-ANOVA): "
            + ", ".join(f"{safe(k)} {v:.2f}" for k, v in imp.items())
            + caveat
        )


def show_models(models: SearchModels, m: Measure) -> None:
    """The search's best network, the count model it was mixed with and the mixture, side
    by side, and the one to finalize."""
    table = Table(title="what the search ends with (dev)")
    for col in ("", "run", "model", "dev loss", *(["dev ppl"] if m.perplexity else [])):
        table.add_column(col, justify="left" if col in ("", "model") else "right")
    roles = {"best trial": models.network, "count model": models.count, "mixture": models.mixture}
    for what, r in roles.items():
        if r is None:
            continue
        star = " ★" if models.best is not None and r.id == models.best.id else ""
        label = display.describe(r).label
        ppl = [m.fmt(r.dev_loss)] if m.perplexity else []
        table.add_row(what + star, str(r.id), safe(label), fmt_loss(r.dev_loss), *ppl)
    console.print(table)
    if models.best is not None:
        console.print(
            f"★ best: run {models.best.id}; `ngramlm finalize {models.best.id}` is the one "
            "test evaluation",
            highlight=False,
        )
