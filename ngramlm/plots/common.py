"""What every figure shares: the output files (formats, sizes, the ``Plot`` written)
and the labels that tell runs apart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ngramlm import outputs
from ngramlm.errors import InputError
from ngramlm.stages.report import counted, describe_model, hyperparameters
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
