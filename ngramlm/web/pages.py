"""What the run, compare and live views read: one run in depth (``report RUN``'s
content), the points a live page has not drawn yet, runs side by side with the settings
that differ. Each is a dict for JSON; every read goes through the Python API, none writes
and none touches the test split (a run's test loss is shown once it was finalized)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ngramlm.api import (
    EvaluationRecord,
    Experiments,
    MetricRecord,
    NgramlmError,
    RunRecord,
    display,
)
from ngramlm.web.params import HttpError

RUNTIME = ("device", "precision", "threads", "host", "pid", "version", "preset", "config_hash")
TIMES = ("created_at", "started_at", "ended_at", "heartbeat_at")


def points(curve: list[MetricRecord]) -> list[dict[str, Any]]:
    return [m.__dict__ for m in curve]


def runtime(r: RunRecord) -> dict[str, Any]:
    """Where and how the run ran, when, and how old its heartbeat is."""
    out: dict[str, Any] = {key: getattr(r, key) for key in RUNTIME}
    out.update({key: _iso(getattr(r, key)) for key in TIMES})
    beat = r.heartbeat_at or r.started_at
    out["heartbeat_age_s"] = (
        None if beat is None else (datetime.now(timezone.utc) - beat).total_seconds()
    )
    out["group_members"] = r.extra.get("group_members")
    return out


def run_page(exp: Experiments, run_id: int) -> dict[str, Any]:
    """One run in depth: its row, settings, runtime, curve, diagnosis, samples (marked
    train, dev or new), a word network's nearest words, and its test loss only when it
    was finalized. A run whose checkpoint cannot be read still shows its curve."""
    r = exp.run(run_id)  # an unknown run: 404
    note = None
    try:
        detail = exp.run_report(run_id)
        r, curve, evaluation = detail.run, detail.curve, detail.evaluation
        diagnosis = [f.__dict__ for f in detail.diagnosis]
        samples = [{"text": w, "in": where} for w, where in detail.samples]
        neighbours = [
            {"word": w, "nearest": [{"word": n, "cosine": c} for n, c in near]}
            for w, near in detail.neighbours
        ]
        checkpoint = detail.checkpoint
    except NgramlmError as err:  # a checkpoint that cannot be read: the rest is shown
        note = str(err)
        curve, evaluation = exp.curve(run_id), exp.evaluation(run_id)
        diagnosis, samples, neighbours, checkpoint = [], [], [], None
    return {
        "row": display.run_row(r, evaluation),
        "label": display.describe(r).label,
        "counted": display.counted(r),
        "error": r.error,
        "settings": {k: _plain(v) for k, v in sorted(display.shown_hyperparameters(r).items())},
        "runtime": runtime(r),
        "evaluation": None if evaluation is None else tested(evaluation),
        "curve": points(curve),
        "checkpoint": checkpoint,
        "diagnosis": diagnosis,
        "samples": samples,
        "neighbours": neighbours,
        "note": note,
        "extra": {k: _plain(v) for k, v in r.extra.items() if k in ("suggested_lr", "method")},
        # a word dataset's losses are read as perplexity too (ngramlm.measure's rule)
        "perplexity": exp.dataset(r.dataset).unit == "word",
    }


def embedding_table(exp: Experiments, run_id: int) -> dict[str, Any]:
    """A network's embedding rows with their tokens (a word model's commonest 100), for
    the page's scatter (it projects them on their two principal components); a count
    model, or a run without a checkpoint, has none (an empty table, saying why)."""
    r = exp.run(run_id)
    if r.kind != "train" or display.counted(r):
        return {"tokens": [], "rows": [], "why": "a count model has no embeddings"}
    try:
        tokens, C = exp.embeddings(run_id)
    except NgramlmError as err:  # no checkpoint yet, or one that cannot be read
        return {"tokens": [], "rows": [], "why": str(err)}
    return {"tokens": list(tokens), "rows": C.astype(float).round(5).tolist(), "why": None}


def tested(e: EvaluationRecord) -> dict[str, Any]:
    """A finalized run's test evaluation, as recorded (nothing of the test split)."""
    return {"test_loss": e.test_loss, "n_examples": e.n_examples, "created_at": _iso(e.created_at)}


def live(exp: Experiments, run_id: int, after: int) -> dict[str, Any]:
    """What changed of a run since a page drew its curve up to step ``after``: its
    status (a stale heartbeat reads crashed), steps, losses and the new points."""
    r = exp.run(run_id)
    new = exp.curve(run_id, after=after)
    return {
        "run": r.id,
        "status": r.status,
        "steps_done": r.steps_done,
        "steps": r.steps,
        "train_loss": r.train_loss,
        "dev_loss": r.dev_loss,
        "heartbeat_at": _iso(r.heartbeat_at),
        "points": points(new),
    }


def compare(exp: Experiments, run_ids: list[int]) -> dict[str, Any]:
    """Runs side by side: each one's curve (a count model's dev loss, a level line) and
    the settings that differ between them (model and dataset included)."""
    runs = []
    settings: dict[int, dict[str, Any]] = {}
    for run_id in run_ids:
        r = exp.run(run_id)
        runs.append(
            {
                "run": r.id,
                "label": f"{r.id}: {display.describe(r).label}",
                "status": r.status,
                "counted": display.counted(r),
                "dataset": r.dataset,
                "train_loss": r.train_loss,
                "dev_loss": r.dev_loss,
                "curve": points(exp.curve(r.id)) if r.kind == "train" else [],
            }
        )
        shown = {"model": r.model, "dataset": r.dataset, "kind": r.kind}
        shown.update(display.shown_hyperparameters(r))
        settings[r.id] = {k: _plain(v) for k, v in shown.items()}
    keys = sorted({k for s in settings.values() for k in s})
    differ = [k for k in keys if len({repr(s.get(k)) for s in settings.values()}) > 1]
    return {
        "runs": runs,
        "differ": differ,
        "settings": {str(i): {k: s.get(k) for k in differ} for i, s in settings.items()},
        "same": len(keys) - len(differ),
    }


def after_step(text: str | None) -> int:
    """A live poll's cursor: the last step the page holds (-1: none yet)."""
    if text is None or text == "":
        return -1
    try:
        value = int(text)
    except ValueError:
        raise HttpError(400, "after must be a step number") from None
    if not -1 <= value <= 10**12:
        raise HttpError(400, "after must be a step number from -1")
    return value


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _plain(value: Any) -> Any:
    """A setting as JSON holds it: a number, text, a flag, or its text."""
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)
