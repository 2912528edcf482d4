"""Loss curves (train and dev over steps, runs overlaid) and the learning-rate range
test (loss against lr, smoothed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

from ngramlm.errors import InputError
from ngramlm.measure import NATS, Measure
from ngramlm.plots.common import (
    WIDE,
    Plot,
    _differing_keys,
    _done,
    _figure,
    _write,
    log_axis,
    run_label,
)
from ngramlm.stages.report import counted, describe_model
from ngramlm.store.records import (
    MetricRecord,
    RunRecord,
)
from ngramlm.training.ema import ema

# --- loss curves -----------------------------------------------------------------------


def _losses(metrics: Sequence[MetricRecord], which: str) -> tuple[list[int], list[float]]:
    """Steps and values of ``which`` (train_loss or dev_loss) where it was evaluated."""
    pts = [(m.step, getattr(m, which)) for m in metrics if getattr(m, which) is not None]
    return [p[0] for p in pts], [float(p[1]) for p in pts]


X_AXES = ("step", "fraction")  # ``--x``: steps taken, or the fraction of the run's steps


def curves_figure(
    series: Sequence[tuple[RunRecord, Sequence[MetricRecord]]],
    *,
    log_x: bool = False,
    x: str = "step",
    m: Measure = NATS,
) -> Figure:
    """Train (dashed) and dev (solid) loss (``m``: perplexity for words) against step for
    each run, on a log y axis
    (the lecture plots log10 of the loss); one colour per run. ``x="fraction"`` aligns
    runs of different lengths by the fraction of their steps; ``log_x`` spreads the early
    steps. A count model (bigram, Kneser-Ney) has no steps: its losses are labelled
    horizontal lines beside the networks, a baseline to beat (alone it is refused). A
    curve of one evaluation is drawn as a marker."""
    if x not in X_AXES:
        raise InputError(f"--x must be one of {', '.join(X_AXES)}, got {x!r}")
    for run, metrics in series:
        _check_has_losses(run, metrics)
    if all(counted(r) for r, _ in series):
        ids = " ".join(str(r.id) for r, _ in series)
        raise InputError(
            f"run{'s' if len(series) > 1 else ''} {ids}: a count model has no training "
            f"curve, only its final losses; add a network run (`ngramlm plot curves {ids} "
            "NET`) or compare them with `ngramlm report --compare`"
        )
    keys = _differing_keys([r for r, _ in series])
    ids = ", ".join(str(r.id) for r, _ in series)
    title = f"run{'s' if len(series) > 1 else ''} {ids}: {m.long}"
    fig, ax = _figure(WIDE)
    baselines: list[tuple[float, str, str]] = []
    all_x: list[float] = []
    for i, (run, metrics) in enumerate(series):
        colour = f"C{i % 10}"
        label = run_label(run, keys)
        for which, style in (("dev_loss", "-"), ("train_loss", "--")):
            steps, nats = _losses(metrics, which)
            losses = [float(m.value(v) or 0.0) for v in nats]
            name = which.removesuffix("_loss")
            if steps and counted(run):
                ax.axhline(losses[-1], linestyle=style, color=colour, linewidth=1.2,
                           label=f"{label} {name}")  # fmt: skip
                baselines.append((losses[-1], f"run {run.id} {describe_model(run)} {name}", colour))
                continue
            xs: list[float] = [float(s) for s in steps]
            if x == "fraction":
                xs = [s / max(run.steps, 1) for s in xs]
            if log_x:  # step 0 has no place on a log axis
                kept = [(a, b) for a, b in zip(xs, losses, strict=True) if a > 0]
                xs, losses = [a for a, _ in kept], [b for _, b in kept]
            if len(xs) == 1:  # one evaluation: a line would not show; dev filled, train open
                face = colour if name == "dev" else "white"
                ax.plot(xs, losses, style, marker="o", markersize=7, color=colour,
                        markerfacecolor=face, label=f"{label} {name}")  # fmt: skip
            elif xs:
                ax.plot(xs, losses, style, color=colour, label=f"{label} {name}")
            all_x.extend(xs)
    log_axis(ax, "y")
    if log_x:
        log_axis(ax, "x")
    elif all_x and min(all_x) == max(all_x):  # every curve a single point: from 0 to past it
        ax.set_xlim(0, max(all_x) * 1.25 or 1)
    what = "fraction of the run's steps" if x == "fraction" else "step"
    ax.set_xlabel(what + (" (log scale)" if log_x else ""))
    ax.set_ylabel(f"{m.long} (log scale)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    _done(fig)
    _name_baselines(ax, baselines)  # after the layout: placed in the axes' final frame
    return fig


def curves(
    series: Sequence[tuple[RunRecord, Sequence[MetricRecord]]],
    out: Path,
    *,
    log_x: bool = False,
    x: str = "step",
    m: Measure = NATS,
) -> Plot:
    """``curves_figure`` written to ``out``."""
    return _write(curves_figure(series, log_x=log_x, x=x, m=m), out)


BASELINE_FONT = "small"


def _name_baselines(ax: Axes, baselines: Sequence[tuple[float, str, str]]) -> None:
    """Name each count model's line (value, text, colour) at the axes' right edge, just
    above it. Labels that would overlap (a bigram's train and dev losses often agree to
    four digits; two count models may lie close) are pushed apart upwards, then back
    down from the top edge: they never overlap. Call once the layout is final."""
    if not baselines:
        return
    ax.set_ylim(ax.get_ylim())  # fixed: the labels are spaced in this frame
    to_pt = 72 / ax.figure.dpi  # display pixels to points
    height = 1.4 * FontProperties(size=BASELINE_FONT).get_size_in_points()  # a line of text

    def line_pt(value: float) -> float:
        return float(ax.transData.transform((0.0, value))[1]) * to_pt

    order = sorted(range(len(baselines)), key=lambda i: line_pt(baselines[i][0]))
    wanted = [line_pt(baselines[i][0]) + 2 for i in order]  # each label's bottom, in points
    placed: list[float] = []
    for y in wanted:  # upwards: each at least a line above the one below
        placed.append(max(y, placed[-1] + height) if placed else y)
    ceiling = ax.bbox.y1 * to_pt - height
    for j in reversed(range(len(placed))):  # back down, from the top edge
        ceiling = min(placed[j], ceiling)
        placed[j], ceiling = ceiling, ceiling - height
    for i, y, base in zip(order, placed, wanted, strict=True):
        value, text, colour = baselines[i]
        ax.annotate(
            text,
            xy=(1.0, value),
            xycoords=("axes fraction", "data"),
            xytext=(-4, 2 + y - base),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize=BASELINE_FONT,
            color=colour,
        )


def _check_has_losses(run: RunRecord, metrics: Sequence[MetricRecord]) -> None:
    if run.kind == "lr_find":
        raise InputError(
            f"run {run.id} is an lr-find run: it has no train/dev curve; "
            f"plot it with `ngramlm plot lr-find {run.id}`"
        )
    if not any(m.train_loss is not None or m.dev_loss is not None for m in metrics):
        raise InputError(
            f"run {run.id} has no evaluated losses yet (status {run.status}, "
            f"{run.steps_done:,} steps done); plot it after its first evaluation"
        )


# --- the learning-rate range test ------------------------------------------------------


def lr_find_figure(run: RunRecord, metrics: Sequence[MetricRecord]) -> Figure:
    """Minibatch loss against the learning rate (log x axis), its EMA-smoothed curve,
    and the suggested rate as a vertical line."""
    if run.kind != "lr_find":
        raise InputError(
            f"run {run.id} is a {run.kind} run, not an lr-find run; "
            f"`ngramlm plot curves {run.id}` plots its losses"
        )
    pts = [(m.lr, m.batch_loss) for m in metrics if m.batch_loss is not None]
    if not pts:
        raise InputError(f"run {run.id} recorded no finite losses; rerun `ngramlm lr-find`")
    lrs = [p[0] for p in pts]
    losses = [float(p[1]) for p in pts]
    smoothed = ema(losses)
    suggested = run.extra.get("suggested_lr")
    title = f"run {run.id}: learning-rate range test ({len(pts)} steps)"
    fig, ax = _figure(WIDE)
    ax.plot(lrs, losses, color="C0", alpha=0.35, linewidth=0.8, label="minibatch loss")
    ax.plot(lrs, smoothed, color="C0", linewidth=2, label="smoothed (EMA)")
    if suggested is not None:
        ax.axvline(suggested, color="C3", linestyle=":", label=f"suggested lr {suggested:.3g}")
    _clip_divergence(ax, losses, smoothed)
    log_axis(ax, "x")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return _done(fig)


def lr_find(run: RunRecord, metrics: Sequence[MetricRecord], out: Path) -> Plot:
    """``lr_find_figure`` written to ``out``."""
    return _write(lr_find_figure(run, metrics), out)


def _clip_divergence(ax: Axes, losses: Sequence[float], smoothed: Sequence[float]) -> None:
    """Keep the interesting part readable: the loss explodes at the largest rates."""
    low = min(losses)
    high = min(max(losses), max(smoothed[0], min(smoothed)) * 1.5)
    if high > low:
        ax.set_ylim(low * 0.95, high)
