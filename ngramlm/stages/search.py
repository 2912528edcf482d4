"""Adaptive search (``ngramlm sweep --search``): Optuna proposes, the store decides.

A search is a sweep whose points are not known in advance. A worker rebuilds an Optuna
study from the sweep's runs in the store (finished runs are complete trials, pruned runs
pruned ones, their curves the intermediate values; running ones are running), asks its
sampler (TPE or random, through ask-and-tell) for the next point, and writes that point
and claims it with a new run in one transaction (``Store.add_point``: the sweep's row is
locked, ``(sweep_id, config_hash)`` is unique), then trains it as an ordinary run. No
sampler state lives anywhere else, so workers on other machines (``--join``) and a search
resumed after a kill (``--resume``) continue the same search, and no point is trained
twice. ``--search grid`` takes the points of a grid of choices in a seeded order instead.

Successive halving (``--prune halving``; Jamieson & Talwalkar 2016, asynchronously as in
Li et al. 2018's ASHA): at rungs of 1/9 and 1/3 of its steps, a trial's dev loss is
compared with the dev losses every other trial of the search had at the same fraction of
its steps, read from the store's curves; a trial not in the best third stops, ``pruned``.
The rule is Optuna's ``SuccessiveHalvingPruner``'s (reduction factor 3). Trials run one at
a time a worker (not yet as one batched model). The search reads train and dev only.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import re
import socket
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ngramlm import __version__
from ngramlm.config import RunConfig
from ngramlm.errors import ClaimedError, InputError
from ngramlm.models import config_from_dict, family_of
from ngramlm.stages.run import Progress, execute_run, resume_run, run_columns
from ngramlm.store import Store
from ngramlm.store.records import DatasetRecord, MetricRecord, RunRecord, SweepRecord
from ngramlm.training import batched
from ngramlm.training.loop import EvalPoint, resolve_device

if TYPE_CHECKING:
    import optuna

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("halving",)
ETA = 3  # successive halving's reduction factor: the best third of a rung goes on
RUNG_FRACTIONS = (1 / 9, 1 / 3)  # where trials are compared, as fractions of their steps
MAX_TRIALS = 10_000
MAX_BUDGET_S = 30 * 24 * 3600.0
MAX_DUPLICATES = 25  # proposals in a row already in the store: the space is exhausted
TPE_STARTUP = 8  # random trials before TPE models the good and the bad ones
UNSEARCHABLE = ("device", "precision")  # do not change the math (or are the machine's)

# --- the search space ------------------------------------------------------------------


@dataclass(frozen=True)
class Dim:
    """One searched hyperparameter: a range (``low``..``high``, integer or not, log or
    not) or a list of ``choices``."""

    key: str
    text: str  # as given: KEY=LOW:HIGH[:log] or KEY=V1,V2
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] = ()

    def distribution(self) -> optuna.distributions.BaseDistribution:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.choices:
            return CategoricalDistribution(self.choices)
        if self.integer:
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(self.low, self.high, log=self.log)


def _value(key: str, raw: str, kind: type) -> Any:
    raw = raw.strip()
    try:
        if kind is bool:
            if raw.lower() in ("true", "false"):
                return raw.lower() == "true"
            raise ValueError
        value = kind(raw)
    except ValueError:
        raise InputError(
            f"--space {key}: {raw!r} is not a valid {kind.__name__} (e.g. --space lr=1e-3:1e-1:log)"
        ) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"--space {key}: {raw!r} must be a finite number")
    return value


def parse_dim(item: str, types: Mapping[str, type]) -> Dim:
    if "=" not in item:
        raise InputError(
            f"--space {item!r} must look like KEY=LOW:HIGH[:log] or KEY=V1,V2 "
            "(e.g. lr=1e-3:1e-1:log)"
        )
    key, _, text = item.partition("=")
    key = key.strip().replace("-", "_")
    if key not in types or key in UNSEARCHABLE:
        known = ", ".join(sorted(k for k in types if k not in UNSEARCHABLE))
        raise InputError(f"--space: unknown hyperparameter {key!r}; known: {known}")
    kind = types[key]
    if ":" not in text:
        values = tuple(dict.fromkeys(_value(key, v, kind) for v in text.split(",") if v.strip()))
        if not values:
            raise InputError(f"--space {key} has no values; give KEY=V1,V2 or KEY=LOW:HIGH")
        return Dim(key, item, choices=values)
    parts = text.split(":")
    log = len(parts) == 3 and parts[2].strip() == "log"
    if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
        raise InputError(f"--space {item!r}: a range is LOW:HIGH or LOW:HIGH:log")
    if kind not in (int, float):
        raise InputError(f"--space {key} is a {kind.__name__}: give its choices, KEY=V1,V2")
    low, high = (_value(key, p, kind) for p in parts[:2])
    if low >= high:
        raise InputError(f"--space {item!r}: LOW must be below HIGH ({low} >= {high})")
    if log and low <= 0:
        raise InputError(f"--space {item!r}: a log range cannot reach 0 or below; give LOW > 0")
    return Dim(key, item, float(low), float(high), log, kind is int)


def parse_space(items: Sequence[str], base: RunConfig) -> dict[str, Dim]:
    """``--space`` items over the hyperparameters of ``base``; each range's ends (and
    each choice) are validated by the family before anything is written."""
    types = base.types()
    fam = family_of(base)
    dims: dict[str, Dim] = {}
    for item in items:
        dim = parse_dim(item, types)
        if dim.key in dims:
            raise InputError(f"--space {dim.key} is given twice; give it once")
        corners = dim.choices or (
            (int(dim.low), int(dim.high)) if dim.integer else (dim.low, dim.high)
        )
        for v in corners:
            try:
                fam.validate(base.with_values({dim.key: v}))
            except InputError as exc:
                raise InputError(f"--space {dim.text}: {exc}") from None
        dims[dim.key] = dim
    return dims


_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(s|m|min|h)\s*$")


def parse_budget(text: str) -> float:
    """``90s``, ``30m``, ``1.5h`` -> seconds."""
    match = _DURATION.match(text)
    seconds = 0.0
    if match:
        seconds = float(match.group(1)) * {"s": 1, "m": 60, "min": 60, "h": 3600}[match.group(2)]
    if not match or not 0 < seconds <= MAX_BUDGET_S:
        raise InputError(
            f"--budget {text!r} is not a duration; give e.g. 90s, 30m or 2h (at most 30 days)"
        )
    return seconds


# --- creating a search -----------------------------------------------------------------


def default_space(base: RunConfig, unit: str) -> dict[str, str]:
    """The family's own search space for ``unit`` (``Family.search_space``)."""
    return family_of(base).search_space(unit)[1]


def check(
    base: RunConfig,
    dims: Mapping[str, Dim],
    sampler: str,
    trials: int | None,
    budget_s: float | None,
    prune: str | None,
) -> None:
    """Everything about a search that can be refused before anything is written."""
    fam = family_of(base)
    if fam.counted or base.train is None:
        raise InputError(f"--model {fam.name} is counted, not trained: there is nothing to search")
    if sampler not in SAMPLERS:
        raise InputError(f"--search must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if not dims:
        raise InputError("the search space is empty; give --space KEY=LOW:HIGH or KEY=V1,V2")
    if trials is not None and (isinstance(trials, bool) or not 1 <= trials <= MAX_TRIALS):
        raise InputError(f"--trials must be between 1 and {MAX_TRIALS:,}, got {trials}")
    if sampler == "grid":
        ranges = [d.text for d in dims.values() if not d.choices]
        if ranges:
            raise InputError(f"--search grid takes choices (KEY=V1,V2), not the range {ranges[0]}")
    elif trials is None and budget_s is None:
        raise InputError("give --trials N and/or --budget DURATION (e.g. --budget 30m)")
    if prune is not None:
        if prune not in PRUNERS:
            raise InputError(f"--prune must be {' or '.join(PRUNERS)}, got {prune!r}")
        t = base.train
        last_rung = max(rungs(t.steps))
        evals_after = math.ceil(last_rung / t.eval_interval) * t.eval_interval
        if evals_after >= t.steps:
            raise InputError(
                f"--prune {prune} compares trials at evaluations before their end, and with "
                f"--steps {t.steps} and --eval-every {t.eval_interval} there is none after step "
                f"{last_rung}; lower --eval-every or drop --prune"
            )


def create(
    store: Store,
    dataset: DatasetRecord,
    base: RunConfig,
    dims: Mapping[str, Dim],
    *,
    sampler: str,
    trials: int | None,
    budget_s: float | None,
    prune: str | None,
    seed: int,
    name: str | None,
) -> SweepRecord:
    check(base, dims, sampler, trials, budget_s, prune)
    assert base.train is not None
    resolve_device(base.train.device)
    if sampler == "grid":
        size = math.prod(len(d.choices) for d in dims.values())
        trials = size if trials is None else min(trials, size)
    search = {
        "sampler": sampler,
        "space": [d.text for d in dims.values()],
        "trials": trials,
        "budget_s": budget_s,
        "prune": prune,
        "seed": seed,
    }
    spec = {"base": base.to_dict(), "search": search, "grid": {}, "seeds": 1}
    return store.create_sweep(dataset_id=dataset.id, name=name, spec=spec, points=[])


def is_search(sweep: SweepRecord) -> bool:
    return "search" in sweep.spec


def space_of(sweep: SweepRecord) -> tuple[RunConfig, dict[str, Dim]]:
    base = config_from_dict(sweep.spec["base"])
    types = base.types()
    return base, {d.key: d for d in (parse_dim(t, types) for t in sweep.spec["search"]["space"])}


# --- the store as an Optuna study ------------------------------------------------------


def dev_at(curve: Sequence[MetricRecord], step: float) -> float | None:
    """The dev loss at the first evaluation at or after ``step``."""
    return next((m.dev_loss for m in curve if m.step >= step and m.dev_loss is not None), None)


def last_dev(curve: Sequence[MetricRecord]) -> tuple[int, float] | None:
    points = [(m.step, m.dev_loss) for m in curve if m.dev_loss is not None]
    return points[-1] if points else None  # type: ignore[return-value]


def params_of(run: RunRecord, dims: Mapping[str, Dim]) -> dict[str, Any]:
    flat = config_from_dict(run.config).hyperparameters()
    return {k: flat[k] for k in dims}


def study_from_store(
    runs: Sequence[RunRecord],
    curves: Mapping[int, Sequence[MetricRecord]],
    dims: Mapping[str, Dim],
    sampler: optuna.samplers.BaseSampler | None = None,
) -> optuna.Study:
    """An in-memory study holding the search's runs as trials: finished -> complete
    (value: final dev loss), pruned -> pruned, failed -> failed, others running."""
    import optuna
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    dists = {k: d.distribution() for k, d in dims.items()}
    for r in runs:
        curve = curves.get(r.id, [])
        inter = {m.step: m.dev_loss for m in curve if m.dev_loss is not None}
        value: float | None = None
        if r.status == "finished" and r.dev_loss is not None and math.isfinite(r.dev_loss):
            state, value = TrialState.COMPLETE, r.dev_loss
        elif r.status == "pruned":
            state, last = TrialState.PRUNED, last_dev(curve)
            value = last[1] if last else None
        elif r.status in ("failed", "finished"):
            state = TrialState.FAIL
        else:
            state = TrialState.RUNNING
        inter = {s: v for s, v in inter.items() if math.isfinite(v)}
        study.add_trial(
            create_trial(
                state=state,
                value=value if value is None or math.isfinite(value) else None,
                params=params_of(r, dims),
                distributions=dists,
                intermediate_values=inter,
                user_attrs={"run": r.id},
            )
        )
    return study


def make_sampler(kind: str, seed: int) -> optuna.samplers.BaseSampler:
    import optuna

    if kind == "tpe":
        with warnings.catch_warnings():  # constant_liar is marked experimental
            warnings.simplefilter("ignore")
            # constant_liar: trials other workers are running count as bad, so parallel
            # workers do not all propose the same region
            return optuna.samplers.TPESampler(
                seed=seed, n_startup_trials=TPE_STARTUP, constant_liar=True
            )
    return optuna.samplers.RandomSampler(seed=seed)


def propose(
    sweep: SweepRecord,
    dims: Mapping[str, Dim],
    runs: Sequence[RunRecord],
    curves: Mapping[int, Sequence[MetricRecord]],
    attempt: int,
) -> dict[str, Any] | None:
    """The next point to try (None: a grid with every point taken)."""
    search = sweep.spec["search"]
    seed = search["seed"] * 1_000_003 + len(runs) * 1009 + attempt
    if search["sampler"] == "grid":
        taken = {tuple(sorted(params_of(r, dims).items())) for r in runs}
        points = [
            dict(zip(dims, c, strict=True))
            for c in itertools.product(*(d.choices for d in dims.values()))
        ]
        random.Random(search["seed"]).shuffle(points)
        return next((p for p in points if tuple(sorted(p.items())) not in taken), None)
    study = study_from_store(runs, curves, dims, make_sampler(search["sampler"], seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trial = study.ask({k: d.distribution() for k, d in dims.items()})
    return dict(trial.params)


# --- successive halving ----------------------------------------------------------------


def rungs(steps: int) -> list[int]:
    return [max(1, math.ceil(f * steps)) for f in RUNG_FRACTIONS]


def promoted(value: float, others: Sequence[float], eta: int = ETA) -> bool:
    """Optuna's SuccessiveHalvingPruner's rule: a trial goes on when its value is among
    the best ``len(values) // eta`` of the values at the rung (its own included), and
    when that is none, when it is the best."""
    values = sorted([*others, value])
    k = max(0, len(values) // eta - 1)
    return math.isfinite(value) and value <= values[k]


def rung_values(
    runs: Sequence[RunRecord],
    curves: Mapping[int, Sequence[MetricRecord]],
    fraction: float,
    exclude: int,
) -> list[float]:
    """Each other trial's dev loss at ``fraction`` of its steps, where it got there."""
    out = []
    for r in runs:
        if r.id != exclude and r.steps:
            v = dev_at(curves.get(r.id, []), math.ceil(fraction * r.steps))
            if v is not None:
                out.append(v)
    return out


class TrialStop(threading.Event):
    """The stop a trial's run sees: the worker's (a signal) or its own (pruned at a rung,
    with the reason, which ``stages.run`` records as the run's ``pruned`` status)."""

    def __init__(self, parent: threading.Event) -> None:
        super().__init__()
        self.parent = parent
        self.pruned: str | None = None

    def is_set(self) -> bool:
        return super().is_set() or self.pruned is not None or self.parent.is_set()


class RungProgress(Progress):
    """The display's progress, plus the rung decisions at the evaluations it is told of."""

    def __init__(
        self, inner: Progress, store: Store, sweep_id: int, stop: TrialStop, prune: bool
    ) -> None:
        self.inner, self.store, self.sweep_id, self.trial_stop = inner, store, sweep_id, stop
        self.prune = prune
        self.run: RunRecord | None = None
        self.pending: list[tuple[float, int]] = []

    def start(self, run: RunRecord, total: int, initial: int) -> None:
        self.run = run
        self.pending = [
            (f, s) for f, s in zip(RUNG_FRACTIONS, rungs(total), strict=True) if s > initial
        ]
        self.inner.start(run, total, initial)

    def update(self, step: int, batch_loss: float, elapsed_s: float) -> None:
        self.inner.update(step, batch_loss, elapsed_s)

    def evaluated(self, point: EvalPoint) -> None:
        self.inner.evaluated(point)
        if not self.prune or self.run is None or point.dev_loss is None:
            return
        while self.pending and point.step >= self.pending[0][1] and self.trial_stop.pruned is None:
            fraction, _ = self.pending.pop(0)
            runs = self.store.sweep_runs(self.sweep_id)
            others = rung_values(
                runs, self.store.sweep_curves(self.sweep_id), fraction, self.run.id
            )
            if not promoted(point.dev_loss, others):
                self.trial_stop.pruned = (
                    f"pruned at step {point.step:,} ({fraction:.0%} of its steps) by successive "
                    f"halving: dev {point.dev_loss:.4f}, not in the best 1/{ETA} of "
                    f"{len(others) + 1} trials there"
                )

    def stop(self) -> None:
        self.inner.stop()


# --- the worker ------------------------------------------------------------------------


def remaining_s(sweep: SweepRecord, runs: Sequence[RunRecord]) -> float | None:
    """What is left of the budget: it counts the search's time from its creation to the
    last activity recorded (a heartbeat, an end), so ``--join`` shares the deadline of a
    running search and ``--resume`` after a kill gets what the killed session left."""
    budget = sweep.spec["search"]["budget_s"]
    if budget is None:
        return None
    stamps = [t for r in runs for t in (r.heartbeat_at, r.ended_at, r.started_at) if t]
    spent = (max(stamps) - sweep.created_at).total_seconds() if stamps else 0.0
    return float(budget) - max(0.0, spent)


@dataclass(frozen=True)
class SearchReport:
    trained: int
    stopped: bool


def work(
    store: Store,
    sweep_id: int,
    *,
    resume: bool,
    stop: threading.Event,
    progress_factory: Callable[[], Progress] = Progress,
) -> SearchReport:
    """Propose, claim and train trials until the trials or the budget are spent (or a stop
    is asked for); with ``resume``, the search's killed and crashed trials first."""
    sweep = store.sweep(sweep_id)
    search = sweep.spec["search"]
    base, dims = space_of(sweep)
    dataset = store.dataset_by_id(sweep.dataset_id)
    assert base.train is not None
    device = resolve_device(base.train.device)
    left = remaining_s(sweep, store.sweep_runs(sweep_id))
    deadline = None if left is None else time.monotonic() + left
    prune = search["prune"] is not None
    host, pid = socket.gethostname(), os.getpid()
    trained = 0

    def progress() -> tuple[RungProgress, TrialStop]:
        trial_stop = TrialStop(stop)
        return RungProgress(progress_factory(), store, sweep_id, trial_stop, prune), trial_stop

    if resume:
        for r in store.resumable_sweep_runs(sweep_id):
            if stop.is_set():
                break
            watch, trial_stop = progress()
            try:
                resume_run(store, r.id, progress=watch, stop=trial_stop)
            except ClaimedError:  # another worker took it meanwhile
                continue
            trained += 1
    attempt = 0
    while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
        runs = store.sweep_runs(sweep_id)
        if search["trials"] is not None and len(runs) >= search["trials"]:
            break
        params = propose(sweep, dims, runs, store.sweep_curves(sweep_id), attempt)
        if params is None:
            break
        cfg = base.with_values(params)
        got = store.add_point(
            sweep_id,
            (cfg.to_dict(), cfg.config_hash(), batched.group_key(cfg)),
            limit=search["trials"],
            columns=lambda c: run_columns(config_from_dict(c), device),
            device=str(device),
            host=host,
            pid=pid,
            version=__version__,
        )
        if got == "full":
            break
        if isinstance(got, str):  # a duplicate: ask again, differently seeded
            attempt += 1
            if attempt >= MAX_DUPLICATES:
                break
            continue
        attempt = 0
        _, run = got
        try:
            family_of(cfg).validate(cfg)  # a combination of valid ends may still be too big
        except InputError as exc:
            store.end_run(run.id, status="failed", error=str(exc), steps_done=0)
            continue
        watch, trial_stop = progress()
        outcome = execute_run(store, run, dataset, cfg, device, watch, trial_stop)
        trained += 1
        if outcome.run.status == "killed":
            return SearchReport(trained, True)
    return SearchReport(trained, stop.is_set())


# --- what a search found ---------------------------------------------------------------


def trial_rows(
    sweep: SweepRecord,
    runs: Sequence[RunRecord],
    curves: Mapping[int, Sequence[MetricRecord]],
) -> list[dict[str, Any]]:
    """A row per trial, in the order they started: run, status, dev (a pruned trial's at
    the step it stopped), the parameters, minutes from the search's start to the trial's
    end and the best finished dev so far then."""
    _, dims = space_of(sweep)
    start = sweep.created_at
    out = []
    for i, r in enumerate(sorted(runs, key=lambda r: r.id)):
        last = last_dev(curves.get(r.id, []))
        dev = r.dev_loss if r.status == "finished" else (last[1] if last else None)
        end = r.ended_at or r.heartbeat_at or datetime.now(timezone.utc)
        out.append(
            {
                "trial": i,
                "run": r.id,
                "status": r.status,
                "dev_loss": dev,
                "at_step": r.steps_done,
                "steps": r.steps,
                **params_of(r, dims),
                "minutes": (end - start).total_seconds() / 60,
                "train_seconds": r.train_seconds,
            }
        )
    best = math.inf
    for row in sorted(out, key=lambda row: row["minutes"]):
        if row["status"] == "finished" and row["dev_loss"] is not None:
            best = min(best, row["dev_loss"])
        row["best_so_far"] = best if math.isfinite(best) else None
    return out


def importance(
    sweep: SweepRecord,
    runs: Sequence[RunRecord],
    curves: Mapping[int, Sequence[MetricRecord]],
) -> dict[str, float]:
    """Each parameter's importance for the final dev loss (Optuna's PED-ANOVA evaluator
    over the finished trials); empty with fewer than two of them."""
    import optuna

    _, dims = space_of(sweep)
    finished = [r for r in runs if r.status == "finished" and r.dev_loss is not None]
    if len(finished) < 2:
        return {}
    study = study_from_store(finished, curves, dims)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # PED-ANOVA (Watanabe et al. 2023): needs no scikit-learn, unlike fANOVA
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
            return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except (RuntimeError, ValueError):  # e.g. every trial at the same point
        return {}
