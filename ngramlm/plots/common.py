"""What every figure shares: the output files (formats, sizes, the ``Plot`` written),
the labels that tell runs apart, and the ticks of a log axis (``log_axis``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, Locator, LogLocator, MaxNLocator, NullFormatter

from ngramlm import outputs
from ngramlm.errors import InputError
from ngramlm.measure import NATS, Measure
from ngramlm.stages.report import counted, describe, describe_model, hyperparameters
from ngramlm.store.records import (
    RunRecord,
)

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


def output_path(out: Path | None, default_stem: str, *, force: bool = False) -> Path:
    """Where to write: ``out`` if given (its extension picks the format), else
    ``DEFAULT_STEM.png`` in the working directory. Refuses, before anything is drawn, an
    unknown extension and what ``outputs.check_target`` refuses (a missing directory, a
    directory, a device; an existing file without ``force``)."""
    path = Path(f"{default_stem}.png") if out is None else out
    if path.suffix.lower() not in FORMATS:
        raise InputError(
            f"--out {path}: unknown image format {path.suffix or '(no extension)'!r}; "
            f"end the name with {', '.join(FORMATS)}"
        )
    outputs.check_target(path, force=force, option="--out")
    return path


def _figure(size: tuple[float, float]) -> tuple[Figure, Axes]:
    """One figure with one axes, outside pyplot (nothing to close, no backend)."""
    fig = Figure(figsize=size, dpi=DPI)
    return fig, fig.add_subplot()


def save(fig: Figure, path: Path, *, force: bool = False) -> Path:
    """Write ``fig`` to ``path``, its format by the extension (see ``output_path``),
    whole or not at all (``outputs.write_file``: an existing file only with ``force``)."""
    fmt = path.suffix.lower().lstrip(".")
    return outputs.write_file(
        path, lambda tmp: fig.savefig(tmp, dpi=DPI, format=fmt), force=force, option="--out"
    )


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


def count_model_line(
    ax: Axes,
    run: RunRecord | None,
    *,
    labelled: bool = True,
    short: bool = False,
    m: Measure = NATS,
) -> None:
    """The dataset's best count model (``stages.report.best_count_model``) as a grey
    dash-dot line at its dev loss, named in the legend (``labelled``; by the report's
    short model name, ``kn-3``, when ``short``, for a small panel): the baseline a
    search or sweep must beat, in ``m``'s terms (perplexity for words). Nothing when
    there is none."""
    if run is None or run.dev_loss is None:
        return
    what = describe(run).short if short else describe_model(run)
    label = f"run {run.id} {what}: dev {m.fmt(run.dev_loss)}"
    ax.axhline(m.value(run.dev_loss) or 0.0, color="0.35", linestyle="-.", linewidth=1.2,
               label=label if labelled else None)  # fmt: skip


# --- log axes --------------------------------------------------------------------------

LABEL_PT = 10.0  # matplotlib's default tick label size (points)
PX_PER_TICK = {True: 60, False: 35}  # at most one labelled tick per so many pixels (x, y)
MIN_TICKS = 3  # labelled ticks on any log axis: enough to read a value between them


def log_axis(ax: Axes, which: str = "x", values: Sequence[float] = ()) -> None:
    """Put ``ax``'s ``which`` axis ("x" or "y") on a log scale whose ticks a reader can
    read values from: at least ``MIN_TICKS`` labelled ticks over any range, as plain
    numbers (``0.01 0.02 0.05``, ``500 1k 2k``, never ``10^-2`` alone). Under a decade
    they are evenly spaced round numbers (``2.2 2.4 2.6``); over more, 1-2-5 per decade,
    else every decade (or every k-th), the densest whose labels keep apart at the axis'
    size in pixels. ``values`` (a sweep's grid points) are always labelled: three or
    more alone, fewer joined by the ticks around them. Unlabelled minor ticks (2..9 per
    decade) stay for the grid lines. Every figure's log axis goes through here."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    if which == "x":
        ax.set_xscale("log")
    else:
        ax.set_yscale("log")
    axis.set_major_locator(_ReadableLogLocator(ax, which == "x", values))
    axis.set_major_formatter(_PlainFormatter())
    axis.set_minor_locator(LogLocator(base=10.0, subs=tuple(range(2, 10)), numticks=100))
    axis.set_minor_formatter(NullFormatter())


def plain_labels(ticks: Sequence[float]) -> list[str]:
    """Tick labels as plain numbers, with the fewest significant digits (3 to 9) that
    tell neighbours apart: ``0.05``, ``2.35``, thousands as ``1k``/``2.5k``, millions
    as ``1M``."""
    for digits in range(3, 10):
        labels = [_plain(t, digits) for t in ticks]
        if len(set(labels)) == len(labels):
            break
    return labels


def _plain(value: float, digits: int) -> str:
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if scale <= abs(value) < 1e9:
            return f"{value / scale:.{digits}g}{suffix}"
    return f"{value:.{digits}g}"


class _PlainFormatter(Formatter):
    """``plain_labels`` for the ticks the axis shows."""

    def __init__(self) -> None:
        self._labels: dict[float, str] = {}

    def set_locs(self, locs: list[float]) -> None:
        super().set_locs(locs)
        self._labels = dict(zip(locs, plain_labels(locs), strict=True))

    def __call__(self, x: float, pos: int | None = None) -> str:
        return self._labels.get(x) or plain_labels([x])[0]


def _per_decade(low: float, high: float, mantissas: Sequence[int]) -> list[float]:
    """``m * 10**e`` for each mantissa and decade, within [low, high]."""
    out = []
    for e in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1):
        out += [m * 10.0**e for m in mantissas]
    return [round(t, 12 - math.floor(math.log10(t))) for t in out if low <= t <= high]


class _ReadableLogLocator(Locator):
    """``log_axis``' choice of major ticks, remade whenever the view changes."""

    def __init__(self, ax: Axes, horizontal: bool, values: Sequence[float]) -> None:
        self.ax = ax
        self.horizontal = horizontal
        self.values = sorted({float(v) for v in values if v > 0})

    def __call__(self) -> Sequence[float]:
        axis = self.ax.xaxis if self.horizontal else self.ax.yaxis
        low, high = axis.get_view_interval()
        return self.tick_values(low, high)

    def _length_px(self) -> float:
        """The axis' length in pixels, where the axes are now."""
        return float(self.ax.bbox.width if self.horizontal else self.ax.bbox.height)

    def _fit(self, ticks: Sequence[float], low: float, high: float) -> bool:
        """Whether the ticks' labels leave a gap between neighbours at this axis' size."""
        if len(ticks) > max(MIN_TICKS, self._length_px() / PX_PER_TICK[self.horizontal]):
            return False  # fits, but too busy to read
        if len(ticks) < 2:
            return True
        dpi = float(self.ax.figure.dpi)
        size = LABEL_PT * dpi / 72  # px
        per_decade = self._length_px() / max(math.log10(high / low), 1e-12)
        labels = plain_labels(ticks)
        for i in range(len(ticks) - 1):
            room = math.log10(ticks[i + 1] / ticks[i]) * per_decade
            chars = (len(labels[i]) + len(labels[i + 1])) / 2
            need = 0.65 * size * chars + size if self.horizontal else 1.5 * size
            if room < need:
                return False
        return True

    def tick_values(self, vmin: float, vmax: float) -> Sequence[float]:
        low, high = sorted((vmin, vmax))
        if not (math.isfinite(low) and math.isfinite(high)) or high <= 0:
            return []
        low = low if low > 0 else high / 1000
        if high / low < 1 + 1e-9:
            return [low]
        inside = [v for v in self.values if low <= v <= high]
        if len(inside) >= MIN_TICKS and self._fit(inside, low, high):
            return inside
        if high / low < 10:  # under a decade: evenly spaced round numbers
            linear = self._linear(low, high, inside)
            if len(linear) >= MIN_TICKS:
                return linear
        decades = _per_decade(low, high, (1,))
        sets = [_per_decade(low, high, (1, 2, 5))]
        sets += [decades[::k] for k in range(1, len(decades) + 1)]  # every k-th decade
        merged = [sorted(set(s) | set(inside)) for s in sets]  # densest first
        for ticks in merged:
            if len(ticks) >= MIN_TICKS and self._fit(ticks, low, high):
                return ticks
        # No room for three: the fewest that make three (a very small axes).
        return min((t for t in merged if len(t) >= MIN_TICKS), key=len, default=merged[0])

    def _linear(self, low: float, high: float, inside: Sequence[float]) -> list[float]:
        """Under a decade: evenly spaced round numbers, as many as fit (at least 3; the
        fewest that make 3 when none fit)."""
        fallback: list[float] = []
        for bins in range(8, 1, -1):
            ticks = MaxNLocator(nbins=bins, steps=[1, 2, 5, 10]).tick_values(low, high)
            kept = sorted({float(t) for t in ticks if low <= t <= high} | set(inside))
            if len(kept) >= MIN_TICKS and self._fit(kept, low, high):
                return kept
            fallback = kept if len(kept) >= MIN_TICKS or not fallback else fallback
        return fallback
