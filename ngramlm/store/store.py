"""The Store: the one object through which ngramlm reads and writes its database.

Every public method is one short transaction (``_tx``), the only commit/rollback
boundary, and returns frozen records (records.py), never ORM rows. On SQLite a write
transaction starts with ``BEGIN IMMEDIATE`` so that writers queue on the busy timeout
instead of failing with "database is locked" when a read lock cannot be upgraded; WAL
lets readers go on while one process writes.
"""

from __future__ import annotations

from ngramlm.store.connection import DEFAULT_URL, describe, make_engine, parse_url, utcnow
from ngramlm.store.datasets import DatasetsMixin
from ngramlm.store.evaluations import EvaluationsMixin
from ngramlm.store.runs import RunsMixin
from ngramlm.store.sweeps import SweepsMixin


class Store(DatasetsMixin, RunsMixin, SweepsMixin, EvaluationsMixin):
    """Opens (and on first use creates) the store at ``url``; one file per concern:
    base.py (engine, transactions, schema), datasets.py, runs.py, sweeps.py,
    evaluations.py."""


__all__ = ["DEFAULT_URL", "Store", "describe", "make_engine", "parse_url", "utcnow"]
