"""The locked test split: one immutable evaluation per run."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    func,
    select,
)

from ngramlm.errors import NotFoundError
from ngramlm.store.base import StoreBase
from ngramlm.store.checks import check_losses
from ngramlm.store.connection import utcnow
from ngramlm.store.convert import (
    evaluation_record,
)
from ngramlm.store.records import (
    CheckpointRecord,
    EvaluationRecord,
    RunRecord,
)
from ngramlm.store.runs import checkpoint_record
from ngramlm.store.tables import (
    Checkpoint,
    Dataset,
    Evaluation,
    Run,
    Word,
)


class EvaluationsMixin(StoreBase):
    # --- the locked test split ----------------------------------------------------------

    def evaluation(self, run_id: int) -> EvaluationRecord | None:
        with self._tx() as s:
            e = s.scalar(select(Evaluation).where(Evaluation.run_id == run_id))
            return evaluation_record(e) if e is not None else None

    def evaluations(self) -> dict[int, EvaluationRecord]:
        with self._tx() as s:
            return {e.run_id: evaluation_record(e) for e in s.scalars(select(Evaluation))}

    def test_evaluations_spent(self) -> dict[str, int]:
        """How many test evaluations each dataset has had."""
        with self._tx() as s:
            q = (
                select(Dataset.name, func.count(Evaluation.id))
                .select_from(Dataset)
                .outerjoin(Run, Run.dataset_id == Dataset.id)
                .outerjoin(Evaluation, Evaluation.run_id == Run.id)
                .group_by(Dataset.name)
                .order_by(Dataset.name)
            )
            return {name: int(n) for name, n in s.execute(q)}

    def finalize_with_test_words(
        self,
        run_id: int,
        *,
        host: str,
        evaluate: Callable[[RunRecord, CheckpointRecord, list[str]], tuple[float, int]],
    ) -> tuple[EvaluationRecord, bool]:
        """Evaluate a run on the locked test split at most once, ever.

        Under the run's write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: SELECT ... FOR
        UPDATE on the run), an existing evaluation is returned as is (``created`` False);
        otherwise the test words are loaded, handed to ``evaluate`` and its result recorded.
        Only ngramlm/stages/finalize.py calls this (a test checks)."""
        with self._tx(write=True) as s:
            row = s.scalar(select(Run).where(Run.id == run_id).with_for_update())
            if row is None:
                raise NotFoundError(f"no run {run_id} in {self.where}")
            existing = s.scalar(select(Evaluation).where(Evaluation.run_id == run_id))
            if existing is not None:
                return evaluation_record(existing), False
            c = s.get(Checkpoint, run_id)
            if c is None:
                raise NotFoundError(f"run {run_id} has no checkpoint to evaluate")
            ckpt = checkpoint_record(s, c, self.where)
            words = list(
                s.scalars(
                    select(Word.word)
                    .where(Word.dataset_id == row.dataset_id, Word.split == "test")
                    .order_by(Word.position)
                )
            )
            loss, n = evaluate(self._run_record(s, row), ckpt, words)
            check_losses(run_id, test_loss=loss)
            e = Evaluation(
                run_id=run_id,
                test_loss=loss,
                n_examples=n,
                checkpoint_sha256=ckpt.sha256,
                created_at=utcnow(),
                host=host,
            )
            s.add(e)
            s.flush()
            return evaluation_record(e), True
