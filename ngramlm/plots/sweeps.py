"""A sweep's dev losses against its swept hyperparameter, and a search's best dev loss
over time and against each searched parameter."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ngramlm.errors import InputError
from ngramlm.measure import NATS, Measure
from ngramlm.plots.common import (
    DPI,
    WIDE,
    Plot,
    _done,
    _figure,
    _flat,
    _fmt,
    _write,
    count_model_line,
    log_axis,
)
from ngramlm.store.records import (
    RunRecord,
    SweepRecord,
)

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


def sweep_figure(
    sweep: SweepRecord, runs: Sequence[RunRecord], count_model: RunRecord | None = None
) -> Figure:
    """Dev loss against the swept hyperparameter, one line per value of the other grid
    keys; replicate seeds are averaged (their single values shown as small dots). The
    dataset's best ``count_model``, if given, is a labelled line to beat."""
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
    count_model_line(ax, count_model)
    _sweep_x_axis(ax, x_key, xs_all, numeric)
    seeds = max(len(v) for pts in lines.values() for v in pts.values())
    ax.set_ylabel(f"dev loss (mean of {seeds} seeds)" if seeds > 1 else "dev loss")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if line_keys or count_model is not None:
        ax.legend(fontsize="small")
    return _done(fig)


def sweep(
    sweep: SweepRecord, runs: Sequence[RunRecord], out: Path, count_model: RunRecord | None = None
) -> Plot:
    """``sweep_figure`` written to ``out``."""
    return _write(sweep_figure(sweep, runs, count_model), out)


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
    if numeric and x_key == "lr":  # the grid's rates labelled, and round ones between
        log_axis(ax, "x", [float(x) for x in xs])
        ax.set_xlabel("learning rate (log scale)")
        return
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
    count_model: RunRecord | None = None,
    edges: Mapping[str, tuple[float, str]] | None = None,
    m: Measure = NATS,
) -> Figure:
    """A search (``sweep --search``): the best finished dev loss against wall time (and
    any ``others``' best-so-far lines: (label, [(minutes, best dev)])), then dev loss
    against each searched parameter, finished trials filled, pruned ones hollow at the
    dev loss they stopped at. ``trials``: ``Experiments.search_trials``'s rows. The
    dataset's best ``count_model``, if given, is a line on each panel (named in the
    first's legend): whether the search beat it shows at a glance. ``edges``: a key whose
    best trials crowd against an end of its range, that end and the wider ``--space`` item
    to try (``stages.edges``): a dotted line at the end, the item in the panel's title.
    Dev losses as ``m`` shows them (perplexity for words)."""
    edges = edges or {}
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
    ax.step([t for t, _ in steps], [m.value(b) for _, b in steps], where="post",
            label="this search")  # fmt: skip
    for i, (label, line) in enumerate(others):
        ax.step(*zip(*line, strict=True), where="post", color=f"C{i + 1}", label=label)
    ax.set_xlabel("minutes")
    ax.set_ylabel(f"best dev {m.long}")
    ax.set_title(f"search {sweep.id}: best dev over time", fontsize="medium")
    ax.grid(True, alpha=0.3)
    count_model_line(ax, count_model, short=True, m=m)
    if others or count_model is not None:
        ax.legend(fontsize="small")
    for ax, key in zip(axes[1:], keys, strict=False):
        count_model_line(ax, count_model, labelled=False, m=m)
        for status, style in (("finished", "o"), ("pruned", "o")):
            pts = [(t[key], m.value(t["dev_loss"])) for t in scored if t["status"] == status]
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
                log_axis(ax, "x")
        ax.set_xlabel(key)
        ax.set_ylabel(f"dev {m.long}")
        ax.grid(True, alpha=0.3)
        if key in edges:
            end, wider = edges[key]
            ax.axvline(end, color="C3", linestyle=":", linewidth=1.5)
            ax.set_title(f"at its edge: try {wider}", fontsize="small", color="C3")
    axes[1 if len(axes) > 1 else 0].legend(fontsize="small")
    for ax in axes[len(keys) + 1 :]:
        ax.set_visible(False)
    return _done(fig)
