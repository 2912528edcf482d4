"""A run's plan, resolved once: its dataset, config, preset, device, precision and threads;
and a sweep's setup (its dataset, base config, space and device), resolved once for all
its points.

``plan_run`` turns a user's options into a ``Plan`` (``train``, ``lr-find``, a sweep's base
config), ``plan_resume`` a stored run into one; ``stages/run.py`` takes the plan as it is
and the loop gets its device and precision from it, so nothing is resolved twice.

The order is what keeps "nothing written for a bad option": the options that need no
dataset are checked first (names, ``--steps`` with ``--epochs``), then the dataset is
found without writing (a named one is read; the bundled names are read from their file),
the config is resolved once with its vocabulary, the device checked, and only then are
the bundled names recorded in the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from ngramlm.config import RunConfig, steps_for_epochs
from ngramlm.data import Vocab
from ngramlm.errors import InputError
from ngramlm.models import (
    CountFamily,
    Family,
    NeuralFamily,
    config_from_dict,
    family_of,
    options,
)
from ngramlm.resources import BUNDLED_UNIT
from ngramlm.runtime import resolve_device, threads_for
from ngramlm.stages.prepare import WordList, check_name, check_run_name, load_bundled, record
from ngramlm.stages.space import Dim, remaining_s, space_of
from ngramlm.store import Store
from ngramlm.store.records import DatasetRecord, SweepRecord


@dataclass(frozen=True)
class Plan:
    """Everything a run is started with, resolved once and passed down."""

    dataset: DatasetRecord
    config: RunConfig  # validated with the dataset's vocabulary
    preset: str | None  # the preset the config came from (recorded with the run)
    device: torch.device  # a counted model's: the CPU
    precision: str | None  # what --precision resolves to on device; None: a counted model
    threads: int  # torch's CPU threads for the run (``--threads``, else the policy's)
    # the train split when resolving read it already (``--epochs``): the run reads it once
    train_words: tuple[str, ...] | None = None

    @classmethod
    def of(
        cls,
        dataset: DatasetRecord,
        cfg: RunConfig,
        *,
        preset: str | None = None,
        threads: int | None = None,
        device: torch.device | None = None,
    ) -> Plan:
        """The plan of an already validated config: its device (None: resolved here, an
        absent one refused), the precision it trains in there, and its threads."""
        device, precision = placement(cfg, device)
        return cls(dataset, cfg, preset, device, precision, threads or threads_for(cfg))

    @classmethod
    def point(
        cls, dataset: DatasetRecord, config: RunConfig | Mapping[str, Any], device: torch.device
    ) -> Plan:
        """A sweep point's plan (its config or the stored one) on the sweep's device,
        resolved once for the sweep, in a worker whose threads are set already."""
        cfg = config if isinstance(config, RunConfig) else config_from_dict(config)
        return cls.of(dataset, cfg, threads=torch.get_num_threads(), device=device)

    def bound(self, cfg: RunConfig) -> Plan:
        """The plan with its config completed from the runs it is fitted from
        (``CountFamily.bind``: a mixture's block size)."""
        return replace(self, config=cfg)


@dataclass(frozen=True)
class Asked:
    """A run's options as given (a command's, the API's arguments), before ``plan_run``
    resolves them: the family, the preset, a label and the hyperparameters (None: not
    given)."""

    model: str | None
    preset: str | None
    name: str | None
    overrides: Mapping[str, Any]

    def __post_init__(self) -> None:
        check_run_name(self.name)  # a sweep's label, and its runs'


@dataclass(frozen=True)
class SweepSetup:
    """A sweep as its workers train it, resolved once and handed down: the record, its
    dataset, its base config, a search's space as data (``{}`` for a grid) and the device
    every point trains on. Trials take it as it is (``Plan.point``); a worker process gets
    the device on its command line and reads the rest once (``setup_of``)."""

    sweep: SweepRecord
    dataset: DatasetRecord
    base: RunConfig
    dims: Mapping[str, Dim]
    device: torch.device
    # a search's budget end (time.time()), read once for the session's workers; None: no budget
    deadline: float | None = None


def setup_of(
    store: Store,
    sweep_id: int,
    device: torch.device | None = None,
    deadline: float | None = None,
) -> SweepSetup:
    """A recorded sweep's setup (``--join``, ``--resume``, a worker process): its spec read
    once; ``device`` and a search's ``deadline`` as resolved by the process that started
    this one (None: here; the budget left is what the store's runs say, ``remaining_s``)."""
    sweep = store.sweep(sweep_id)
    base, dims = (
        space_of(sweep) if "search" in sweep.spec else (config_from_dict(sweep.spec["base"]), {})
    )
    device = device if device is not None else placement(base)[0]
    if deadline is None and "search" in sweep.spec:
        left = remaining_s(sweep, store.sweep_runs(sweep_id))
        deadline = None if left is None else time.time() + left
    return SweepSetup(sweep, store.dataset_by_id(sweep.dataset_id), base, dims, device, deadline)


def placement(
    cfg: RunConfig, device: torch.device | None = None
) -> tuple[torch.device, str | None]:
    """Where a config runs (``device``, or its own resolved here: an absent one refused)
    and the precision it trains in there; a counted model: the CPU and no precision."""
    fam = family_of(cfg)
    if isinstance(fam, NeuralFamily) and cfg.train is not None:
        device = device if device is not None else resolve_device(cfg.train.device)
        return device, fam.precision(cfg, device)
    return torch.device("cpu"), None


def plan_run(
    store: Store | Callable[[], Store],
    dataset: str | DatasetRecord | None,
    *,
    model: str | None = None,
    preset: str | None = None,
    threads: int | None = None,
    overrides: Mapping[str, Any],
    check: Callable[[RunConfig, str], None] | None = None,
) -> Plan:
    """The plan of ``ngramlm train``'s options (None: not given) on ``dataset`` (None: the
    bundled names, or a mixture's components' dataset). Bad options are refused before
    anything is written; so is what ``check`` refuses of the resolved config (a sweep's
    grid, a search's space). ``store`` may be a function that opens it: it is called only
    when a dataset is read or recorded (a bad option opens no store)."""
    opened = store if callable(store) else lambda: store
    given = {k: v for k, v in overrides.items() if v is not None}
    if "epochs" in given and "steps" in given:
        raise InputError("give --steps or --epochs, not both (an epoch sets the steps)")
    fam, used, values = options(model, preset, given)
    short_run_warmup(values, given)
    if isinstance(dataset, str):
        check_name(dataset)
    pending: WordList | None = None  # the bundled names, read but not yet recorded
    ds: DatasetRecord | None = None
    if isinstance(dataset, DatasetRecord):
        ds = dataset
    elif dataset is not None:
        ds = opened().dataset(dataset)
    else:
        pending = load_bundled()
    vocab_size = ds.vocab_size if ds is not None else pending.vocab.size if pending else 0
    train_words: tuple[str, ...] | None = None
    if epochs_set_steps(fam, values, given, vocab_size):  # --epochs: read the split once
        if pending is not None:
            train_words, vocab = tuple(pending.split.train), pending.vocab
        else:
            assert ds is not None
            train_words, vocab = tuple(opened().words(ds.id, "train")), ds.vocab
        block_size = values.get("block_size")
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            block_size = fam.default_config(vocab_size).model.block_size  # refused below
        n_train = train_examples(fam, train_words, vocab, block_size)
        values.update(epoch_values(fam, values, vocab_size, n_train, given))
    cfg = fam.make_config(values, vocab_size)  # the one resolution
    if ds is None:
        mixed = components_dataset(opened, cfg)  # a mixture: its runs' dataset
        if mixed is not None:
            ds, pending = mixed, None
            if ds.vocab_size != vocab_size:
                cfg = cfg.with_values({"vocab_size": ds.vocab_size})
                fam.validate(cfg)
    if check is not None:  # with the dataset's unit (a search's default space needs it)
        check(cfg, ds.unit if ds is not None else pending.vocab.unit if pending else BUNDLED_UNIT)
    device, precision = placement(cfg)  # an absent device is refused before writing
    if pending is not None:
        ds = record(opened(), pending).dataset
    assert ds is not None
    return Plan(ds, cfg, used, device, precision, threads or threads_for(cfg), train_words)


def short_run_warmup(values: dict[str, Any], given: Mapping[str, Any]) -> None:
    """``--steps N`` shorter than the preset's warm-up (``--preset best``: 500 steps):
    warm up for a tenth of the run instead, as ``--epochs`` does, unless ``--warmup``
    was given. A run the preset's warm-up fits keeps it (its numbers do not move)."""
    steps = given.get("steps")
    if "warmup" in given or not isinstance(steps, int) or steps <= 0:
        return
    warmup = values.get("warmup")
    if isinstance(warmup, int) and warmup >= steps:
        values["warmup"] = steps // 10


def train_examples(fam: Family, lines: Sequence[str], vocab: Vocab, block_size: int) -> int:
    """The examples an epoch steps through (``Family.epoch_size``): every token and one
    boundary a line, or a sequence family's windows of ``block_size``."""
    return fam.epoch_size([len(vocab.split(w)) for w in lines], block_size)


def epochs_set_steps(
    fam: Family, values: Mapping[str, Any], given: Mapping[str, Any], vocab_size: int
) -> bool:
    """Whether the options' steps come from ``--epochs`` (a preset's or the user's)."""
    if "steps" in given or not values.get("epochs"):
        return False
    return fam.default_config(vocab_size).train is not None


def epoch_values(
    fam: Family,
    values: Mapping[str, Any],
    vocab_size: int,
    n_train: int,
    given: Mapping[str, Any],
) -> dict[str, Any]:
    """What ``--epochs E`` sets, before the config is resolved (once, with them): the
    steps of E passes over the train split's ``n_train`` predictions, an evaluation an
    epoch unless ``--eval-every``, and a tenth of the run as warm-up where the preset's
    does not fit and ``--warmup`` was not given."""
    base = fam.default_config(vocab_size)
    known = set(base.names())
    t = base.with_values({k: v for k, v in fam.parse(dict(values)).items() if k in known}).train
    if t is None or isinstance(t.batch_size, bool) or not isinstance(t.batch_size, int):
        return {}
    if t.batch_size < 1:  # refused by the resolution, by name
        return {}
    steps = steps_for_epochs(t, n_train)
    out: dict[str, Any] = {"steps": steps}
    if not t.eval_every:  # evaluate once an epoch: full-split losses cost
        out["eval_every"] = steps_for_epochs(replace(t, epochs=1.0), n_train)
    if "warmup" not in given and t.warmup >= steps:  # a preset's, on a short run
        out["warmup"] = steps // 10
    return out


def steps_from_epochs(cfg: RunConfig, n_train: int, given: Mapping[str, Any]) -> RunConfig:
    """A search trial's ``epochs``: its config with the steps of E passes over the train
    split's ``n_train`` predictions (counted once, when the search was created), as
    ``epoch_values`` sets them for ``--epochs``, validated with them."""
    assert cfg.train is not None
    steps = steps_for_epochs(cfg.train, n_train)
    values: dict[str, Any] = {"steps": steps}
    if not cfg.train.eval_every:  # evaluate once an epoch: full-split losses cost
        values["eval_every"] = steps_for_epochs(replace(cfg.train, epochs=1.0), n_train)
    if "warmup" not in given and cfg.train.warmup >= steps:  # a preset's, on a short run
        values["warmup"] = steps // 10
    out = cfg.with_values(values)
    family_of(out).validate(out)
    return out


def plan_resume(
    store: Store, run_id: int, threads: int | None = None, *, device: torch.device | None = None
) -> Plan:
    """The plan of a stored run, as it was started (its recorded config); ``device``: its
    sweep's, resolved once (None: resolved here)."""
    run = store.run(run_id)
    cfg = config_from_dict(run.config)
    ds = store.dataset_by_id(run.dataset_id)
    return Plan.of(ds, cfg, preset=run.preset, threads=threads, device=device)


def components_dataset(opened: Callable[[], Store], cfg: RunConfig) -> DatasetRecord | None:
    """The dataset of the first run a counted config is fitted from (a mixture's), to
    default ``--dataset`` to; None for a config fitted from no run."""
    fam = family_of(cfg)
    ids = fam.components(cfg) if isinstance(fam, CountFamily) else []
    if not ids:
        return None
    store = opened()
    return store.dataset_by_id(store.run(ids[0]).dataset_id)
