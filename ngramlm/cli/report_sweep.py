"""``ngramlm report --sweep ID``: a grid sweep's dev losses as a table (a search's
trials ranked: ``cli/search.py``)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from ngramlm.api import Experiments
from ngramlm.cli.common import console, measure_of, print_json, safe
from ngramlm.cli.report_rows import render_rows


def one_sweep(
    exp: Experiments,
    sweep_id: int,
    as_json: bool,
    as_csv: bool,
    status: str | None,
    sort: str,
    limit: int | None,
    nats: bool = False,
) -> None:
    sw = exp.sweep_record(sweep_id)
    if "search" in sw.spec and not as_csv:  # trials ranked, best over time, importance
        from ngramlm.cli.search import show_search

        show_search(exp, sweep_id, as_json, nats)
        return
    m = measure_of(exp, sw.dataset, nats)
    report = exp.sweep_report(sw, status=status, sort=sort, limit=limit)
    runs, rows, grid = report.runs, report.rows, report.grid
    if as_json or as_csv:
        if as_json:
            print_json(
                {
                    "sweep": sw.id,
                    "dataset": sw.dataset,
                    "points": sw.n_points,
                    "spec": sw.spec,
                    "best_run": grid.best.id if grid.best else None,
                    "best_setting": None
                    if grid.best_cell is None
                    else {
                        grid.row_key: grid.best_cell[0],
                        **({grid.col_key: grid.best_cell[1]} if grid.col_key else {}),
                        "mean_dev_loss": grid.cells[grid.best_cell],
                        "seeds": grid.counts[grid.best_cell],
                    },
                    "runs": rows,
                }
            )
        else:
            render_rows(exp, runs, rows, False, True, limit, nats=nats)
        return
    averaged = grid.seeds > 1
    what = f"mean dev {m.long} over {grid.seeds} seeds" if averaged else f"dev {m.long}"
    table = Table(title=f"sweep {sw.id} on {safe(sw.dataset)}: {what} by {safe(grid.row_key)}"
                  + (f" x {safe(grid.col_key)}" if grid.col_key else ""))  # fmt: skip
    table.add_column(safe(grid.row_key), justify="right")
    for c in grid.col_values:
        table.add_column(safe(f"{grid.col_key}={c}") if grid.col_key else "dev", justify="right")
    best_cell = grid.best_cell
    for rv in grid.row_values:
        cells = []
        for cv in grid.col_values:
            v = grid.cells.get((rv, cv))
            text = m.fmt(v)
            cells.append(f"[bold green]{text} ★[/]" if (rv, cv) == best_cell else text)
        table.add_row(_g(rv), *cells)
    console.print(table)
    done = sum(r.status == "finished" for r in runs)
    console.print(f"{done}/{sw.n_points} points finished")
    if best_cell is not None and averaged:
        rv, cv = best_cell
        where = f"{safe(grid.row_key)}={_g(rv)}" + (
            f", {safe(grid.col_key)}={_g(cv)}" if grid.col_key else ""
        )
        console.print(
            f"★ best setting: {where}, mean dev {m.fmt(grid.cells[best_cell])} over "
            f"{grid.counts[best_cell]} seeds",
            highlight=False,
        )
    if grid.best is not None:
        console.print(
            ("best single run (one seed): " if averaged else "★ best: ")
            + f"run {grid.best.id}, dev {m.fmt(grid.best.dev_loss)} "
            f"(train {m.fmt(grid.best.train_loss)})",
            highlight=False,
        )


def _g(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else safe(v)
