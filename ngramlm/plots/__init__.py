"""Figures from stored runs: loss curves, the learning-rate range test, the character
embeddings and a sweep's dev losses (makemore part 2's plots).

The only importer of matplotlib. Every ``*_figure`` function takes plain records
(``ngramlm.store.records``) and returns a ``matplotlib.figure.Figure`` (what the Python
API hands to a notebook); ``curves``, ``lr_find``, ``embeddings`` and ``sweep`` write that
same figure to a file and return a ``Plot`` naming it (what ``ngramlm plot`` does). None
touches the Store. Figures are made without pyplot: no backend, no global figure list,
no display needed, and a notebook's own backend is left alone.

By figure: ``common.py`` (output files, labels, log-axis ticks), ``curves.py`` (loss
curves, lr-find), ``embeddings.py``, ``sweeps.py`` (a sweep's grid, a search's trials).
"""

from __future__ import annotations

from ngramlm.plots.common import DEFAULT_KEYS as DEFAULT_KEYS
from ngramlm.plots.common import FORMATS as FORMATS
from ngramlm.plots.common import KEYS as KEYS
from ngramlm.plots.common import MAX_LABEL_KEYS as MAX_LABEL_KEYS
from ngramlm.plots.common import MIN_TICKS as MIN_TICKS
from ngramlm.plots.common import Figure as Figure  # the API returns it
from ngramlm.plots.common import Plot as Plot
from ngramlm.plots.common import count_model_line as count_model_line
from ngramlm.plots.common import log_axis as log_axis
from ngramlm.plots.common import output_path as output_path
from ngramlm.plots.common import run_label as run_label
from ngramlm.plots.common import save as save
from ngramlm.plots.curves import X_AXES as X_AXES
from ngramlm.plots.curves import curves as curves
from ngramlm.plots.curves import curves_figure as curves_figure
from ngramlm.plots.curves import lr_find as lr_find
from ngramlm.plots.curves import lr_find_figure as lr_find_figure
from ngramlm.plots.embeddings import LABELLED as LABELLED
from ngramlm.plots.embeddings import embeddings as embeddings
from ngramlm.plots.embeddings import embeddings_figure as embeddings_figure
from ngramlm.plots.embeddings import project_2d as project_2d
from ngramlm.plots.sweeps import search_figure as search_figure
from ngramlm.plots.sweeps import sweep as sweep
from ngramlm.plots.sweeps import sweep_axes as sweep_axes
from ngramlm.plots.sweeps import sweep_figure as sweep_figure
