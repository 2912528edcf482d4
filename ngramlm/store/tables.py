"""ORM tables. Alembic owns the schema (migrations/); these classes must agree with it,
which tests/test_migrations.py checks with Alembic's autogenerate comparison."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as naive UTC (SQLite has no time zones) and read back aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None else None


class Base(DeclarativeBase):
    pass


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("name", name="uq_datasets_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    source_path: Mapped[str] = mapped_column(Text)
    seed: Mapped[int] = mapped_column(Integer)
    vocab: Mapped[str] = mapped_column(Text)  # JSON list of tokens, index i+1 each
    n_words: Mapped[int] = mapped_column(Integer)
    n_train: Mapped[int] = mapped_column(Integer)
    n_dev: Mapped[int] = mapped_column(Integer)
    n_test: Mapped[int] = mapped_column(Integer)
    n_duplicates: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # What a token is (char | word), the train count below which a word is <unk>, and
    # how lines were split (shuffled | ordered:TRAIN,DEV); migration 0006.
    unit: Mapped[str] = mapped_column(String(8), server_default="char")
    min_count: Mapped[int] = mapped_column(Integer, server_default="1")
    split: Mapped[str] = mapped_column(String(64), server_default="shuffled")
    # The tokenizer and version that cut raw text into the lines ("syntok 1.4.4"), NULL
    # for text taken as it came; migration 0011.
    tokenizer: Mapped[str | None] = mapped_column(String(64), nullable=True)


class Word(Base):
    """A dataset's lines (words, or sentences of a word dataset) in split order, with
    their split, so a dataset stays reproducible if its source file changes or
    disappears."""

    __tablename__ = "words"
    __table_args__ = (Index("ix_words_dataset_split_position", "dataset_id", "split", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # index after the seeded shuffle
    split: Mapped[str] = mapped_column(String(8))  # train | dev | test
    word: Mapped[str] = mapped_column(Text)


class Run(Base):
    """One training run (or one learning-rate finder run, ``kind='lr_find'``)."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_dataset_status", "dataset_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    kind: Mapped[str] = mapped_column(String(16))  # train | lr_find
    # mlp | bigram | kneser-ney: the family (n-gram runs keep their config under "ngram")
    model: Mapped[str] = mapped_column(String(16), server_default="mlp")
    name: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # running | finished | failed | killed
    preset: Mapped[str | None] = mapped_column(String(32))
    config: Mapped[str] = mapped_column(Text)  # the whole RunConfig as JSON
    config_hash: Mapped[str] = mapped_column(String(16))
    # The common hyperparameters, queryable without parsing the JSON.
    seed: Mapped[int] = mapped_column(Integer)
    block_size: Mapped[int] = mapped_column(Integer)
    n_embd: Mapped[int] = mapped_column(Integer)
    n_hidden: Mapped[int] = mapped_column(Integer)
    n_layers: Mapped[int] = mapped_column(Integer)
    batch_size: Mapped[int] = mapped_column(Integer)
    steps: Mapped[int] = mapped_column(Integer)
    optimizer: Mapped[str] = mapped_column(String(16))
    lr: Mapped[float] = mapped_column(Float)
    device: Mapped[str | None] = mapped_column(String(32))
    # The training step's precision, fp32 | bf16 (migration 0007; earlier runs: NULL, fp32).
    precision: Mapped[str | None] = mapped_column(String(8))
    # torch's CPU threads in the process that trains it, a resume's own (migration 0012;
    # NULL: a count model, or a run from before it).
    threads: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    steps_done: Mapped[int] = mapped_column(Integer)
    train_seconds: Mapped[float | None] = mapped_column(Float)
    train_loss: Mapped[float | None] = mapped_column(Float)
    dev_loss: Mapped[float | None] = mapped_column(Float)
    checkpoint_sha256: Mapped[str | None] = mapped_column(String(64))  # the final checkpoint
    extra: Mapped[str | None] = mapped_column(Text)  # JSON: e.g. lr-find's suggestion
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    sweep_id: Mapped[int | None] = mapped_column(
        ForeignKey("sweeps.id", name="fk_runs_sweep_id"), index=True
    )


class Metric(Base):
    """A point of a run's curve: full-split train and dev loss at an evaluation, the
    mean minibatch loss since the last one, the learning rate, wall time."""

    __tablename__ = "metrics"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    elapsed_s: Mapped[float] = mapped_column(Float)
    lr: Mapped[float] = mapped_column(Float)
    batch_loss: Mapped[float | None] = mapped_column(Float)
    train_loss: Mapped[float | None] = mapped_column(Float)
    dev_loss: Mapped[float | None] = mapped_column(Float)


class Checkpoint(Base):
    """The latest checkpoint of a run: safetensors bytes (never pickle), ``size`` long,
    with their sha256; the bytes are its ``parts`` rows of ``checkpoint_parts``."""

    __tablename__ = "checkpoints"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    step: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    parts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CheckpointPart(Base):
    """Part ``part`` of a checkpoint's bytes (the parts in order are the bytes): at most
    the store's ``PART_BYTES`` when it was written, a value well under the longest that
    SQLite and PostgreSQL hold (about 1 GB)."""

    __tablename__ = "checkpoint_parts"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("checkpoints.run_id", ondelete="CASCADE"), primary_key=True
    )
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Sweep(Base):
    """A grid of runs over one dataset; its points are claimed by workers."""

    __tablename__ = "sweeps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"))
    name: Mapped[str | None] = mapped_column(String(128))
    spec: Mapped[str] = mapped_column(Text)  # JSON: base config, grid, seeds
    n_points: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SweepPoint(Base):
    """One configuration of a sweep. ``run_id`` is set, in the same transaction that
    creates the run, by the worker that claims it: a point is trained exactly once."""

    __tablename__ = "sweep_points"
    __table_args__ = (
        UniqueConstraint("sweep_id", "config_hash", name="uq_sweep_points_config"),
        Index("ix_sweep_points_open", "sweep_id", "run_id", "idx"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.id", ondelete="CASCADE"))
    idx: Mapped[int] = mapped_column(Integer)
    config: Mapped[str] = mapped_column(Text)
    config_hash: Mapped[str] = mapped_column(String(16))
    group_key: Mapped[str] = mapped_column(String(16))  # same shape: trainable together
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Evaluation(Base):
    """The one test-split evaluation of a run. The database itself refuses to update or
    delete a row (triggers, migration 0004), so it cannot be quietly redone."""

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("runs.id", name="fk_evaluations_run_id"), unique=True
    )
    test_loss: Mapped[float] = mapped_column(Float)
    n_examples: Mapped[int] = mapped_column(Integer)
    checkpoint_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    host: Mapped[str] = mapped_column(String(255))
