"""``ngramlm report``: fields, sorting, grouping, one run, a sweep, diagnosis."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ngramlm import report as core
from ngramlm.store.records import MetricRecord, RunRecord

from .test_train import age_heartbeat


@pytest.fixture
def populated(cli, sqlite_url: str, words_file: Path) -> dict:
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    solo = cli(
        "--db",
        sqlite_url,
        "train",
        "--dataset",
        "tiny",
        "--steps",
        "200",
        "--n-hidden",
        "16",
        "--json",
    )
    sweep = cli(
        "--db",
        sqlite_url,
        "sweep",
        "--dataset",
        "tiny",
        "--lr-grid",
        "0.02,0.2",
        "--grid",
        "n_hidden=8,16",
        "--steps",
        "100",
        "--json",
    )
    return {"solo": json.loads(solo.out), "sweep": json.loads(sweep.out)}


def test_json_fields_are_the_documented_ones(cli, sqlite_url: str, populated: dict) -> None:
    r = cli("--db", sqlite_url, "report", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert len(data["runs"]) == 5
    assert all(tuple(row) == core.FIELDS for row in data["runs"])
    assert data["test_evaluations_spent"] == {"tiny": 0}
    best = [row for row in data["runs"] if row["best_in_sweep"]]
    assert [b["run"] for b in best] == [populated["sweep"]["best_run"]]


def test_csv_and_sort_and_limit(cli, sqlite_url: str, populated: dict) -> None:
    r = cli("--db", sqlite_url, "report", "--csv", "--sort", "dev")
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert tuple(rows[0]) == core.FIELDS and len(rows) == 5
    sweep_rows = [x for x in rows if x["sweep"]]
    devs = [float(x["dev_loss"]) for x in sweep_rows]
    assert devs == sorted(devs)  # sorted by dev within the sweep group
    r = cli("--db", sqlite_url, "report", "--json", "--limit", "2")
    assert len(json.loads(r.out)["runs"]) == 2


def test_stale_run_shows_as_crashed_and_filters(cli, sqlite_url: str, populated: dict) -> None:
    solo = populated["solo"]["run"]
    age_heartbeat(sqlite_url, solo)
    r = cli("--db", sqlite_url, "report", "--status", "crashed", "--json")
    assert [x["run"] for x in json.loads(r.out)["runs"]] == [solo]
    table = cli("--db", sqlite_url, "report")
    assert "crashed" in table.out and "test evaluations spent: tiny 0" in table.out


def test_one_run_in_depth(cli, sqlite_url: str, populated: dict) -> None:
    run = str(populated["solo"]["run"])
    assert cli("--db", sqlite_url, "finalize", run).code == 0
    r = cli("--db", sqlite_url, "report", run, "--json")
    data = json.loads(r.out)
    assert data["test_loss"] is not None and len(data["curve"]) == 20
    assert {f["rule"] for f in data["diagnosis"]} & {"underfit", "overfit", "balanced"}
    assert len(data["samples"]) == 8 and data["checkpoint"]["step"] == 200
    text = cli("--db", sqlite_url, "report", run)
    assert "dev " in text.out and "samples:" in text.out and "checkpoint: step 200" in text.out
    spent = json.loads(cli("--db", sqlite_url, "report", "--json").out)["test_evaluations_spent"]
    assert spent == {"tiny": 1}


def test_sweep_as_a_grid(cli, sqlite_url: str, populated: dict) -> None:
    sweep = str(populated["sweep"]["sweep"])
    r = cli("--db", sqlite_url, "report", "--sweep", sweep)
    assert r.code == 0, r.err
    assert "n_hidden=8" in r.out and "n_hidden=16" in r.out and "★" in r.out
    assert f"best: run {populated['sweep']['best_run']}" in r.out
    data = json.loads(cli("--db", sqlite_url, "report", "--sweep", sweep, "--json").out)
    assert len(data["runs"]) == 4 and data["best_run"] == populated["sweep"]["best_run"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--sort", "colour"], "--sort"),
        (["--status", "happy"], "--status"),
        (["--limit", "0"], "--limit"),
        (["--json", "--csv"], "not both"),
        (["--sweep", "abc"], "sweep id"),
        (["--sweep", "99"], "no sweep 99"),
        (["--dataset", "nope"], "no dataset named"),
        (["77"], "no run 77"),
    ],
)
def test_bad_report_requests(cli, sqlite_url: str, args: list[str], needle: str) -> None:
    r = cli("--db", sqlite_url, "report", *args)
    assert r.code != 0 and needle in r.err, r.err


def _run(train: float, dev: float) -> RunRecord:
    now = datetime.now(timezone.utc)
    return RunRecord(
        id=1, dataset_id=1, dataset="d", kind="train", name=None, stored_status="finished",
        preset=None, config_json='{"model": {}, "train": {"steps": 1000}}', steps=1000,
        config_hash="h", seed=1,
        created_at=now, started_at=now, ended_at=now, heartbeat_at=now, steps_done=1000,
        train_seconds=1.0, train_loss=train, dev_loss=dev, checkpoint_sha256=None, extra={},
        host="h", pid=1, version="v", device="cpu", error=None,
    )  # fmt: skip


def _curve(devs: list[float]) -> list[MetricRecord]:
    n = len(devs)
    return [MetricRecord(1000 * (i + 1) // n, 0.0, 0.1, None, d, d) for i, d in enumerate(devs)]


def test_diagnosis_rules_name_their_numbers() -> None:
    under = core.diagnose(_run(2.20, 2.21), _curve([2.5, 2.3, 2.215, 2.21]))
    assert [f.rule for f in under] == ["underfit", "plateaued"]
    assert "2.2000" in under[0].message and "grow --n-hidden" in under[0].message
    over = core.diagnose(_run(1.80, 2.10), _curve([2.5, 2.3, 2.2, 2.10]))
    assert over[0].rule == "overfit" and "+0.3000" in over[0].message
    falling = core.diagnose(
        _run(2.20, 2.21), _curve([2.9, 2.7, 2.5, 2.3, 2.25, 2.24, 2.23, 2.22, 2.215, 2.17])
    )
    assert falling[-1].rule == "still-falling" and "train longer" in falling[-1].message
