"""``Experiments``' methods that write a dataset or run one model: ``prepare``, a run's
``plan`` and ``config``, ``train``, ``resume`` and ``lr_find``. Each checks its options
and makes one call: the prepare stage (``stages/prepare.py``), or one ``Plan``
(``stages/plan.py``) handed to the run stage (``stages/run.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ngramlm.api.handle import DatasetRef, Handle, RunRef, check_threads
from ngramlm.errors import InputError
from ngramlm.stages.prepare import DEFAULT_SEED, DEFAULT_UNIT, check_run_name
from ngramlm.stages.prepare import Prepared as Prepared
from ngramlm.store.records import DatasetRecord, RunRecord

if TYPE_CHECKING:
    from ngramlm.config import RunConfig
    from ngramlm.stages.plan import Plan
    from ngramlm.stages.run import Outcome, Progress


def prepare(
    h: Handle,
    path: str | Path | None = None,
    name: str | None = None,
    seed: int = DEFAULT_SEED,
    *,
    unit: str = DEFAULT_UNIT,
    min_count: int = 1,
    split: str = "shuffled",
    tokenize: bool = False,
) -> Prepared:
    """``ngramlm prepare``: read a word list (default: the bundled names) or, with
    ``unit="word"``, a corpus of one sentence a line (``tokenize``: raw text, cut into
    sentences and its punctuation split from words by syntok, which the dataset
    records as its ``tokenizer``); split it (``"shuffled"``: 80/10/10
    by line with ``random.Random(seed)``; ``"ordered:TRAIN,DEV"``: file order, by
    tokens) and record it. ``min_count``: words seen fewer times in train are
    ``<unk>``. The same content under the same name again is a no-op; other content
    under an existing name is refused. The file is read and checked before the store
    is opened. Ctrl-C or SIGTERM stops it (``Stopped``, one line) with nothing recorded
    (while the store writes, between two of its statements). Returns the dataset
    (``.dataset``, which every method also takes as the result itself), ``created``
    (False: the same content was there already, nothing written), per split its
    ``examples``, ``tokens`` and ``unk_rate``, and a ``hint`` (a word corpus taken as it
    came whose tokens carry punctuation: try ``tokenize``)."""
    from ngramlm.stages.prepare import load, record, stopped_by_signals

    with stopped_by_signals() as stop:  # Ctrl-C, SIGTERM: one line, nothing recorded
        words = load(None if path is None else Path(path), name, seed, unit=unit,
                     min_count=min_count, split=split, tokenize=tokenize)  # fmt: skip
        with stop.deferred():  # the store in use: a signal stops it between two writes
            return record(h.store, words, stop)


def plan(
    h: Handle,
    dataset: DatasetRef | None = None,
    *,
    model: str | None = None,
    preset: str | None = None,
    threads: int | None = None,
    **overrides: Any,
) -> Plan:
    """The ``Plan`` that ``train`` would run: the dataset, the validated config, its
    preset, device, precision and threads, resolved once. Options are checked before
    the store is touched (nothing is written for a bad one, and the bundled names are
    prepared only when ``dataset`` is None)."""
    from ngramlm.stages.plan import plan_run

    check_threads(threads)
    return plan_run(h.opener, h.dataset_arg(dataset), model=model, preset=preset,
                    threads=threads, overrides=overrides)  # fmt: skip


def config(
    h: Handle,
    dataset: DatasetRef | None = None,
    *,
    model: str | None = None,
    preset: str | None = None,
    **overrides: Any,
) -> tuple[DatasetRecord, RunConfig, str | None]:
    """The dataset, the validated config and the preset that ``train`` would use
    (``plan``'s); nothing is written for a bad option."""
    p = plan(h, dataset, model=model, preset=preset, threads=1, **overrides)
    return p.dataset, p.config, p.preset


def train(
    h: Handle,
    dataset: DatasetRef | None = None,
    *,
    model: str | None = None,
    preset: str | None = None,
    name: str | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
    **overrides: Any,
) -> Outcome:
    """``ngramlm train``: train (or count) one model and record the run, its curve
    and checkpoints. ``model`` is the family (``mlp``, ``wavenet``, ``bigram``,
    ``kneser-ney``, ``modified-kn``, ``mixture``), ``preset`` a preset (``lecture``,
    ``default``, ``best``, ``bengio``, ``words``, ``wavenet``); ``overrides`` are the
    train options by their Python names (``steps=2000``, ``n_hidden=100``,
    ``order=4``...), refused by name when the family does not take them. ``threads``
    as ``--threads`` (default: one thread for small models; restored afterwards).
    Ctrl-C (a kernel interrupt) stops at the next step with a checkpoint: the run is
    ``killed``. Returns the outcome: ``.run`` (its record; every method also takes
    the outcome itself as the run) and ``.result.points``, this session's curve."""
    from ngramlm.stages.session import train_plan

    check_run_name(name)
    p = plan(h, dataset, model=model, preset=preset, threads=threads, **overrides)
    return train_plan(h.store, p, name=name, progress=progress)


def resume(
    h: Handle, run: RunRef, *, threads: int | None = None, progress: Progress | None = None
) -> Outcome:
    """``ngramlm train --resume``: continue a killed, failed or crashed run from its
    last checkpoint; it ends with the losses of an uninterrupted run. Returns the
    outcome, as ``train``'s."""
    from ngramlm.stages.session import resume_plan

    check_threads(threads)
    return resume_plan(h.store, h.run_id(run), threads=threads, progress=progress)


LR_SETS = ("lr", "lr_schedule", "warmup", "decay_at", "decay_factor")  # lr-find's own


def check_trained(model: str | None, preset: str | None) -> None:
    """lr-find's family must learn by steps: a count model or a mixture (fitted, not
    trained) has no learning rate and no steps, whatever options it is given."""
    from ngramlm.models import FAMILIES
    from ngramlm.models import options as family_options

    fam = family_options(model, preset, {})[0]
    if fam.counted:
        names = [n for n, f in FAMILIES.items() if f.chosen_by_model and not f.counted]
        trained = names[-1] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        raise InputError(
            f"lr-find needs a network trained by steps: --model {fam.name} is fitted, not "
            f"trained, and has no learning rate; use --model {trained}"
        )


def lr_find(
    h: Handle,
    dataset: DatasetRef | None = None,
    *,
    min_lr: float = 1e-3,
    max_lr: float = 1.0,
    steps: int = 1000,
    model: str | None = None,
    preset: str | None = None,
    name: str | None = None,
    threads: int | None = None,
    **overrides: Any,
) -> RunRecord:
    """``ngramlm lr-find``: the lecture's learning-rate range test (one SGD step per
    rate, log-spaced from ``min_lr`` to ``max_lr``), recorded as a run of kind
    ``lr_find`` whose ``extra["suggested_lr"]`` is the suggestion. The lecture's
    model unless ``model``/``preset`` say otherwise."""
    from ngramlm.stages.session import lr_find_plan
    from ngramlm.training.lrfind import validate_range

    for key in LR_SETS:
        if key in overrides:
            raise InputError(f"lr-find sets every step's rate itself: drop {key}")
    check_run_name(name)
    check_trained(model, preset)
    validate_range(min_lr, max_lr, steps)
    if model is None and preset is None:
        preset = "lecture"  # the lecture's model, as in makemore part 2
    given = {**overrides, "steps": steps, "lr": max_lr, "lr_schedule": "constant", "warmup": 0}
    p = plan(h, dataset, model=model, preset=preset, threads=threads, **given)
    return lr_find_plan(h.store, p, min_lr=min_lr, max_lr=max_lr, name=name)
