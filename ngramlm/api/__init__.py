"""The Python API: the store, its runs and their models, from a notebook or a script.

Everything ``ngramlm`` does on the command line is here as a method of ``Experiments``,
the handle on one store that ``open_store`` returns; the CLI itself calls these methods,
so both take one code path and keep the same guarantees::

    import ngramlm

    exp = ngramlm.open_store("sqlite:///ngramlm.db")  # default: $NGRAMLM_DB or ngramlm.db
    ds = exp.prepare()                                # the bundled names (.dataset)
    run = exp.train(ds, preset="default", steps=2000)  # recorded like `ngramlm train` (.run)
    exp.runs_frame()                                  # `report --csv`'s rows (pandas)
    model = exp.load_model(run)                       # a torch.nn.Module in eval mode
    exp.sample(run, n=5).words                        # ['emma', ...]
    exp.plot_curves(run)                              # a matplotlib Figure

Datasets, runs, curve points, sweeps and evaluations are the frozen records the store
returns (``DatasetRecord``, ``RunRecord``, ``MetricRecord``, ``SweepRecord``,
``EvaluationRecord``); what a call learnt besides comes as a result that carries them
(``prepare``: the dataset and its split's counts; ``train``: the run and its curve;
``sample``: the run and its marked words; ``finalize``: the run and its evaluation). A
run is given as its id, a ``RunRecord``, a result carrying it or ``"last"`` (the newest
training run); a dataset as its name, its record or ``prepare``'s result. Errors are the
CLI's: an ``NgramlmError`` whose message names the problem and the fix.

The test split stays locked: no function here returns test words, and ``finalize`` is
the only way to a test loss, once per run, ever, with the CLI's refusals.

torch, matplotlib and pandas are imported when a method needs them, never by
``import ngramlm``. pandas is optional: ``pip install 'ngramlm[pandas]'``.
"""

from __future__ import annotations

# Re-exported names (``X as X``: explicit for type checkers); ``ngramlm/__init__.py``
# lists them in its ``__all__`` and imports them from here on first use.
from ngramlm.api.experiments import Experiments as Experiments
from ngramlm.api.handle import KINDS as KINDS
from ngramlm.api.handle import MissingExtra as MissingExtra
from ngramlm.errors import NgramlmError as NgramlmError
from ngramlm.errors import WorkersDied as WorkersDied
from ngramlm.stages.finalize import AlreadyFinalized as AlreadyFinalized
from ngramlm.stages.finish import SearchModels as SearchModels
from ngramlm.stages.sample import Samples as Samples
from ngramlm.store.connection import DEFAULT_URL as DEFAULT_URL
from ngramlm.store.records import DatasetRecord as DatasetRecord
from ngramlm.store.records import EvaluationRecord as EvaluationRecord
from ngramlm.store.records import MetricRecord as MetricRecord
from ngramlm.store.records import RunRecord as RunRecord
from ngramlm.store.records import SweepRecord as SweepRecord


def open_store(url: str | None = None, *, read_only: bool = False) -> Experiments:
    """The store at ``url``, opened now (and created at the current schema if new).

    ``url`` is what the CLI's ``--db`` takes: ``sqlite:///FILE.db`` or
    ``postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB``; by default ``$NGRAMLM_DB``, else
    ``sqlite:///ngramlm.db`` in the working directory. Use it as a context manager, or
    call ``close()``, to release the connection. ``read_only``: an existing store, read
    and never written (nothing created, nothing migrated)."""
    exp = Experiments(url, read_only=read_only)
    exp.store  # noqa: B018 - open it now: a bad URL or an old schema fails here
    return exp
