"""Datasets and their words."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Table,
    exc,
    insert,
    select,
)

from ngramlm.data.vocab import Vocab
from ngramlm.errors import ConflictError, NotFoundError
from ngramlm.store.base import StoreBase
from ngramlm.store.connection import sqlite_path, utcnow
from ngramlm.store.convert import (
    dataset_record,
)
from ngramlm.store.records import (
    DatasetRecord,
)
from ngramlm.store.tables import (
    Dataset,
    Word,
)

WORDS_TABLE = cast(Table, Word.__table__)


ROWS_AT_ONCE = 50_000
IN_AT_ONCE = 500  # values in one IN (...) list
ROW_BYTES = 48  # a words row's overhead in SQLite beyond its text: its record and index entry


def _word_rows(dataset_id: int, splits: dict[str, Sequence[str]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    position = 0
    for split in ("train", "dev", "test"):
        for w in splits[split]:
            batch.append(
                {"dataset_id": dataset_id, "position": position, "split": split, "word": w}
            )
            position += 1
            if len(batch) == ROWS_AT_ONCE:
                yield batch
                batch = []
    if batch:
        yield batch


def dataset_bytes(text_bytes: int, lines: int) -> int:
    """About how much an SQLite store grows while recording a dataset of ``lines`` lines
    of ``text_bytes`` UTF-8 bytes: its rows and index (pages 80% full), written twice
    (the write-ahead log, then the database file)."""
    return int(2 * (text_bytes + ROW_BYTES * lines) / 0.8)


class DatasetsMixin(StoreBase):
    def free_bytes(self) -> int | None:
        """Free space on the disk under an SQLite store (None for a database server)."""
        if not self.is_sqlite:
            return None
        path = Path(sqlite_path(self.url) or ".").resolve()
        where = path.parent if not path.is_dir() else path
        while not where.exists() and where != where.parent:
            where = where.parent
        return shutil.disk_usage(where).free

    # --- datasets ----------------------------------------------------------------------

    def add_dataset(
        self,
        *,
        name: str,
        sha256: str,
        source_path: str,
        seed: int,
        vocab: Vocab,
        splits: dict[str, Sequence[str]],
        n_duplicates: int,
        min_count: int = 1,
        split: str = "shuffled",
        tokenizer: str | None = None,
        between: Callable[[], None] = lambda: None,
    ) -> tuple[DatasetRecord, bool]:
        """Record a dataset and its lines; ``(record, created)``. Datasets are immutable:
        the same content, seed, unit, min-count and split under the same name is a no-op,
        anything else under an existing name is refused. ``between`` is called before each
        batch of lines is written and before the commit: what it raises rolls the whole
        dataset back between two statements (a stop asked by a signal)."""
        for attempt in (1, 2):
            try:
                with self._tx(write=True) as s:
                    row = s.scalar(select(Dataset).where(Dataset.name == name))
                    if row is not None:
                        if (row.sha256, row.seed, row.unit, row.min_count, row.split) != (
                            sha256,
                            seed,
                            vocab.unit,
                            min_count,
                            split,
                        ):
                            raise ConflictError(
                                f"dataset {name!r} already exists with other content or "
                                f"settings (sha256 {row.sha256[:12]}, seed {row.seed}, unit "
                                f"{row.unit}, min-count {row.min_count}, split {row.split}); "
                                "datasets are immutable, choose another --name"
                            )
                        return dataset_record(row), False
                    row = Dataset(
                        name=name,
                        sha256=sha256,
                        source_path=source_path,
                        seed=seed,
                        vocab=json.dumps(list(vocab.tokens), ensure_ascii=False),
                        n_words=sum(len(w) for w in splits.values()),
                        n_train=len(splits["train"]),
                        n_dev=len(splits["dev"]),
                        n_test=len(splits["test"]),
                        n_duplicates=n_duplicates,
                        created_at=utcnow(),
                        unit=vocab.unit,
                        min_count=min_count,
                        split=split,
                        tokenizer=tokenizer,
                    )
                    s.add(row)
                    s.flush()
                    conn = s.connection()  # Core executemany: no ORM bookkeeping per row
                    for batch in _word_rows(row.id, splits):  # 50,000 rows in memory at most
                        between()
                        conn.execute(insert(WORDS_TABLE), batch)
                    between()
                    return dataset_record(row), True
            except exc.IntegrityError:
                if attempt == 2:  # pragma: no cover - only a pathological race
                    raise
                # Another process created the same name between our read and write.
        raise AssertionError("unreachable")

    def dataset(self, name: str) -> DatasetRecord:
        with self._tx() as s:
            row = s.scalar(select(Dataset).where(Dataset.name == name))
            if row is None:
                known = s.scalars(select(Dataset.name).order_by(Dataset.id)).all()
                hint = (
                    f"known: {', '.join(known)}" if known else "prepare one with `ngramlm prepare`"
                )
                raise NotFoundError(f"no dataset named {name!r} in {self.where}; {hint}")
            return dataset_record(row)

    def datasets(self) -> list[DatasetRecord]:
        """Every dataset, oldest first."""
        with self._tx() as s:
            return [dataset_record(r) for r in s.scalars(select(Dataset).order_by(Dataset.id))]

    def dataset_by_id(self, dataset_id: int) -> DatasetRecord:
        with self._tx() as s:
            row = s.get(Dataset, dataset_id)
            if row is None:
                raise NotFoundError(f"no dataset with id {dataset_id} in {self.where}")
            return dataset_record(row)

    def words(self, dataset_id: int, split: str) -> list[str]:
        """The train or dev words in split order. The test split is not served here:
        only ``ngramlm.stages.finalize`` reads it, through ``finalize_with_test_words``."""
        if split not in ("train", "dev"):
            raise ValueError(f"words() serves train and dev only, not {split!r}")
        return self._split_words(dataset_id, split)

    def test_lines_among(self, dataset_id: int, lines: Sequence[str]) -> int:
        """How many of ``lines`` (repeats counted, up to the test split's own) are lines
        of the test split that neither train nor dev holds: what scoring a file would
        measure of the test split (``stages.score`` refuses past a share of it). A count
        only: the test lines themselves never leave the store (``words`` serves train and
        dev only)."""
        with self._tx() as s:
            test = Counter(
                s.scalars(
                    select(Word.word).where(Word.dataset_id == dataset_id, Word.split == "test")
                )
            )
            asked = Counter(line for line in lines if line in test)
            shown = list(asked)
            for a in range(0, len(shown), IN_AT_ONCE):  # a bounded IN list a query
                public = s.scalars(
                    select(Word.word)
                    .where(
                        Word.dataset_id == dataset_id,
                        Word.split.in_(("train", "dev")),
                        Word.word.in_(shown[a : a + IN_AT_ONCE]),
                    )
                    .distinct()
                )
                for line in public:  # its loss is a train or dev line's: no test figure
                    del asked[line]
            return sum(min(n, test[line]) for line, n in asked.items())

    def _split_words(self, dataset_id: int, split: str) -> list[str]:
        with self._tx() as s:
            q = (
                select(Word.word)
                .where(Word.dataset_id == dataset_id, Word.split == split)
                .order_by(Word.position)
            )
            return list(s.scalars(q))
