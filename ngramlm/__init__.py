"""ngramlm: neural n-gram language models (characters or words) with an experiment store.

The Python API (``ngramlm.api``, documented there and in README.md) is re-exported
here: ``ngramlm.open_store(url=None)`` returns an ``Experiments`` handle on a store;
``ngramlm.dashboard(url=None)`` serves one read-only in the browser (``ngramlm.web``).
The names are imported on first use (PEP 562), so ``import ngramlm`` (and the CLI's
start) stays free of torch, matplotlib and pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ngramlm.version import __version__

if TYPE_CHECKING:
    from ngramlm.api import (
        DEFAULT_URL,
        KINDS,
        AlreadyFinalized,
        DatasetRecord,
        EvaluationRecord,
        Experiments,
        MetricRecord,
        MissingExtra,
        NgramlmError,
        RunRecord,
        Samples,
        SearchModels,
        SweepRecord,
        WorkersDied,
        open_store,
    )
    from ngramlm.web import dashboard

__all__ = [
    "DEFAULT_URL",
    "KINDS",
    "AlreadyFinalized",
    "DatasetRecord",
    "EvaluationRecord",
    "Experiments",
    "MetricRecord",
    "MissingExtra",
    "NgramlmError",
    "RunRecord",
    "Samples",
    "SearchModels",
    "SweepRecord",
    "WorkersDied",
    "__version__",
    "dashboard",
    "open_store",
]


def __getattr__(name: str) -> Any:
    """The API's names, imported from ``ngramlm.api`` when first asked for."""
    if name in __all__ and name != "__version__":
        home = "ngramlm.web" if name == "dashboard" else "ngramlm.api"
        value = getattr(importlib.import_module(home), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ngramlm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
