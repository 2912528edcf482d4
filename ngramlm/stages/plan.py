"""A run's plan, resolved once: its dataset, config, preset, device, precision and threads.

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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import torch

from ngramlm.config import RunConfig, steps_for_epochs
from ngramlm.data import Vocab
from ngramlm.errors import InputError
from ngramlm.models import CountFamily, NeuralFamily, config_from_dict, family_of, options
from ngramlm.runtime import resolve_device, threads_for
from ngramlm.stages.prepare import WordList, check_name, load_bundled, record
from ngramlm.store import Store
from ngramlm.store.records import DatasetRecord


@dataclass(frozen=True)
class Plan:
    """Everything a run is started with, resolved once and passed down."""

    dataset: DatasetRecord
    config: RunConfig  # validated with the dataset's vocabulary
    preset: str | None  # the preset the config came from (recorded with the run)
    device: torch.device  # a counted model's: the CPU
    precision: str | None  # what --precision resolves to on device; None: a counted model
    threads: int  # torch's CPU threads for the run (``--threads``, else the policy's)

    @classmethod
    def of(
        cls,
        dataset: DatasetRecord,
        cfg: RunConfig,
        *,
        preset: str | None = None,
        threads: int | None = None,
    ) -> Plan:
        """The plan of an already validated config: its device (an absent one refused
        here), the precision it trains in there, and its threads."""
        device, precision = placement(cfg)
        return cls(dataset, cfg, preset, device, precision, threads or threads_for(cfg))

    @classmethod
    def point(cls, dataset: DatasetRecord, config: RunConfig | Mapping[str, Any]) -> Plan:
        """A sweep point's plan (its config or the stored one), in a worker whose threads
        are set already."""
        cfg = config if isinstance(config, RunConfig) else config_from_dict(config)
        return cls.of(dataset, cfg, threads=torch.get_num_threads())

    def bound(self, cfg: RunConfig) -> Plan:
        """The plan with its config completed from the runs it is fitted from
        (``CountFamily.bind``: a mixture's block size)."""
        return replace(self, config=cfg)


def placement(cfg: RunConfig) -> tuple[torch.device, str | None]:
    """Where a config runs (an absent device refused here) and the precision it trains
    in there; a counted model: the CPU and no precision."""
    fam = family_of(cfg)
    if isinstance(fam, NeuralFamily) and cfg.train is not None:
        device = resolve_device(cfg.train.device)
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
    check: Callable[[RunConfig], None] | None = None,
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
    cfg = fam.make_config(values, vocab_size)  # the one resolution
    if ds is None:
        mixed = components_dataset(opened, cfg)  # a mixture: its runs' dataset
        if mixed is not None:
            ds, pending = mixed, None
            if ds.vocab_size != vocab_size:
                cfg = cfg.with_values({"vocab_size": ds.vocab_size})
                fam.validate(cfg)
    if cfg.train is not None and cfg.train.epochs > 0 and "steps" not in given:
        if pending is not None:
            cfg = steps_from_epochs(cfg, train_examples(pending.split.train, pending.vocab), given)
        else:
            assert ds is not None
            n_train = train_examples(opened().words(ds.id, "train"), ds.vocab)
            cfg = steps_from_epochs(cfg, n_train, given)
    if check is not None:
        check(cfg)
    device, precision = placement(cfg)  # an absent device is refused before writing
    if pending is not None:
        ds = record(opened(), pending).dataset
    assert ds is not None
    return Plan(ds, cfg, used, device, precision, threads or threads_for(cfg))


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


def train_examples(lines: list[str], vocab: Vocab) -> int:
    """The predictions an epoch makes: every token and one boundary a line."""
    return sum(len(vocab.split(w)) + 1 for w in lines)


def steps_from_epochs(cfg: RunConfig, n_train: int, given: Mapping[str, Any]) -> RunConfig:
    """``--epochs E``: the steps of E passes over the train split's ``n_train``
    predictions (``train_examples``), validated again with them; a warm-up not ``given``
    that the run is too short for becomes a tenth of it."""
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


def plan_resume(store: Store, run_id: int, threads: int | None = None) -> Plan:
    """The plan of a stored run, as it was started (its recorded config)."""
    run = store.run(run_id)
    cfg = config_from_dict(run.config)
    return Plan.of(store.dataset_by_id(run.dataset_id), cfg, preset=run.preset, threads=threads)


def components_dataset(opened: Callable[[], Store], cfg: RunConfig) -> DatasetRecord | None:
    """The dataset of the first run a counted config is fitted from (a mixture's), to
    default ``--dataset`` to; None for a config fitted from no run."""
    fam = family_of(cfg)
    ids = fam.components(cfg) if isinstance(fam, CountFamily) else []
    if not ids:
        return None
    store = opened()
    return store.dataset_by_id(store.run(ids[0]).dataset_id)
