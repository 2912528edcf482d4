"""Frozen records that the Store hands to callers: never ORM rows, never sessions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from ngramlm.data.vocab import Vocab

# A running run's process beats its heart this often, from a timer thread (whatever the
# run is doing: a step, an evaluation, a checkpoint, a count model's fit) ...
HEARTBEAT_S = 10.0
# ... a write the store refuses (a lock held by another process, a server gone) is retried
# for at most this long in all, the waits for the lock included; a heartbeat that cannot
# be written for HEARTBEAT_S + RETRY_S stops the run's training (stages/hooks.py) ...
RETRY_S = 15.0
# ... and a running run whose heartbeat is older than this is crashed: its process is gone,
# and it may be resumed. It exceeds HEARTBEAT_S + RETRY_S by a margin for the stop itself
# (the step under way, the rescue file), so a run blocked on the store has stopped before
# any reader may call it crashed (tests/test_lock.py holds the order).
STALE_AFTER_S = 6 * HEARTBEAT_S


@dataclass(frozen=True)
class DatasetRecord:
    id: int
    name: str
    sha256: str
    source_path: str
    seed: int
    vocab: Vocab  # the tokens and their unit (char | word), one value
    n_words: int
    n_train: int
    n_dev: int
    n_test: int
    n_duplicates: int
    created_at: datetime
    min_count: int = 1  # a word seen fewer times in train is <unk>
    split: str = "shuffled"  # shuffled | ordered:TRAIN,DEV
    tokenizer: str | None = None  # "syntok 1.4.4": what cut raw text into its lines

    @property
    def vocab_size(self) -> int:
        return self.vocab.size

    @property
    def unit(self) -> str:
        """What a token is (``char`` or ``word``): the vocabulary's, kept as a name of the
        public record."""
        return self.vocab.unit


@dataclass(frozen=True)
class NewRun:
    """A run to create, ``running`` and owned by this process: what it runs (its dataset,
    kind, name, preset, whole config and the config's hash, its family's hyperparameter
    columns), on which device, and who owns it (host, pid, the ngramlm version). Built
    once by the stage that knows the run's plan (``stages.run.new_run``) and handed to
    ``create_run``, ``claim_points`` and ``add_point``; a sweep's run carries its
    ``sweep_id``."""

    dataset_id: int
    kind: str
    name: str | None
    preset: str | None
    config: dict[str, Any]
    config_hash: str
    columns: dict[str, Any]  # model, seed, block_size, n_embd, ..., lr, precision
    device: str
    host: str
    pid: int
    version: str
    sweep_id: int | None = None
    threads: int | None = None  # torch's CPU threads (None: a count model)


@dataclass(frozen=True)
class RunRecord:
    id: int
    dataset_id: int
    dataset: str
    kind: str
    name: str | None
    stored_status: str
    preset: str | None
    config_json: str  # the whole RunConfig; ``config`` parses it when first asked
    config_hash: str
    seed: int
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    heartbeat_at: datetime | None
    steps_done: int
    train_seconds: float | None
    train_loss: float | None
    dev_loss: float | None
    checkpoint_sha256: str | None
    extra: dict[str, Any]
    host: str
    pid: int
    version: str
    device: str | None
    error: str | None
    sweep_id: int | None = None
    # The common hyperparameters, as stored in their own columns (no JSON to parse).
    block_size: int = 0
    n_embd: int = 0
    n_hidden: int = 0
    n_layers: int = 0
    batch_size: int = 0
    optimizer: str = ""
    steps: int = 0
    lr: float = 0.0
    model: str = "mlp"  # the family (ngramlm.models); rows from before 0.2 are "mlp"
    precision: str | None = None  # fp32 | bf16; None: a count model, or a run before 0007
    threads: int | None = None  # torch's CPU threads; None: a count model, a run before 0012

    @property
    def order(self) -> int:
        """The n-gram order the run conditions on: context length + 1."""
        return self.block_size + 1

    @cached_property
    def config(self) -> dict[str, Any]:
        return dict(json.loads(self.config_json))

    @property
    def status(self) -> str:
        """The status every command shows: a ``running`` run whose heartbeat went stale
        is ``crashed``."""
        if self.stored_status == "running":
            beat = self.heartbeat_at or self.started_at or self.created_at
            if (datetime.now(timezone.utc) - beat).total_seconds() > STALE_AFTER_S:
                return "crashed"
        return self.stored_status


@dataclass(frozen=True)
class MetricRecord:
    step: int
    elapsed_s: float
    lr: float
    batch_loss: float | None
    train_loss: float | None
    dev_loss: float | None


@dataclass(frozen=True)
class CheckpointRecord:
    run_id: int
    step: int
    sha256: str
    data: bytes
    created_at: datetime


def loads(text: str | None) -> dict[str, Any]:
    return json.loads(text) if text else {}


@dataclass(frozen=True)
class SweepRecord:
    id: int
    dataset_id: int
    dataset: str
    name: str | None
    spec: dict[str, Any]
    n_points: int
    created_at: datetime


@dataclass(frozen=True)
class PointRecord:
    id: int
    sweep_id: int
    idx: int
    config: dict[str, Any]
    config_hash: str
    group_key: str
    run_id: int | None


@dataclass(frozen=True)
class EvaluationRecord:
    run_id: int
    test_loss: float
    n_examples: int
    checkpoint_sha256: str
    created_at: datetime
    host: str
