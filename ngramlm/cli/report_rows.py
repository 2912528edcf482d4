"""The runs table of ``ngramlm report`` (and of a sweep's runs): Rich, or ``--json``/``--csv``
rows, with the test evaluations spent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from ngramlm.api import Experiments, RunRecord, display
from ngramlm.cli.common import console, print_csv, print_json, safe
from ngramlm.measure import NATS, Measure, measure

DEFAULT_LIMIT = 50  # table rows; --json and --csv give every run unless --limit


def render_rows(
    exp: Experiments,
    runs: Sequence[RunRecord],
    rows: list[dict[str, Any]],
    as_json: bool,
    as_csv: bool,
    limit: int | None,
    total: int | None = None,
    nats: bool = False,
) -> None:
    spent = exp.test_evaluations_spent()
    if as_json:
        print_json({"runs": rows, "test_evaluations_spent": spent})
        return
    if as_csv:
        print_csv(display.FIELDS, rows)
        return
    shown = rows[: limit or DEFAULT_LIMIT]
    datasets = sorted({r["dataset"] for r in shown})
    many = len(datasets) > 1
    where = "" if many or not datasets else f" on {safe(datasets[0])}"
    total = len(rows) if total is None else total
    more = "; --limit N shows more" if len(shown) < total else ""
    table = Table(
        title=f"{len(shown)} of {total:,} runs{where} ({safe(exp.where)}){more}", pad_edge=False
    )
    columns = ["best", "run", "sweep", *(["dataset"] if many else []), "status", "model",
               "batch", "lr", "steps", "train", "dev", "gap", "test", "time"]  # fmt: skip
    for name in columns:
        table.add_column(
            name, justify="left" if name in ("dataset", "status", "model") else "right"
        )
    records = {r.id: r for r in runs}
    units = {d.name: d.unit for d in exp.datasets()}
    measures = {name: measure(units.get(name, "char"), nats) for name in datasets}
    current: object = object()
    families, marked = set(), False
    for r in shown:
        if r["sweep"] != current:  # each sweep's runs form a section of their own
            if table.row_count:
                table.add_section()
            current = r["sweep"]
        record = records[r["run"]]
        families.add(display.counted(record))
        marked |= r["last_eval_step"] is not None
        table.add_row(*cells(r, record, many, measures[r["dataset"]]))
    console.print(table)
    notes = display.legend(records[r["run"]] for r in shown)
    if marked:
        notes.append("*: the last evaluation of a run that did not finish (its step: --json)")
    if any(m.perplexity for m in measures.values()):
        which = "" if len(measures) == 1 else " (word datasets; characters in nats)"
        notes.append(f"train/dev/test: perplexity per word{which}, gap: dev ÷ train; --nats")
    console.print(
        "test evaluations spent: "
        + (", ".join(f"{name} {n}" for name, n in spent.items()) or "none"),
        highlight=False,
    )
    # what the model column's forms and the marks mean: those shown (its [xL] is text)
    console.print("; ".join([*notes, "★ best dev in its sweep"]), highlight=False, markup=False)
    if len(families) == 2 and not many:  # networks and count baselines
        console.print(
            f"MLPs beside the n-gram baselines, as Bengio et al.'s Table 1: "
            f"ngramlm report --compare --dataset {safe(datasets[0])}",
            highlight=False,
        )


STYLES = {"finished": "green", "crashed": "red", "failed": "red", "killed": "yellow",
          "running": "cyan"}  # fmt: skip


def cells(r: dict[str, Any], record: RunRecord, many: bool, m: Measure = NATS) -> list[str]:
    """A row of the table: a count model's network columns "—", an lr-find's model
    "lr-find" and its lr the one it suggests, an unfinished run's losses its last
    evaluation's, marked "*" (the gap between them with them); losses as ``m`` shows
    them (a word dataset's as perplexity)."""
    counted = display.counted(record)
    style = STYLES.get(r["status"], "")
    model = display.describe(record).short
    lr = f"{r['lr']:g}" if r["lr"] is not None else "—"
    if r["category"] == "lr-find":
        model = "lr-find"  # its model: report RUN
        suggested = record.extra.get("suggested_lr")
        lr = "—" if suggested is None else f"{suggested:.2g}"
    train, dev, mark = r["train_loss"], r["dev_loss"], ""
    if r["last_eval_step"] is not None:
        train, dev, mark = r["last_train_loss"], r["last_dev_loss"], "*"
    return [
        "★" if r["best_in_sweep"] else "",
        str(r["run"]),
        "" if r["sweep"] is None else str(r["sweep"]),
        *([safe(r["dataset"])] if many else []),
        f"[{style}]{r['status']}[/]" if style else safe(r["status"]),
        safe(model),
        "—" if counted else str(r["batch_size"]),
        "—" if counted else lr,
        "—" if counted else display.steps_shown(r["steps_done"], r["steps"]),
        m.fmt(train) + (mark if train is not None else ""),
        m.fmt(dev) + (mark if dev is not None else ""),
        m.gap(train, dev),
        m.fmt(r["test_loss"]),
        "—" if r["seconds"] is None else f"{r['seconds']:.0f}s",
    ]
