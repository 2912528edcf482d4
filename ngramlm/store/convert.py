"""ORM rows to frozen records (and the new-run row)."""

from __future__ import annotations

import json
from typing import Any

from ngramlm.data.vocab import Vocab
from ngramlm.store.connection import utcnow
from ngramlm.store.records import (
    DatasetRecord,
    EvaluationRecord,
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


def new_run_row(
    *,
    dataset_id: int,
    kind: str,
    name: str | None,
    preset: str | None,
    config: dict[str, Any],
    config_hash: str,
    columns: dict[str, Any],
    device: str,
    host: str,
    pid: int,
    version: str,
) -> Run:
    """A new ``running`` run. ``columns`` are its family's hyperparameter columns (model,
    seed, block_size, n_embd, n_hidden, n_layers, batch_size, steps, optimizer, lr)."""
    now = utcnow()
    return Run(
        dataset_id=dataset_id,
        kind=kind,
        name=name,
        status="running",
        preset=preset,
        config=json.dumps(config, sort_keys=True),
        config_hash=config_hash,
        **columns,
        device=device,
        created_at=now,
        started_at=now,
        heartbeat_at=now,
        steps_done=0,
        host=host,
        pid=pid,
        version=version,
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
