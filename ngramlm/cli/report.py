"""``ngramlm report``: runs as a table, one run in depth, a sweep as a grid."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ngramlm.api import Experiments, display
from ngramlm.cli import options as o
from ngramlm.cli.common import api, console, fmt_loss, parse_id, print_csv, print_json, safe
from ngramlm.cli.report_rows import DEFAULT_LIMIT, render_rows
from ngramlm.errors import InputError


def register(app: typer.Typer) -> None:
    app.command(name="report")(report_cmd)


def report_cmd(
    ctx: typer.Context,
    run: Annotated[str | None, typer.Argument(help="One run in depth (id or last).")] = None,
    *,
    dataset: Annotated[str | None, typer.Option(help="Only this dataset's runs.")] = None,
    sweep: Annotated[str | None, typer.Option(help="One sweep, as a grid.")] = None,
    status: Annotated[str | None, typer.Option(help=", ".join(display.STATUSES))] = None,
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
    nats: Annotated[
        bool,
        typer.Option(
            "--nats", help="Word datasets' losses in nats, not perplexity (--json: always nats)."
        ),
    ] = False,
) -> None:
    """Runs, their hyperparameters and losses; a run's curve and diagnosis; a sweep's grid."""
    if as_json and as_csv:
        raise InputError("give --json or --csv, not both")
    sweep_id = parse_id(sweep, "sweep") if sweep is not None else None
    if compare and (run is not None or sweep_id is not None):
        raise InputError("--compare shows a dataset's models; drop the RUN or --sweep")
    if compare and (status is not None or sort != "id"):
        raise InputError(
            "--compare shows the finished models, baselines first and MLPs by dev loss; "
            "drop --status and --sort"
        )
    exp = api(ctx)
    if compare:
        compare_models(exp, dataset, as_json, as_csv, limit)
    elif run is not None:
        from ngramlm.cli.report_run import one_run

        one_run(exp, run, as_json, nats)
    elif sweep_id is not None:
        from ngramlm.cli.report_sweep import one_sweep

        one_sweep(exp, sweep_id, as_json, as_csv, status, sort, limit, nats)
    elif status is None and sort == "id" and not (as_json or as_csv):
        # the table's default: the newest runs, read alone
        table = exp.report_page(dataset, DEFAULT_LIMIT if limit is None else limit)
        render_rows(exp, table.runs, table.rows, False, False, limit, total=table.total, nats=nats)
    else:
        table = exp.report_table(dataset, status=status, sort=sort, limit=limit)
        render_rows(exp, table.runs, table.rows, as_json, as_csv, limit, nats=nats)


def compare_models(
    exp: Experiments, dataset: str | None, as_json: bool, as_csv: bool, limit: int | None
) -> None:
    comparison = exp.compare(dataset, limit)
    rows = comparison.models
    if as_json:
        print_json({"dataset": comparison.dataset, "models": rows})
        return
    if as_csv:
        print_csv(display.COMPARE_FIELDS, rows)
        return
    table = Table(
        title=f"models on {safe(comparison.dataset or '—')} (as Bengio et al. 2003, Table 1)",
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
            return "—" if v is None else safe(v)

        table.add_row(
            str(x["run"]),
            safe(x["description"] + (f" ({x['preset']})" if x["preset"] else "")),
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
    token = "word" if comparison.unit == "word" else "character"  # a word dataset's tokens: words
    console.print(
        f"losses in nats per {token}, perplexity per {token} (the headline figure for "
        "words); n: the order the model conditions on (context + 1); h: hidden units; "
        "m: embedding size",
        highlight=False,
    )
