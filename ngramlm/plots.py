"""Figures from stored runs: loss curves, the learning-rate range test, the character
embeddings and a sweep's dev losses (makemore part 2's plots).

The only importer of matplotlib. Every ``*_figure`` function takes plain records
(``ngramlm.store.records``) and returns a ``matplotlib.figure.Figure`` (what the Python
API hands to a notebook); ``curves``, ``lr_find``, ``embeddings`` and ``sweep`` write that
same figure to a file and return a ``Plot`` naming it (what ``ngramlm plot`` does). None
touches the Store. Figures are made without pyplot: no backend, no global figure list,
no display needed, and a notebook's own backend is left alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure as Figure  # re-exported: the API returns it
from matplotlib.ticker import FuncFormatter, NullFormatter

from ngramlm.errors import InputError
from ngramlm.stages.report import counted, describe_model, hyperparameters
from ngramlm.store.records import (
    MetricRecord,
    RunRecord,
    SweepRecord,
)
from ngramlm.training.ema import ema

FORMATS = (".png", ".svg", ".pdf")
DPI = 100
WIDE = (8.0, 5.0)  # inches: 800 x 500 px at DPI
SQUARE = (8.0, 8.0)  # the lecture's embedding figure
# Hyperparameters worth naming in a legend, in the order they are shown.
# Hyperparameters that may tell overlaid runs apart, the common ones first.
KEYS = (
    "block_size", "n_embd", "n_hidden", "n_layers", "batch_size", "lr", "seed", "init",
    "norm", "dropout", "direct", "optimizer", "steps", "lr_schedule", "decay_at",
    "decay_factor", "warmup", "weight_decay",
)  # fmt: skip
DEFAULT_KEYS = ("block_size", "n_embd", "n_hidden", "lr")
MAX_LABEL_KEYS = 4  # beyond this a legend no longer fits beside the plot


@dataclass(frozen=True)
class Plot:
    """A figure written to ``path``; ``title`` is the title it carries."""

    path: Path
    title: str


# --- output files ----------------------------------------------------------------------


def output_path(out: Path | None, default_stem: str) -> Path:
    """Where to write: ``out`` if given (its extension picks the format), else
    ``DEFAULT_STEM.png`` in the working directory. Refuses an unknown extension and a
    directory that does not exist, before anything is drawn."""
    if out is None:
        return Path(f"{default_stem}.png")
    if out.suffix.lower() not in FORMATS:
        raise InputError(
            f"--out {out}: unknown image format {out.suffix or '(no extension)'!r}; "
            f"end the name with {', '.join(FORMATS)}"
        )
    parent = out.parent
    if not parent.is_dir():
        raise InputError(f"--out {out}: the directory {parent} does not exist; create it first")
    return out


def _figure(size: tuple[float, float]) -> tuple[Figure, Axes]:
    """One figure with one axes, outside pyplot (nothing to close, no backend)."""
    fig = Figure(figsize=size, dpi=DPI)
    return fig, fig.add_subplot()


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` to ``path``, its format by the extension (see ``output_path``)."""
    fig.savefig(path, dpi=DPI, format=path.suffix.lower().lstrip("."))
    return path


def _done(fig: Figure) -> Figure:
    fig.tight_layout()
    return fig


def _write(fig: Figure, out: Path) -> Plot:
    return Plot(save(fig, out), fig.axes[0].get_title())


# --- labels ----------------------------------------------------------------------------


def _flat(run: RunRecord) -> dict[str, Any]:
    return hyperparameters(run)


def _fmt(value: Any) -> str:
    """A value for a label or a tick: floats to 3 significant digits (0.0316, 1e-05)."""
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def run_label(run: RunRecord, keys: Sequence[str] = DEFAULT_KEYS) -> str:
    """``run N (name)``, or ``run N (key=value ...)`` when the run has no name."""
    if run.name:
        return f"run {run.id} ({run.name})"
    if counted(run):
        return f"run {run.id} ({describe_model(run)})"
    flat = _flat(run)
    parts = [f"{k}={_fmt(flat[k])}" for k in keys if k in flat]
    if len(parts) > MAX_LABEL_KEYS:  # runs that differ in many ways: name the preset
        head = [f"preset {run.preset}"] if run.preset else []
        parts = head + parts[: MAX_LABEL_KEYS - len(head)] + ["…"]
    shown = " ".join(parts)
    return f"run {run.id} ({shown})" if shown else f"run {run.id}"


def _differing_keys(runs: Sequence[RunRecord]) -> tuple[str, ...]:
    """The hyperparameters that tell overlaid runs apart (the defaults when none do)."""
    flats = [_flat(r) for r in runs if not counted(r)]  # count models label themselves
    differ = tuple(k for k in KEYS if len({repr(f.get(k)) for f in flats}) > 1)
    return differ or DEFAULT_KEYS


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
) -> Figure:
    """Train (dashed) and dev (solid) loss against step for each run, on a log y axis
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
    title = f"run{'s' if len(series) > 1 else ''} {ids}: loss"
    fig, ax = _figure(WIDE)
    baselines: list[tuple[float, str, str]] = []
    all_x: list[float] = []
    for i, (run, metrics) in enumerate(series):
        colour = f"C{i % 10}"
        label = run_label(run, keys)
        for which, style in (("dev_loss", "-"), ("train_loss", "--")):
            steps, losses = _losses(metrics, which)
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
    ax.set_yscale("log")
    if log_x:
        ax.set_xscale("log")
    elif all_x and min(all_x) == max(all_x):  # every curve a single point: from 0 to past it
        ax.set_xlim(0, max(all_x) * 1.25 or 1)
    _plain_ticks(ax)
    for value, text, colour in baselines:  # named on the line itself, at the right edge
        ax.annotate(
            text,
            xy=(1.0, value),
            xycoords=("axes fraction", "data"),
            xytext=(-4, 3),
            textcoords="offset points",
            ha="right",
            va="bottom",
            fontsize="small",
            color=colour,
        )
    what = "fraction of the run's steps" if x == "fraction" else "step"
    ax.set_xlabel(what + (" (log scale)" if log_x else ""))
    ax.set_ylabel("loss (log scale)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return _done(fig)


def curves(
    series: Sequence[tuple[RunRecord, Sequence[MetricRecord]]],
    out: Path,
    *,
    log_x: bool = False,
    x: str = "step",
) -> Plot:
    """``curves_figure`` written to ``out``."""
    return _write(curves_figure(series, log_x=log_x, x=x), out)


def _plain_ticks(ax: Axes) -> None:
    """Loss values as plain numbers (2.5, not 2.5x10^0) on the log y axis. Late in
    training the losses span less than a decade, with no major tick to label, so the
    minor ticks carry the labels then (and only then, lest they crowd)."""
    low, high = ax.get_ylim()
    # Enough digits that neighbouring ticks differ: 3 usually, more over a narrow range.
    digits = 3 + max(0, min(3, int(-math.log10(max((high - low) / max(low, 1e-12), 1e-9)) - 1)))
    plain = FuncFormatter(lambda y, _pos: f"{y:.{digits}g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain if high < 10 * low else NullFormatter())


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
    ax.set_xscale("log")
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


# --- embeddings ------------------------------------------------------------------------


def project_2d(C: np.ndarray) -> tuple[np.ndarray, str]:
    """Two coordinates per row and a note on how they were made: the first two dimensions
    when n_embd is 2, else the top two principal components (SVD of the centred rows)."""
    n_embd = C.shape[1]
    if n_embd == 2:
        return C, "the first two dimensions"
    if n_embd == 1:
        return np.column_stack([C[:, 0], np.zeros(len(C))]), "1 dimension"
    centred = C - C.mean(axis=0)
    _, S, Vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ Vt[:2].T  # (V, 2)
    total = float((S**2).sum())
    share = float((S[:2] ** 2).sum()) / total if total > 0 else 1.0
    return xy, f"PCA of {n_embd} dims, 2 components explain {share:.0%}"


LABELLED = 40  # tokens named in an embedding figure: the first (commonest) ones


def embeddings_figure(run: RunRecord, chars: Sequence[str], C: np.ndarray) -> Figure:
    """The lecture's figure: each token's embedding (a row of C, (V, n_embd); index 0
    is the boundary) as a point in 2-D, named in dark text beside it. Of more than
    ``LABELLED`` tokens (a word vocabulary, commonest first) only the first are named."""
    xy, how = project_2d(C)
    named = min(len(chars), LABELLED)
    title = f"run {run.id}: embeddings ({how})"
    if named < len(chars):
        title += f"\nthe {named} commonest of the {len(chars)} tokens shown are named"
    fig, ax = _figure(SQUARE)
    ax.scatter(xy[:, 0], xy[:, 1], s=24, color="C0", alpha=0.7)
    for (x, y), ch in zip(xy[:named], chars[:named], strict=True):
        ax.annotate(
            ch,
            xy=(x, y),
            xytext=(4, 3),
            textcoords="offset points",
            fontsize="large" if len(ch) == 1 else "small",
            color="0.1",
        )
    ax.set_aspect("equal", adjustable="datalim")  # distances mean something
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    return _done(fig)


def embeddings(run: RunRecord, chars: Sequence[str], C: np.ndarray, out: Path) -> Plot:
    """``embeddings_figure`` written to ``out``."""
    return _write(embeddings_figure(run, chars, C), out)


# --- sweeps ----------------------------------------------------------------------------


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def sweep_axes(sweep: SweepRecord, runs: Sequence[RunRecord]) -> tuple[str, tuple[str, ...]]:
    """The swept key on the x axis (lr when it varies) and the keys that split lines."""
    keys = ["lr", *sweep.spec.get("grid", {})]
    flats = [_flat(r) for r in runs]
    varying = [k for k in keys if len({repr(f.get(k)) for f in flats}) > 1]
    if not varying:  # one finished point so far: name the grid's key when it has one
        return keys[0] if len(keys) == 1 else keys[1], ()
    return varying[0], tuple(varying[1:])


def sweep_figure(sweep: SweepRecord, runs: Sequence[RunRecord]) -> Figure:
    """Dev loss against the swept hyperparameter, one line per value of the other grid
    keys; replicate seeds are averaged (their single values shown as small dots)."""
    done = [r for r in runs if r.dev_loss is not None and math.isfinite(r.dev_loss)]
    if not done:
        raise InputError(
            f"sweep {sweep.id} has no finished run with a dev loss yet; wait for its "
            f"workers, or `ngramlm sweep --resume {sweep.id}` if they were stopped"
        )
    x_key, line_keys = sweep_axes(sweep, done)
    lines = _sweep_lines(done, x_key, line_keys)
    xs_all = sorted({x for pts in lines.values() for x in pts}, key=_sort_key)
    numeric = all(_is_number(x) for x in xs_all)
    pos = {x: (x if numeric else i) for i, x in enumerate(xs_all)}
    name = f" ({sweep.name})" if sweep.name else ""
    title = f"sweep {sweep.id}{name}: dev loss against {x_key}"
    fig, ax = _figure(WIDE)
    for i, values in enumerate(sorted(lines, key=lambda vs: [_sort_key(v) for v in vs])):
        pts = lines[values]
        xs = sorted(pts, key=_sort_key)
        colour = f"C{i % 10}"
        label = ", ".join(f"{k}={_fmt(v)}" for k, v in zip(line_keys, values, strict=True))
        means = [float(np.mean(pts[x])) for x in xs]
        ax.plot([pos[x] for x in xs], means, "o-", color=colour, label=label or None)
        for x in xs:
            if len(pts[x]) > 1:  # replicate seeds: show the spread behind the mean
                ax.plot([pos[x]] * len(pts[x]), pts[x], ".", color=colour, alpha=0.4)
    _sweep_x_axis(ax, x_key, xs_all, numeric)
    seeds = max(len(v) for pts in lines.values() for v in pts.values())
    ax.set_ylabel(f"dev loss (mean of {seeds} seeds)" if seeds > 1 else "dev loss")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if line_keys:
        ax.legend(fontsize="small")
    return _done(fig)


def sweep(sweep: SweepRecord, runs: Sequence[RunRecord], out: Path) -> Plot:
    """``sweep_figure`` written to ``out``."""
    return _write(sweep_figure(sweep, runs), out)


def _sort_key(v: Any) -> tuple[int, Any]:
    return (0, v) if _is_number(v) else (1, str(v))


def _sweep_lines(
    runs: Sequence[RunRecord], x_key: str, line_keys: Sequence[str]
) -> dict[tuple[Any, ...], dict[Any, list[float]]]:
    """``{values of line_keys: {x value: [dev losses of the replicates]}}``."""
    lines: dict[tuple[Any, ...], dict[Any, list[float]]] = {}
    for r in runs:
        flat = _flat(r)
        values = tuple(flat.get(k) for k in line_keys)
        lines.setdefault(values, {}).setdefault(flat.get(x_key), []).append(float(r.dev_loss or 0))
    return lines


def _sweep_x_axis(ax: Axes, x_key: str, xs: Sequence[Any], numeric: bool) -> None:
    if numeric and x_key == "lr":
        ax.set_xscale("log")
        ax.set_xlabel("learning rate (log scale)")
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.set_xlabel(x_key)
    if numeric:
        ax.set_xticks([float(x) for x in xs], [_fmt(x) for x in xs])
    else:
        ax.set_xticks(range(len(xs)), [_fmt(x) for x in xs])


# --- searches --------------------------------------------------------------------------


def search_figure(
    sweep: SweepRecord,
    trials: Sequence[dict[str, Any]],
    others: Sequence[tuple[str, Sequence[tuple[float, float]]]] = (),
) -> Figure:
    """A search (``sweep --search``): the best finished dev loss against wall time (and
    any ``others``' best-so-far lines: (label, [(minutes, best dev)])), then dev loss
    against each searched parameter, finished trials filled, pruned ones hollow at the
    dev loss they stopped at. ``trials``: ``Experiments.search_trials``'s rows."""
    keys = [t.partition("=")[0].strip().replace("-", "_") for t in sweep.spec["search"]["space"]]
    scored = [t for t in trials if t["dev_loss"] is not None and math.isfinite(t["dev_loss"])]
    if not any(t["status"] == "finished" for t in scored):
        raise InputError(
            f"search {sweep.id} has no finished trial yet; wait for its workers, or "
            f"`ngramlm sweep --resume {sweep.id}` if they were stopped"
        )
    cols = min(3, len(keys) + 1)
    rows = math.ceil((len(keys) + 1) / cols)
    fig = Figure(figsize=(4.0 * cols, 3.4 * rows), dpi=DPI)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    ax = axes[0]
    steps = sorted((t["minutes"], t["best_so_far"]) for t in scored if t["best_so_far"])
    ax.step([m for m, _ in steps], [b for _, b in steps], where="post", label="this search")
    for i, (label, line) in enumerate(others):
        ax.step(*zip(*line, strict=True), where="post", color=f"C{i + 1}", label=label)
    ax.set_xlabel("minutes")
    ax.set_ylabel("best dev loss")
    ax.set_title(f"search {sweep.id}: best dev over time", fontsize="medium")
    ax.grid(True, alpha=0.3)
    if others:
        ax.legend(fontsize="small")
    for ax, key in zip(axes[1:], keys, strict=False):
        for status, style in (("finished", "o"), ("pruned", "o")):
            pts = [(t[key], t["dev_loss"]) for t in scored if t["status"] == status]
            if pts:
                ax.plot(
                    *zip(*pts, strict=True),
                    style,
                    color="C0" if status == "finished" else "C3",
                    fillstyle="full" if status == "finished" else "none",
                    label=status,
                )
        if all(_is_number(t[key]) and t[key] > 0 for t in scored):
            values = [t[key] for t in scored]
            if max(values) / min(values) >= 10:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(key)
        ax.set_ylabel("dev loss")
        ax.grid(True, alpha=0.3)
    axes[1 if len(axes) > 1 else 0].legend(fontsize="small")
    for ax in axes[len(keys) + 1 :]:
        ax.set_visible(False)
    return _done(fig)
