"""ORM rows to frozen records (and the new-run row)."""

from __future__ import annotations

import json
from typing import Any

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
        vocab=tuple(json.loads(r.vocab)),
        n_words=r.n_words,
        n_train=r.n_train,
        n_dev=r.n_dev,
        n_test=r.n_test,
        n_duplicates=r.n_duplicates,
        created_at=r.created_at,
        unit=r.unit,
        min_count=r.min_count,
        split=r.split,
    )


def run_record(r: Run | Any, dataset: str) -> RunRecord:
    """A record from an ORM row or a Core row of the runs table (same attribute names)."""
    return RunRecord(
        id=r.id,
        dataset_id=r.dataset_id,
        dataset=dataset,
        kind=r.kind,
        name=r.name,
        stored_status=r.status,
        preset=r.preset,
        config_json=r.config,
        config_hash=r.config_hash,
        seed=r.seed,
        created_at=r.created_at,
        started_at=r.started_at,
        ended_at=r.ended_at,
        heartbeat_at=r.heartbeat_at,
        steps_done=r.steps_done,
        train_seconds=r.train_seconds,
        train_loss=r.train_loss,
        dev_loss=r.dev_loss,
        checkpoint_sha256=r.checkpoint_sha256,
        extra=loads(r.extra),
        host=r.host,
        pid=r.pid,
        version=r.version,
        device=r.device,
        error=r.error,
        sweep_id=r.sweep_id,
        block_size=r.block_size,
        n_embd=r.n_embd,
        n_hidden=r.n_hidden,
        n_layers=r.n_layers,
        batch_size=r.batch_size,
        optimizer=r.optimizer,
        steps=r.steps,
        lr=r.lr,
        model=r.model,
    )


RENAMED = {"status": "stored_status", "config": "config_json"}
