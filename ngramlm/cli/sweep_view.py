"""A sweep's tables: the live one while it trains (``LiveSweep``) and its runs at the end."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.table import Table

from ngramlm.api import display
from ngramlm.cli.common import console, fmt_loss, print_json, safe
from ngramlm.measure import NATS, Measure

if TYPE_CHECKING:
    from ngramlm.api import RunRecord
    from ngramlm.api.progress import SweepStatus

GRID_KEYS = ("lr", "block_size", "n_embd", "n_hidden", "n_layers", "batch_size", "seed")
FAILED = 5  # failed points whose reason is printed under a table; --json has every one


def failure(run: int, error: str | None) -> str:
    """A failed point's line: its run and the reason it recorded (escaped: it may quote
    what a user typed)."""
    return f"run {run} failed: {safe(error or 'no reason recorded')}"


def swept_keys(st: SweepStatus) -> tuple[str, ...]:
    spec = st.sweep.spec
    if "search" in spec:  # the searched keys
        return tuple(t.partition("=")[0].replace("-", "_") for t in spec["search"]["space"])
    keys = ["lr", *spec.get("grid", {})]
    if spec.get("seeds", 1) > 1:
        keys.append("seed")
    return tuple(keys)


def _config_summary(config: dict[str, Any], keys: tuple[str, ...] = GRID_KEYS) -> str:
    return safe(display.config_summary(config, keys))


def time_left(deadline: float | None) -> str:
    """What is left of a search's budget (``M:SS left``); empty without one."""
    if deadline is None:
        return ""
    left = max(0.0, deadline - time.time())
    return f"{int(left // 60)}:{int(left % 60):02d} left" if left > 0 else "budget spent"


def tally(st: SweepStatus, deadline: float | None, m: Measure = NATS) -> str:
    """A search's progress in one line: time left, trials done / pruned / running (and
    those its budget stopped, or that failed), the best dev so far (``m``: nats, a word
    dataset's with its perplexity)."""
    parts = [time_left(deadline)] if deadline is not None else []
    counts = f"{st.done} done, {st.pruned} pruned, {len(st.active)} running"
    if st.budget_stopped:
        counts += f", {len(st.budget_stopped)} stopped by the budget"
    failed = sum(r.status == "failed" for r in st.runs)
    parts.append(counts + (f", {failed} failed" if failed else ""))
    best = st.best
    if best is not None and best.dev_loss is not None:
        parts.append(f"best dev {m.line(best.dev_loss)} (run {best.id})")
    return " · ".join(parts)


def trial_line(st: SweepStatus, run: RunRecord, deadline: float | None, m: Measure = NATS) -> str:
    """A finished (or stopped) trial's line where no live table shows (a log file): its
    number, its settings in short, its dev loss and state, then the search's ``tally``."""
    number = 1 + [r.id for r in st.runs].index(run.id)
    what = "trial" if "search" in st.sweep.spec else "point"
    if run.status == "finished":
        state, dev = "finished", run.dev_loss
    else:
        by_budget = run.id in {r.id for r in st.budget_stopped}
        stopped = "stopped by the budget" if by_budget else run.status
        state, dev = f"{stopped} at step {run.steps_done:,}", st.stopped_dev.get(run.id)
    settings = _config_summary(run.config, swept_keys(st))
    return (
        f"{what} {number} (run {run.id}) {safe(state)}: dev {m.line(dev)}; {settings} · "
        + tally(st, deadline, m)
    )


def live_table(st: SweepStatus, deadline: float | None = None, m: Measure = NATS) -> Table:
    table = Table.grid(padding=(0, 2))
    n = st.sweep.n_points
    done = st.done
    width = 30
    keys = swept_keys(st)
    search = st.sweep.spec.get("search")
    if search is not None:  # by the budget's time, else by the trials asked for
        budget, trials = search.get("budget_s"), search.get("trials")
        if deadline is not None and budget:
            share = 1.0 - max(0.0, deadline - time.time()) / budget
        else:
            share = len(st.runs) / trials if trials else 0.0
        full = int(width * min(1.0, max(0.0, share)))
        bar = "█" * full + "░" * (width - full)
        table.add_row(f"search {st.sweep.id}", bar, tally(st, deadline, m))
    else:
        full = int(width * done / max(1, n))
        bar = "█" * full + "░" * (width - full)
        best = st.best
        best_txt = (
            f"best dev {best.dev_loss:.4f} ({_config_summary(best.config, keys)})" if best else ""
        )
        table.add_row(f"sweep {st.sweep.id}", f"{bar} {done}/{n}", best_txt)
    for r in st.active:
        table.add_row(
            f"  run {r.id}", f"{r.steps_done:,}/{r.steps:,} steps", _config_summary(r.config, keys)
        )
    return table


def show(st: SweepStatus, as_json: bool) -> None:
    runs = sorted(st.runs, key=lambda r: (r.dev_loss is None, r.dev_loss or 0.0))
    best = st.best
    if as_json:
        print_json(
            {
                "sweep": st.sweep.id,
                "dataset": st.sweep.dataset,
                "points": st.sweep.n_points,
                "finished": st.done,
                "best_run": best.id if best else None,
                "runs": [
                    {
                        "run": r.id,
                        "status": r.status,
                        "config": r.config,
                        "train_loss": r.train_loss,
                        "dev_loss": r.dev_loss,
                        "train_seconds": r.train_seconds,
                        "error": r.error if r.status == "failed" else None,
                    }
                    for r in runs
                ],
            }
        )
        return
    table = Table(
        title=f"sweep {st.sweep.id} on {safe(st.sweep.dataset)}: "
        f"{st.done}/{st.sweep.n_points} finished"
    )
    for col in ("", "run", "status", "config", "train", "dev", "time"):
        table.add_column(col, justify="right" if col in ("train", "dev", "time", "run") else "left")
    keys = swept_keys(st)
    for r in runs:
        mark = "★" if best is not None and r.id == best.id else ""
        table.add_row(
            mark,
            str(r.id),
            safe(r.status),
            _config_summary(r.config, keys),
            fmt_loss(r.train_loss),
            fmt_loss(r.dev_loss),
            f"{r.train_seconds or 0:.1f}s",
        )
    console.print(table)
    failed = [r for r in runs if r.status == "failed"]
    for r in failed[:FAILED]:
        console.print(failure(r.id, r.error), highlight=False)
    if len(failed) > FAILED:
        console.print(f"… and {len(failed) - FAILED} more failed (report RUN shows each)")
    open_points = st.sweep.n_points - len(st.runs)
    if open_points or any(r.status in ("killed", "crashed") for r in st.runs):
        console.print(f"continue it with `ngramlm sweep --resume {st.sweep.id}`")
