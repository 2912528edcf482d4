"""``ngramlm report``: runs as a table, one run in depth, a sweep as a grid."""

from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.table import Table

from ngramlm.cli import options as o
from ngramlm.cli.common import console, fmt_loss, parse_id, print_json, run_id, store
from ngramlm.errors import InputError
from ngramlm.stages import report as core
from ngramlm.stages.prepare import check_name
from ngramlm.store import Store
from ngramlm.store.records import RunRecord

DEFAULT_LIMIT = 50  # table rows; --json and --csv give every run unless --limit


def register(app: typer.Typer) -> None:
    app.command(name="report")(report_cmd)


def report_cmd(
    ctx: typer.Context,
    run: Annotated[str | None, typer.Argument(help="One run in depth (id or last).")] = None,
    *,
    dataset: Annotated[str | None, typer.Option(help="Only this dataset's runs.")] = None,
    sweep: Annotated[str | None, typer.Option(help="One sweep, as a grid.")] = None,
    status: Annotated[str | None, typer.Option(help=", ".join(core.STATUSES))] = None,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare",
            help="The dataset's models side by side, as Bengio et al. 2003's Table 1: "
            "n-gram baselines, then MLPs by dev loss.",
        ),
    ] = False,
    sort: Annotated[str, typer.Option(help="dev, train, id or time.")] = "id",
    limit: Annotated[int | None, typer.Option(help="At most N runs.")] = None,
    as_json: o.Json = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
) -> None:
    """Runs, their hyperparameters and losses; a run's curve and diagnosis; a sweep's grid."""
    if sort not in core.SORTS:
        raise InputError(f"--sort must be one of {', '.join(core.SORTS)}, got {sort!r}")
    if status is not None and status not in core.STATUSES:
        raise InputError(f"--status must be one of {', '.join(core.STATUSES)}, got {status!r}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}")
    if as_json and as_csv:
        raise InputError("give --json or --csv, not both")
    if dataset is not None:
        check_name(dataset)
    sweep_id = parse_id(sweep, "sweep") if sweep is not None else None
    if compare and (run is not None or sweep_id is not None):
        raise InputError("--compare shows a dataset's models; drop the RUN or --sweep")
    if compare and (status is not None or sort != "id"):
        raise InputError(
            "--compare shows the finished models, baselines first and MLPs by dev loss; "
            "drop --status and --sort"
        )
    s = store(ctx)
    if compare:
        from ngramlm.stages.prepare import resolve_dataset

        ds = resolve_dataset(s, dataset) if dataset is not None else None
        compare_models(s, ds.id if ds else None, as_json, as_csv, limit)
    elif run is not None:
        one_run(s, run_id(s, run), as_json)
    elif sweep_id is not None:
        one_sweep(s, sweep_id, as_json, as_csv, status, sort, limit)
    elif status is None and sort == "id" and not (as_json or as_csv):
        page(s, dataset, limit or DEFAULT_LIMIT)
    else:
        from ngramlm.api import Experiments

        runs = Experiments(store=s).runs(dataset)  # the API's runs(), as report_rows
        rows = core.rows(runs, s.evaluations(), status=status, sort=sort, limit=limit)
        render_rows(s, runs, rows, as_json, as_csv, limit)


def page(s: Store, dataset: str | None, limit: int) -> None:
    """The table's default: the newest ``limit`` runs, read alone (a store of 10,000
    runs reports as fast as a small one), with their sweeps' members for the ★."""
    ds_id = s.dataset(dataset).id if dataset is not None else None
    runs = s.runs(dataset_id=ds_id, limit=limit)
    sweeps = sorted({r.sweep_id for r in runs if r.sweep_id is not None})
    best = core.best_per_sweep([m for sid in sweeps for m in s.sweep_runs(sid)])
    rows = core.rows(runs, s.evaluations(), best=best)
    render_rows(s, runs, rows, False, False, limit, total=s.count_runs(dataset_id=ds_id))


def render_rows(
    s: Store,
    runs: Sequence[RunRecord],
    rows: list[dict[str, Any]],
    as_json: bool,
    as_csv: bool,
    limit: int | None,
    total: int | None = None,
) -> None:
    spent = s.test_evaluations_spent()
    if as_json:
        print_json({"runs": rows, "test_evaluations_spent": spent})
        return
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(core.FIELDS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return
    shown = rows[: limit or DEFAULT_LIMIT]
    datasets = sorted({r["dataset"] for r in shown})
    many = len(datasets) > 1
    where = "" if many or not datasets else f" on {datasets[0]}"
    total = len(rows) if total is None else total
    more = "; --limit N shows more" if len(shown) < total else ""
    table = Table(title=f"{len(shown)} of {total:,} runs{where} ({s.where}){more}", pad_edge=False)
    columns = ["best", "run", "sweep", *(["dataset"] if many else []), "status", "model",
               "batch", "lr", "steps", "train", "dev", "gap", "test", "time"]  # fmt: skip
    for name in columns:
        table.add_column(
            name, justify="left" if name in ("dataset", "status", "model") else "right"
        )
    records = {r.id: r for r in runs}
    current: object = object()
    families = set()
    for r in shown:
        if r["sweep"] != current:  # each sweep's runs form a section of their own
            if table.row_count:
                table.add_section()
            current = r["sweep"]
        style = {"finished": "green", "crashed": "red", "failed": "red",
                 "killed": "yellow", "running": "cyan"}.get(r["status"], "")  # fmt: skip
        record = records[r["run"]]
        counted = core.counted(record)
        families.add(counted)
        model = core.describe(record).short
        table.add_row(
            "★" if r["best_in_sweep"] else "",
            str(r["run"]),
            "" if r["sweep"] is None else str(r["sweep"]),
            *([r["dataset"]] if many else []),
            f"[{style}]{r['status']}[/]" if style else r["status"],
            model,
            "—" if counted else str(r["batch_size"]),
            "—" if counted else f"{r['lr']:g}",
            "—" if counted else core.steps_shown(r["steps_done"], r["steps"]),
            fmt_loss(r["train_loss"]),
            fmt_loss(r["dev_loss"]),
            "—" if r["gap"] is None else f"{r['gap']:+.3f}",
            fmt_loss(r["test_loss"]),
            "—" if r["seconds"] is None else f"{r['seconds']:.0f}s",
        )
    console.print(table)
    console.print(
        "test evaluations spent: "
        + (", ".join(f"{name} {n}" for name, n in spent.items()) or "none")
        + "   (model: block_size/n_embd/n_hidden[xlayers], wn: WaveNet, kn-N: Kneser-Ney "
        "N-gram; "
        "★ best dev in its sweep)",
        highlight=False,
    )
    if len(families) == 2 and not many:  # networks and count baselines
        console.print(
            f"MLPs beside the n-gram baselines, as Bengio et al.'s Table 1: "
            f"ngramlm report --compare --dataset {datasets[0]}",
            highlight=False,
        )


def compare_models(
    s: Store, dataset_id: int | None, as_json: bool, as_csv: bool, limit: int | None
) -> None:
    runs = [r for r in s.runs(dataset_id=dataset_id, kind="train") if r.status == "finished"]
    names = sorted({r.dataset for r in runs})
    if len(names) > 1:
        raise InputError(
            f"--compare compares the models of one dataset; this store has {', '.join(names)}: "
            "add --dataset NAME"
        )
    rows = core.compare_rows(runs, s.evaluations())[:limit]
    if as_json:
        print_json({"dataset": names[0] if names else None, "models": rows})
        return
    if as_csv:
        writer = csv.DictWriter(
            sys.stdout, fieldnames=list(core.COMPARE_FIELDS), lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
        return
    table = Table(
        title=f"models on {names[0] if names else '—'} (as Bengio et al. 2003, Table 1)",
        pad_edge=False,
    )
    for name in ("run", "model", "n", "h", "m", "direct", "params", "train", "dev", "test",
                 "dev ppl", "test ppl", "time"):  # fmt: skip
        table.add_column(name, justify="left" if name == "model" else "right")
    previous = None
    for x in rows:
        network = x["params"] is not None  # count baselines first, then the networks
        if previous is not None and previous != network:
            table.add_section()
        previous = network

        def opt(v: object) -> str:
            return "—" if v is None else str(v)

        table.add_row(
            str(x["run"]),
            x["description"] + (f" ({x['preset']})" if x["preset"] else ""),
            str(x["n"]),
            opt(x["h"]),
            opt(x["m"]),
            "—" if x["direct"] is None else ("yes" if x["direct"] else "no"),
            "—" if x["params"] is None else f"{x['params']:,}",
            fmt_loss(x["train_loss"]),
            fmt_loss(x["dev_loss"]),
            fmt_loss(x["test_loss"]),
            f"{x['dev_perplexity']:.3f}",
            "—" if x["test_perplexity"] is None else f"{x['test_perplexity']:.3f}",
            "—" if x["seconds"] is None else f"{x['seconds']:.0f}s",
        )
    console.print(table)
    unit = s.dataset(names[0]).unit if names else "char"
    token = "word" if unit == "word" else "character"  # a word dataset's tokens: words
    console.print(
        f"losses in nats per {token}, perplexity per {token} (the headline figure for "
        "words); n: the order the model conditions on (context + 1); h: hidden units; "
        "m: embedding size",
        highlight=False,
    )


def one_run(s: Store, rid: int, as_json: bool) -> None:
    r = s.run(rid)
    metrics = s.metrics(rid)
    evaluation = s.evaluation(rid)
    ckpt = s.checkpoint(rid)
    findings = core.diagnose(r, metrics) if r.kind == "train" else []
    samples: list[tuple[str, str]] = []
    neighbours: list[tuple[str, list[tuple[str, float]]]] = []
    if ckpt is not None and r.kind == "train":
        from ngramlm.api import Experiments

        exp = Experiments(store=s)
        samples = list(exp.samples(rid, 8, 42).marked)
        if not core.counted(r) and s.dataset_by_id(r.dataset_id).unit == "word":
            neighbours = exp.neighbours(rid)
    if as_json:
        print_json(
            {
                **core.run_row(r, evaluation),
                "config": r.config,
                "error": r.error,
                "extra": r.extra,
                "curve": [m.__dict__ for m in metrics],
                "checkpoint": None
                if ckpt is None
                else {"step": ckpt.step, "sha256": ckpt.sha256, "bytes": len(ckpt.data)},
                "diagnosis": [f.__dict__ for f in findings],
                "samples": [{"word": w, "in": where} for w, where in samples],
                "neighbours": [
                    {"word": w, "nearest": [{"word": n, "cosine": c} for n, c in near]}
                    for w, near in neighbours
                ],
            }
        )
        return
    title = f"run {r.id}" + (f" ({r.name})" if r.name else "")
    console.print(f"[bold]{title}[/] on {r.dataset}: {r.kind}, [bold]{r.status}[/]")
    if r.error:
        console.print(f"  error: {r.error}", highlight=False)
    hp = Table.grid(padding=(0, 2))
    flat = core.shown_hyperparameters(r)
    items = sorted(flat.items())
    half = (len(items) + 1) // 2
    for left, right in zip(items[:half], [*items[half:], ("", "")], strict=False):
        hp.add_row(f"{left[0]}", str(left[1]), f"{right[0]}", str(right[1]))
    console.print(hp)
    if core.counted(r):
        what = (
            f"{r.extra['n_ngrams']:,} distinct {r.order}-grams counted"
            if "n_ngrams" in r.extra
            else "fitted"
        )
        console.print(
            f"{what} in {r.train_seconds or 0:.1f}s   host {r.host}   ngramlm {r.version}"
        )
    else:
        group = r.extra.get("group_members")
        shared = (
            f" (its share of {r.extra['group_seconds']:.1f}s: {group} runs trained as one "
            "batched model)"
            if group
            else ""
        )
        console.print(
            f"steps {r.steps_done:,} / {r.steps:,}   time {r.train_seconds or 0:.1f}s{shared} "
            f"on {r.device} ({r.precision or 'fp32'})   host {r.host}   ngramlm {r.version}",
            highlight=False,
        )
    if r.kind == "lr_find":
        losses = [m.batch_loss if m.batch_loss is not None else float("inf") for m in metrics]
        console.print(f"loss  {core.sparkline(losses[:: max(1, len(losses) // 60)])}")
        if r.extra:
            console.print(
                f"suggested lr {r.extra['suggested_lr']:.3g} ({r.extra['method']}); "
                f"plot: ngramlm plot lr-find {r.id}"
            )
        return
    console.print(
        f"losses: train {fmt_loss(r.train_loss)}   dev {fmt_loss(r.dev_loss)}   "
        f"test {fmt_loss(evaluation.test_loss) if evaluation else 'not finalized'}"
    )
    curve = [m for m in metrics if m.dev_loss is not None]
    if curve:
        dev = [m.dev_loss or 0.0 for m in curve]
        train = [m.train_loss or 0.0 for m in curve]
        console.print(
            f"dev   {dev[0]:.3f} {core.sparkline(dev)} {dev[-1]:.3f}   "
            f"(steps {curve[0].step:,}..{curve[-1].step:,})",
            highlight=False,
        )
        console.print(
            f"train {train[0]:.3f} {core.sparkline(train)} {train[-1]:.3f}", highlight=False
        )
    if ckpt is not None:
        console.print(
            f"checkpoint: step {ckpt.step:,}, {len(ckpt.data) / 1024:.0f} KiB safetensors, "
            f"sha256 {ckpt.sha256[:16]}…"
        )
    for f in findings:
        console.print(f"[bold]{f.rule}[/]: {f.message}", highlight=False)
    if samples:
        console.print(
            "samples: " + ", ".join(f"{w} ({where})" for w, where in samples), highlight=False
        )
    if neighbours:
        table = Table(title="nearest words by embedding (cosine)", pad_edge=False)
        table.add_column("word")
        table.add_column("nearest")
        for w, near in neighbours:
            table.add_row(w, ", ".join(f"{n} {c:.2f}" for n, c in near))
        console.print(table)


def one_sweep(
    s: Store,
    sweep_id: int,
    as_json: bool,
    as_csv: bool,
    status: str | None,
    sort: str,
    limit: int | None,
) -> None:
    sw = s.sweep(sweep_id)
    if "search" in sw.spec and not as_csv:  # trials ranked, best over time, importance
        from ngramlm.api import Experiments
        from ngramlm.cli.search import show_search

        show_search(Experiments(store=s), sweep_id, as_json)
        return
    runs = s.sweep_runs(sweep_id)
    rows = core.rows(runs, s.evaluations(), status=status, sort=sort, limit=limit)
    grid = core.sweep_grid(sw, runs)
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
            render_rows(s, runs, rows, False, True, limit)
        return
    averaged = grid.seeds > 1
    what = f"mean dev loss over {grid.seeds} seeds" if averaged else "dev loss"
    table = Table(title=f"sweep {sw.id} on {sw.dataset}: {what} by {grid.row_key}"
                  + (f" x {grid.col_key}" if grid.col_key else ""))  # fmt: skip
    table.add_column(grid.row_key, justify="right")
    for c in grid.col_values:
        table.add_column(f"{grid.col_key}={c}" if grid.col_key else "dev", justify="right")
    best_cell = grid.best_cell
    for rv in grid.row_values:
        cells = []
        for cv in grid.col_values:
            v = grid.cells.get((rv, cv))
            text = fmt_loss(v)
            cells.append(f"[bold green]{text} ★[/]" if (rv, cv) == best_cell else text)
        table.add_row(_g(rv), *cells)
    console.print(table)
    done = sum(r.status == "finished" for r in runs)
    console.print(f"{done}/{sw.n_points} points finished")
    if best_cell is not None and averaged:
        rv, cv = best_cell
        where = f"{grid.row_key}={_g(rv)}" + (f", {grid.col_key}={_g(cv)}" if grid.col_key else "")
        console.print(
            f"★ best setting: {where}, mean dev {fmt_loss(grid.cells[best_cell])} over "
            f"{grid.counts[best_cell]} seeds",
            highlight=False,
        )
    if grid.best is not None:
        console.print(
            ("best single run (one seed): " if averaged else "★ best: ")
            + f"run {grid.best.id}, dev {fmt_loss(grid.best.dev_loss)} "
            f"(train {fmt_loss(grid.best.train_loss)})",
            highlight=False,
        )


def _g(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)
