"""``ngramlm report RUN``: one run in depth (its settings, curve, diagnosis, samples
and, for a word network, nearest words)."""

from __future__ import annotations

from rich.table import Table

from ngramlm.api import Experiments, RunRecord, display
from ngramlm.api.reports import RunReport
from ngramlm.cli.common import console, measure_of, print_json, safe


def one_run(exp: Experiments, run: str, as_json: bool, nats: bool = False) -> None:
    detail = exp.run_report(run)
    if as_json:
        print_json(as_dict(detail))
        return
    r = detail.run
    m = measure_of(exp, r.dataset, nats)
    title = f"run {r.id}" + (f" ({safe(r.name)})" if r.name else "")
    console.print(f"[bold]{title}[/] on {safe(r.dataset)}: {r.kind}, [bold]{r.status}[/]")
    if r.error:
        console.print(f"  error: {safe(r.error, lines=True)}", highlight=False)
    settings(r)
    if r.kind == "lr_find":
        lr_find(detail)
        return
    evaluation = detail.evaluation
    console.print(
        f"losses: train {m.line(r.train_loss)}   dev {m.line(r.dev_loss)}   "
        f"test {m.line(evaluation.test_loss) if evaluation else 'not finalized'}"
    )
    last = display.last_evaluation(detail.curve)
    if r.train_loss is None and last is not None:  # a run that did not finish
        console.print(
            f"  its last evaluation, at step {last.step:,}: train {m.line(last.train_loss)}"
            f"   dev {m.line(last.dev_loss)}"
        )
    sampled = r.extra.get("final_sample") or {}
    if sampled:  # a split past the size the final evaluation measures whole
        console.print(
            "  measured on a fixed sample: "
            + "; ".join(f"{split} {k:,} of {n:,} targets" for split, (k, n) in sampled.items()),
            highlight=False,
        )
    curves(detail)
    ckpt = detail.checkpoint
    if ckpt is not None:
        console.print(
            f"checkpoint: step {ckpt['step']:,}, {ckpt['bytes'] / 1024:.0f} KiB safetensors, "
            f"sha256 {ckpt['sha256'][:16]}…"
        )
    for f in detail.diagnosis:
        console.print(f"[bold]{safe(f.rule)}[/]: {safe(f.message)}", highlight=False)
    what_it_learnt(detail)


def as_dict(detail: RunReport) -> dict[str, object]:
    """``report RUN --json``."""
    r = detail.run
    return {
        **display.run_row(r, detail.evaluation, last=display.last_evaluation(detail.curve)),
        **{key: getattr(r, key) for key in ("config", "error", "extra")},
        "curve": [m.__dict__ for m in detail.curve],
        "checkpoint": detail.checkpoint,
        "diagnosis": [f.__dict__ for f in detail.diagnosis],
        "samples": [{"word": w, "in": where} for w, where in detail.samples],
        "neighbours": [
            {"word": w, "nearest": [{"word": n, "cosine": c} for n, c in near]}
            for w, near in detail.neighbours
        ],
    }


def settings(r: RunRecord) -> None:
    """The run's hyperparameters in two columns, then how long it took where."""
    hp = Table.grid(padding=(0, 2))
    items = sorted(display.shown_hyperparameters(r).items())
    half = (len(items) + 1) // 2
    for left, right in zip(items[:half], [*items[half:], ("", "")], strict=False):
        hp.add_row(safe(left[0]), setting(left[1]), safe(right[0]), setting(right[1]))
    console.print(hp)
    if display.counted(r):
        n = r.extra.get("n_ngrams")
        if isinstance(n, list):  # an imported ARPA file's, per order
            what = ", ".join(f"{k:,} {i}-grams" for i, k in enumerate(n, 1)) + " read"
        else:
            what = "fitted" if n is None else f"{n:,} distinct {r.order}-grams counted"
        console.print(
            f"{what} in {r.train_seconds or 0:.1f}s   host {safe(r.host)}   "
            f"ngramlm {safe(r.version)}"
        )
        return
    group = r.extra.get("group_members")
    shared = (
        f" (its share of {r.extra['group_seconds']:.1f}s: {group} runs trained as one "
        "batched model)"
        if group
        else ""
    )
    console.print(
        f"steps {r.steps_done:,} / {r.steps:,}   time {r.train_seconds or 0:.1f}s{shared} "
        f"on {safe(r.device)} ({safe(r.precision or 'fp32')}{threads_of(r)})   "
        f"host {safe(r.host)}   "
        f"ngramlm {safe(r.version)}",
        highlight=False,
    )


def setting(value: object) -> str:
    """A setting as a person reads it: a float to 4 significant digits (a searched dropout
    of 0.4301880624845841 shows as 0.4302; ``--json`` keeps every digit)."""
    return safe(f"{value:.4g}" if isinstance(value, float) else value)


def lr_find(detail: RunReport) -> None:
    r = detail.run
    losses = [m.batch_loss if m.batch_loss is not None else float("inf") for m in detail.curve]
    console.print(f"loss  {display.sparkline(losses[:: max(1, len(losses) // 60)])}")
    if r.extra:
        console.print(
            f"suggested lr {r.extra['suggested_lr']:.3g} ({safe(r.extra['method'])}); "
            f"plot: ngramlm plot lr-find {r.id}"
        )


def curves(detail: RunReport) -> None:
    curve = [m for m in detail.curve if m.dev_loss is not None]
    if not curve:
        return
    # The initial weights' loss (step 0) sits far above the rest: drawn with it, every
    # later point would land on the lowest block. It is printed, the line drawn after it.
    first = 1 if len(curve) > 2 and curve[0].step == 0 else 0
    steps = f"(steps {curve[first].step:,}..{curve[-1].step:,})"
    for label, losses in (
        ("dev  ", [m.dev_loss or 0.0 for m in curve]),
        ("train", [m.train_loss or 0.0 for m in curve]),
    ):
        start = f"{losses[0]:.3f} at step 0, then " if first else ""
        line = display.sparkline(losses[first:])
        console.print(
            f"{label} {start}{losses[first]:.3f} {line} {losses[-1]:.3f}   {steps}",
            highlight=False,
        )


def what_it_learnt(detail: RunReport) -> None:
    """Its samples, marked, and a word network's nearest words."""
    if detail.samples and any(" " in w for w, _ in detail.samples):  # sentences: a line each
        console.print("samples:")
        for w, where in detail.samples:
            console.print(f"  {safe(w)} ({where})", highlight=False, soft_wrap=True)
    elif detail.samples:
        console.print(
            "samples: " + ", ".join(f"{safe(w)} ({where})" for w, where in detail.samples),
            highlight=False,
        )
    if detail.neighbours:
        table = Table(title="nearest words by embedding (cosine)", pad_edge=False)
        table.add_column("word")
        table.add_column("nearest")
        for w, near in detail.neighbours:
            table.add_row(safe(w), ", ".join(f"{safe(n)} {c:.2f}" for n, c in near))
        console.print(table)


def threads_of(r: RunRecord) -> str:
    """ ", 2 threads" for a run that recorded its torch threads; nothing otherwise."""
    if r.threads is None:
        return ""
    return f", {r.threads} thread{'s' if r.threads != 1 else ''}"
