"""The store as an Optuna study: a search's runs become trials (``study_from_store``) and
the sampler asked for the next points (``propose``). Rebuilt before every proposal, so no
sampler state lives anywhere but the store (``stages/search.py``). And what a search
found: its trials as rows, best so far, and its parameters' importances."""

from __future__ import annotations

import itertools
import math
import random
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ngramlm.config import RunConfig
from ngramlm.errors import InputError
from ngramlm.models import config_from_dict
from ngramlm.stages.budget import stopped_by_budget
from ngramlm.stages.space import Dim, space_of, space_points
from ngramlm.store import Store
from ngramlm.store.records import MetricRecord, RunRecord, SweepRecord

if TYPE_CHECKING:
    import optuna

TPE_STARTUP = 8  # random trials before TPE models the good and the bad ones
ENUMERATED = 10_000  # a finite space up to this size: its untried points listed when asked


def last_dev(curve: Sequence[MetricRecord]) -> tuple[int, float] | None:
    points = [(m.step, m.dev_loss) for m in curve if m.dev_loss is not None]
    return points[-1] if points else None


def params_of(run: RunRecord, dims: Mapping[str, Dim]) -> dict[str, Any]:
    flat = config_from_dict(run.config).hyperparameters()
    return {k: flat[k] for k in dims}


def study_from_store(
    runs: Sequence[RunRecord],
    curves: Mapping[int, Sequence[MetricRecord]],
    dims: Mapping[str, Dim],
    sampler: optuna.samplers.BaseSampler | None = None,
    earlier: Sequence[RunRecord] = (),
) -> optuna.Study:
    """An in-memory study holding the search's runs as trials: finished -> complete
    (value: final dev loss), pruned -> pruned, failed -> failed, others running; and the
    ``earlier`` trials on its dataset that its space holds (a warm start, ``Earlier``),
    alike, except that one killed or crashed there is pruned: no one trains it now."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    dists = {k: d.distribution() for k, d in dims.items()}
    for r in earlier:
        study.add_trial(frozen_trial(r, curves.get(r.id, []), dims, dists, own=False))
    for r in runs:
        study.add_trial(frozen_trial(r, curves.get(r.id, []), dims, dists, own=True))
    return study


def frozen_trial(
    r: RunRecord,
    curve: Sequence[MetricRecord],
    dims: Mapping[str, Dim],
    dists: Mapping[str, optuna.distributions.BaseDistribution],
    own: bool,
) -> optuna.trial.FrozenTrial:
    """A run as a trial (``study_from_store``); ``own``: the search's own run."""
    from optuna.trial import TrialState, create_trial

    inter = {m.step: m.dev_loss for m in curve if m.dev_loss is not None}
    value: float | None = None
    stopped = ("pruned",) if own else ("pruned", "killed", "crashed")
    if r.status == "finished" and r.dev_loss is not None and math.isfinite(r.dev_loss):
        state, value = TrialState.COMPLETE, r.dev_loss
    elif r.status in stopped:
        state, last = TrialState.PRUNED, last_dev(curve)
        value = last[1] if last else None
    elif r.status in ("failed", "finished"):
        state = TrialState.FAIL
    else:
        state = TrialState.RUNNING
    inter = {s: v for s, v in inter.items() if math.isfinite(v)}
    return create_trial(
        state=state,
        value=value if value is None or math.isfinite(value) else None,
        params=params_of(r, dims),
        distributions=dict(dists),
        intermediate_values=inter,
        user_attrs={"run": r.id},
    )


@dataclass(frozen=True)
class Earlier:
    """A search's warm start: the runs on its dataset, outside it, that its space holds
    (each run's config is the one the search would train for its values: the same base,
    the same fixed options), with the curves of those that stopped early. Read once a
    worker (``earlier``); the sampler learns from them, and the store refuses their
    configurations (``Store.add_point``), so no configuration is trained twice."""

    runs: Sequence[RunRecord] = ()
    curves: Mapping[int, Sequence[MetricRecord]] = field(default_factory=dict)


def earlier(
    store: Store,
    sweep_id: int | None,
    dataset_id: int,
    dims: Mapping[str, Dim],
    config_of: Callable[[dict[str, Any]], RunConfig],
) -> Earlier:
    """The runs of dataset ``dataset_id`` outside sweep ``sweep_id`` whose configs are
    what ``config_of`` (the search's trial config) makes of their values in ``dims``."""
    held = []
    for r in store.runs(dataset_id=dataset_id, kind="train"):
        if sweep_id is not None and r.sweep_id == sweep_id:
            continue
        try:
            params = params_of(r, dims)
            inside = all(dims[k].holds(v) for k, v in params.items())
            if inside and config_of(params).config_hash() == r.config_hash:
                held.append(r)
        except (KeyError, TypeError, ValueError, InputError):  # another family, another space
            continue
    held.sort(key=lambda r: r.id)
    curves = {r.id: store.metrics(r.id) for r in held if r.status != "finished"}
    return Earlier(held, curves)


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
    k: int = 1,
    warm: Earlier | None = None,
) -> list[dict[str, Any]]:
    """The next ``k`` points to try, from one study (the ones asked for before count as
    running to the next ask; ``warm``: the dataset's earlier trials in it too); fewer
    from a grid with fewer points left. A small finite space whose sampler proposed
    points already tried (``attempt`` > 0) takes its untried points in a seeded order, as
    a grid does, so it runs each of its points."""
    search = sweep.spec["search"]
    warm = warm or Earlier()
    tried = [*warm.runs, *runs]
    seed = search["seed"] * 1_000_003 + len(tried) * 1009 + attempt
    size = space_points(dims)
    if search["sampler"] == "grid" or (attempt > 0 and size is not None and size <= ENUMERATED):
        taken = {tuple(sorted(params_of(r, dims).items())) for r in tried}
        points = [
            dict(zip(dims, c, strict=True))
            for c in itertools.product(*(d.values() for d in dims.values()))
        ]
        random.Random(search["seed"]).shuffle(points)
        return [p for p in points if tuple(sorted(p.items())) not in taken][:k]
    first = [] if tried or attempt else [p for p in [base_point(sweep, dims)] if p is not None]
    sampler = make_sampler(search["sampler"], seed)
    study = study_from_store(runs, {**warm.curves, **curves}, dims, sampler, warm.runs)
    dists = {key: d.distribution() for key, d in dims.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return first + [dict(study.ask(dists).params) for _ in range(k - len(first))]


def base_point(sweep: SweepRecord, dims: Mapping[str, Dim]) -> dict[str, Any] | None:
    """The search's starting preset as a point of its space, or None where the space
    does not hold it: a new search's first trial (nothing tried on the dataset in the
    space yet), so that a search never ends worse than the recipe it starts from."""
    flat = config_from_dict(sweep.spec["base"]).hyperparameters()
    point: dict[str, Any] = {}
    for key, d in dims.items():
        v = flat.get(key)
        if d.choices:
            if v not in d.choices:
                return None
        elif isinstance(v, bool) or not isinstance(v, int | float) or not d.low <= v <= d.high:
            return None
        point[key] = v
    return point


# --- what a search found ---------------------------------------------------------------


def trials(store: Store, sweep: SweepRecord) -> list[dict[str, Any]]:
    """A search's trials as rows (``trial_rows``), read from the store."""
    return trial_rows(sweep, store.sweep_runs(sweep.id), store.sweep_curves(sweep.id))


def importances(store: Store, sweep: SweepRecord) -> dict[str, float]:
    """A search's parameters' importances (``importance``), read from the store."""
    return importance(sweep, store.sweep_runs(sweep.id), store.sweep_curves(sweep.id))


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
                "error": r.error if r.status == "failed" else None,  # why it failed
                "stopped_by_budget": stopped_by_budget(r),  # killed by it, resumable
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
