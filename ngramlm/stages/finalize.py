"""The locked test split: the only module that may read test words.

``finalize`` evaluates a finished run's final checkpoint on the test split once per run,
ever. The store records the result under the run's lock, and the database refuses to
update, delete, replace or truncate it. A run whose dev loss is negative or not finite
(a model that is no model) is refused: its test loss would be false forever. Choosing a
model by its test loss leaks the test set into the choice, so finalizing a sweep run
that is not the sweep's best on dev needs ``yes``.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from ngramlm.errors import ConflictError, InputError
from ngramlm.stages.report import best_by_dev, check_checkpoint
from ngramlm.store import Store
from ngramlm.store.checks import is_loss
from ngramlm.store.records import CheckpointRecord, EvaluationRecord, RunRecord


@dataclass(frozen=True)
class Finalized:
    run: RunRecord
    evaluation: EvaluationRecord
    created: bool  # False: it was already finalized; nothing was evaluated


class AlreadyFinalized(ConflictError):
    """``finalize`` on a run that was finalized already: the test split is evaluated once
    per run, ever. ``run`` and ``evaluation`` are the recorded result (nothing was
    evaluated again)."""

    def __init__(self, run: RunRecord, evaluation: EvaluationRecord) -> None:
        super().__init__(
            f"run {run.id} was finalized already; the test split is evaluated once per run, "
            f"ever (recorded test loss {evaluation.test_loss:.4f} on "
            f"{evaluation.created_at:%Y-%m-%d %H:%M} UTC)"
        )
        self.run = run
        self.evaluation = evaluation


class NeedsConfirmation(InputError):
    """Finalizing this run would leak the test set into a choice; ask for --yes."""


def check_finalizable(run: RunRecord) -> None:
    if run.kind != "train":
        raise InputError(f"run {run.id} is an {run.kind} run; only training runs are finalized")
    if run.status == "pruned":
        raise InputError(
            f"run {run.id} was pruned by its search before the end of its steps; only "
            f"finished runs are finalized (the search's best: `ngramlm report --sweep "
            f"{run.sweep_id}`)"
        )
    if run.status == "running":  # alive (its heartbeat is fresh): --resume would refuse it
        raise InputError(
            f"run {run.id} is still running (pid {run.pid} on {run.host}); only finished runs "
            "are finalized: wait for it to finish, then finalize it (to stop it first: "
            f"Ctrl-C where it runs or `kill {run.pid}`, then `ngramlm train --resume {run.id}`)"
        )
    if run.status != "finished":  # killed, failed or crashed: these resume
        raise InputError(
            f"run {run.id} is {run.status}; only finished runs are finalized: resume it with "
            f"`ngramlm train --resume {run.id}`, then finalize it"
        )
    dev = run.dev_loss  # None: not measured (a resume that had no step left to train)
    if dev is not None and not is_loss(dev):
        raise InputError(
            f"run {run.id}'s dev loss {dev:.6g} is not a loss "
            "(finite and at least 0), so its test loss would be false and recorded forever; "
            "it is not finalized: retrain it, or import a model whose probabilities sum to 1"
        )


def sweep_choice_warning(store: Store, run: RunRecord) -> str | None:
    """A warning when ``run`` is in a sweep but is not that sweep's best on dev."""
    if run.sweep_id is None:
        return None
    best = best_by_dev(store.sweep_runs(run.sweep_id))
    if best is None or best.id == run.id:
        return None
    return (
        f"run {run.id} is not the best of sweep {run.sweep_id} on dev (run {best.id}: dev "
        f"{best.dev_loss:.4f}, this one {run.dev_loss:.4f}); finalizing several runs and "
        "choosing by test loss leaks the test set into the choice. Pass --yes to finalize it"
    )


def _test_loss(run: RunRecord, ckpt: CheckpointRecord, words: list[str]) -> tuple[float, int]:
    import torch

    from ngramlm import checkpoint
    from ngramlm.data import build_examples

    check_checkpoint(run, ckpt, strict=True)
    loaded = checkpoint.load_model(ckpt.data, ckpt.sha256)
    X, Y = build_examples(words, loaded.vocab, loaded.model.block_size)
    # the model's own mean_nll: for a network, ngramlm.evaluation's, as train and dev
    with torch.no_grad():
        return loaded.model.mean_nll(X, Y), int(X.shape[0])


def finalize(store: Store, run_id: int, *, yes: bool = False) -> Finalized:
    run = store.run(run_id)
    existing = store.evaluation(run_id)
    if existing is not None:
        return Finalized(run, existing, created=False)
    check_finalizable(run)
    warning = sweep_choice_warning(store, run)
    if warning is not None and not yes:
        raise NeedsConfirmation(warning)
    evaluation, created = store.finalize_with_test_words(
        run_id, host=socket.gethostname(), evaluate=_test_loss
    )
    return Finalized(run, evaluation, created)


def finalize_once(store: Store, run_id: int, *, yes: bool = False) -> Finalized:
    """``finalize``, raising ``AlreadyFinalized`` (with the recorded result) for a run
    finalized already, where nothing is evaluated again."""
    result = finalize(store, run_id, yes=yes)
    if not result.created:
        raise AlreadyFinalized(result.run, result.evaluation)
    return result
