"""The embedding figure: each token at its embedding's first two coordinates (or
principal components), as in makemore part 2."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ngramlm.plots.common import SQUARE, Plot, _done, _figure, _write
from ngramlm.store.records import (
    RunRecord,
)

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
