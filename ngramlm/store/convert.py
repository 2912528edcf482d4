"""ORM rows to frozen records (and the new-run row)."""

from __future__ import annotations

import json
from typing import Any

from ngramlm.data.vocab import Vocab
from ngramlm.store.connection import utcnow
from ngramlm.store.records import (
    DatasetRecord,
    EvaluationRecord,
    NewRun,
    PointRecord,
    RunRecord,
    loads,
)
from ngramlm.store.tables import (
    Dataset,
    Evaluation,
    Run,
    SweepPoint,
)


def new_run_row(new: NewRun) -> Run:
    """A new ``running`` run's row; ``new.columns`` are its family's hyperparameter
    columns (model, seed, block_size, n_embd, n_hidden, n_layers, batch_size, steps,
    optimizer, lr, precision)."""
    now = utcnow()
    return Run(
        dataset_id=new.dataset_id,
        kind=new.kind,
        name=new.name,
        status="running",
        preset=new.preset,
        config=json.dumps(new.config, sort_keys=True),
        config_hash=new.config_hash,
        **new.columns,
        device=new.device,
        threads=new.threads,
        created_at=now,
        started_at=now,
        heartbeat_at=now,
        steps_done=0,
        host=new.host,
        pid=new.pid,
        version=new.version,
        sweep_id=new.sweep_id,
    )


def evaluation_record(e: Evaluation) -> EvaluationRecord:
    return EvaluationRecord(
        e.run_id, e.test_loss, e.n_examples, e.checkpoint_sha256, e.created_at, e.host
    )


def point_record(p: SweepPoint) -> PointRecord:
    return PointRecord(
        p.id, p.sweep_id, p.idx, json.loads(p.config), p.config_hash, p.group_key, p.run_id
    )


def dataset_record(r: Dataset) -> DatasetRecord:
    return DatasetRecord(
        id=r.id,
        name=r.name,
        sha256=r.sha256,
        source_path=r.source_path,
        seed=r.seed,
        vocab=Vocab(tuple(json.loads(r.vocab)), r.unit),
        n_words=r.n_words,
        n_train=r.n_train,
        n_dev=r.n_dev,
        n_test=r.n_test,
        n_duplicates=r.n_duplicates,
        created_at=r.created_at,
        min_count=r.min_count,
        split=r.split,
        tokenizer=r.tokenizer,
    )


# Column name -> record field, where they differ (every other column keeps its name).
RENAMED = {"status": "stored_status", "config": "config_json"}


def run_record(r: Run | Any, dataset: str) -> RunRecord:
    """A record from an ORM row or a Core row of the runs table (same attribute names)."""
    fields = {RENAMED.get(c.name, c.name): getattr(r, c.name) for c in Run.__table__.c}
    return run_record_from(fields, dataset)


def run_record_from(fields: dict[str, Any], dataset: str) -> RunRecord:
    """A record from the runs table's columns, named as the record's fields (``RENAMED``):
    the one way a ``RunRecord`` is built, from ORM rows and from ``Store.runs``' plain
    column rows alike."""
    return RunRecord(**{**fields, "dataset": dataset, "extra": loads(fields["extra"])})
