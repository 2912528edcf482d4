"""``ngramlm report``: fields, sorting, grouping, one run, a sweep, diagnosis."""

from __future__ import annotations

import copy
import csv
import io
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ngramlm.stages import diagnose as diag
from ngramlm.stages import report as core
from ngramlm.store.records import MetricRecord, NewRun, RunRecord

from .helpers import (
    REPORT_COLUMNS,
    TINY_ARGS,
    age_heartbeat,
    cli_tiny_run,
    cli_train,
    ngramlm_json,
    prepare_words,
    sentences_file,
    tiny_words,
)


@pytest.fixture(scope="module")
def populated_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A store with a solo run on ``tiny`` and a 2x2 sweep, built once for the module."""
    root = tmp_path_factory.mktemp("report-store")
    url = f"sqlite:///{root / 'store.db'}"
    ngramlm_json(url, "prepare", str(tiny_words(root / "tiny.txt")), cwd=root)
    solo = ngramlm_json(url, "train", "--dataset", "tiny", "--steps", "200", "--n-hidden", "16",
                        cwd=root)  # fmt: skip
    sweep = ngramlm_json(url, "sweep", "--dataset", "tiny", "--lr-grid", "0.02,0.2",
                         "--grid", "n_hidden=8,16", "--steps", "100", cwd=root)  # fmt: skip
    return root / "store.db", {"solo": solo, "sweep": sweep}


@pytest.fixture
def populated(sqlite_url: str, populated_once: tuple[Path, dict]) -> dict:
    """That store, copied to ``sqlite_url`` for this test alone."""
    db, runs = populated_once
    shutil.copy(db, sqlite_url.removeprefix("sqlite:///"))
    return copy.deepcopy(runs)


def test_json_fields_are_the_documented_ones(cli, sqlite_url: str, populated: dict) -> None:
    r = cli("--db", sqlite_url, "report", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert len(data["runs"]) == 5
    assert all(tuple(row) == REPORT_COLUMNS for row in data["runs"])
    assert data["test_evaluations_spent"] == {"tiny": 0}
    best = [row for row in data["runs"] if row["best_in_sweep"]]
    assert [b["run"] for b in best] == [populated["sweep"]["best_run"]]


def test_csv_and_sort_and_limit(cli, sqlite_url: str, populated: dict) -> None:
    r = cli("--db", sqlite_url, "report", "--csv", "--sort", "dev")
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert tuple(rows[0]) == REPORT_COLUMNS and len(rows) == 5
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
    assert data["test_loss"] is not None and len(data["curve"]) == 21  # step 0 and 20
    # the diagnosis is the one the run's own numbers call for, recomputed here with the
    # thresholds docs/cli.md states (a gap of at most 0.02 or at least 0.05, dev still
    # falling by 0.01 over the last 10% of steps) and dev rising 0.02 above its lowest
    gap = data["dev_loss"] - data["train_loss"]
    curve = data["curve"]
    ref = [m for m in curve if m["step"] <= 0.9 * curve[-1]["step"]][-1]
    falling = ref["dev_loss"] - curve[-1]["dev_loss"] > 0.01
    rising = curve[-1]["dev_loss"] - min(m["dev_loss"] for m in curve) > 0.02
    expected = (
        ("undertrained" if falling else "underfit") if gap <= 0.02
        else "overfit" if gap >= 0.05 and rising
        else "balanced"
    )  # fmt: skip
    assert [f["rule"] for f in data["diagnosis"]] == [
        expected,
        "still-falling" if falling else "plateaued",
    ]
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


MLP_CONFIG = '{"family": "mlp", "model": {}, "train": {"steps": 1000}}'


def _run(
    train: float | None,
    dev: float | None,
    *,
    model: str = "mlp",
    config_json: str = MLP_CONFIG,
    extra: dict | None = None,
) -> RunRecord:
    now = datetime.now(timezone.utc)
    return RunRecord(
        id=1, dataset_id=1, dataset="d", kind="train", name=None, stored_status="finished",
        preset=None, config_json=config_json, steps=1000, config_hash="h", seed=1,
        created_at=now, started_at=now, ended_at=now, heartbeat_at=now, steps_done=1000,
        train_seconds=1.0, train_loss=train, dev_loss=dev, checkpoint_sha256=None,
        extra=extra or {}, host="h", pid=1, version="v", device="cpu", error=None, model=model,
    )  # fmt: skip


def _curve(devs: list[float]) -> list[MetricRecord]:
    """Evaluations at equal intervals up to step 1000, train loss = dev loss."""
    n = len(devs)
    return [MetricRecord(1000 * (i + 1) // n, 0.0, 0.1, None, d, d) for i, d in enumerate(devs)]


def _rules(train: float | None, dev: float | None, devs: list[float], **kw: object) -> list[str]:
    return [f.rule for f in diag.diagnose(_run(train, dev, **kw), _curve(devs))]  # type: ignore[arg-type]


FLAT = [2.6, 2.4, 2.3, 2.3]  # last 10%: 2.3 -> 2.3, no change


@pytest.mark.parametrize(
    ("train", "dev", "rule"),
    [
        (2.000, 2.000, "underfit"),  # no gap at all
        (2.000, 2.019, "underfit"),  # just under UNDERFIT_GAP = 0.02
        (2.100, 2.080, "underfit"),  # dev below train: still no generalisation gap
        (2.000, 2.021, "balanced"),  # just over UNDERFIT_GAP
        (2.000, 2.049, "balanced"),  # just under OVERFIT_GAP = 0.05
        (2.000, 2.051, "balanced"),  # over OVERFIT_GAP, but dev is not rising (FLAT)
        (1.500, 2.200, "balanced"),  # a wide gap alone is not overfitting either
    ],
)
def test_gap_decides_underfit_balanced_overfit(train: float, dev: float, rule: str) -> None:
    assert _rules(train, dev, FLAT) == [rule, "plateaued"]
    rising = [2.6, 2.2, 2.3, 2.3]  # dev 0.1 above its lowest: memorising costs dev loss
    overfit = "overfit" if dev - train >= 0.05 else rule  # OVERFIT_GAP
    assert _rules(train, dev, rising) == [overfit, "plateaued"]


@pytest.mark.parametrize(
    ("devs", "rule"),
    [
        # 10 points: the reference is step 900 (the last at or before 90% of 1000)
        ([2.9, 2.8, 2.7, 2.6, 2.5, 2.4, 2.35, 2.3, 2.25, 2.235], "still-falling"),  # 0.015
        ([2.9, 2.8, 2.7, 2.6, 2.5, 2.4, 2.35, 2.3, 2.25, 2.245], "plateaued"),  # 0.005
        ([2.9, 2.8, 2.7, 2.6, 2.5, 2.4, 2.35, 2.3, 2.25, 2.30], "plateaued"),  # rising
        # 4 points: step 750 is the reference; an early fall does not count
        ([3.5, 2.3, 2.235, 2.23], "plateaued"),
        ([3.5, 2.3, 2.25, 2.23], "still-falling"),
        # 2 points: the first is the reference
        ([2.5, 2.3], "still-falling"),
    ],
)
def test_curve_decides_still_falling_or_plateaued(devs: list[float], rule: str) -> None:
    # no gap and still falling: the run was short, not the model small
    assert _rules(2.0, 2.0, devs) == [
        "undertrained" if rule == "still-falling" else "underfit",
        rule,
    ]


def test_diagnosis_rules_name_their_numbers() -> None:
    under = diag.diagnose(_run(2.20, 2.21), _curve([2.5, 2.3, 2.215, 2.21]))
    assert [f.rule for f in under] == ["underfit", "plateaued"]
    assert "2.2000" in under[0].message and "grow --n-hidden" in under[0].message
    assert "-0.0050" in under[1].message  # dev went from 2.215 to 2.21
    over = diag.diagnose(_run(1.80, 2.10), _curve([2.5, 2.0, 2.2, 2.10]))
    assert [f.rule for f in over] == ["overfit", "still-falling"]
    assert "+0.3000" in over[0].message and "--dropout" in over[0].message
    assert "risen 0.1000 since its lowest (step 500)" in over[0].message
    assert "0.1000 from step 750 to 1,000" in over[1].message
    balanced = diag.diagnose(_run(2.00, 2.03), _curve([2.5, 2.03]))
    assert balanced[0].rule == "balanced" and "+0.0300" in balanced[0].message


def test_no_curve_finding_from_one_point_and_none_without_losses() -> None:
    assert _rules(2.0, 2.3, [2.3]) == ["overfit"]  # one point: no slope to read
    assert _rules(2.0, 2.3, []) == ["overfit"]
    assert _rules(None, 2.3, [2.3]) == ["none"]
    assert _rules(2.0, None, []) == ["none"]


def test_count_models_get_the_counted_rule_whatever_their_gap() -> None:
    bigram = '{"family": "bigram", "model": {"vocab_size": 27, "order": 2, "smoothing": null}}'
    kn = '{"family": "kneser-ney", "model": {"vocab_size": 27, "order": 5, "smoothing": 0.75}}'
    chosen = {"smoothing": 0.5, "smoothing_chosen_on_dev": True}
    for train, dev in ((2.45, 2.45), (1.74, 1.99), (2.0, 2.03)):  # gaps of every kind
        found = diag.diagnose(
            _run(train, dev, model="bigram", config_json=bigram, extra=chosen),
            _curve([2.9, dev]),  # a falling "curve" is ignored: counting has no steps
        )
        assert [f.rule for f in found] == ["counted"]
        assert "a count model: train" in found[0].message
        assert "add-k 0.5 chosen on dev" in found[0].message
        assert f"({dev - train:+.4f})" in found[0].message
    given = diag.diagnose(
        _run(1.74, 1.99, model="kneser-ney", config_json=kn, extra={"smoothing": 0.75}), []
    )
    assert [f.rule for f in given] == ["counted"]
    assert "discount 0.75 as given" in given[0].message
    mkn = '{"family": "modified-kn", "model": {"vocab_size": 27, "order": 3}}'
    estimated = diag.diagnose(
        _run(1.74, 1.99, model="modified-kn", config_json=mkn,
             extra={"discounts": [[0.5], [0.6, 0.9, 1.1], [0.7, 1.0, 1.2]]}),
        [],
    )  # fmt: skip
    assert "discounts 0.7/1/1.2 estimated from the train split's counts of counts" in (
        estimated[0].message
    )


def _header(out: str) -> str:
    return next(line for line in out.splitlines() if " run " in line and "status" in line)


def test_every_table_column_is_labelled(cli, sqlite_url: str, populated: dict) -> None:
    r = cli("--db", sqlite_url, "report")
    assert r.code == 0, r.err
    header = _header(r.out)
    assert header.strip("┃ ").split()[0] == "best"  # the ★ column
    assert "best dev in its sweep" in r.out


def test_one_run_shows_what_its_settings_resolved_to(cli, sqlite_url: str, populated: dict) -> None:
    run = str(populated["solo"]["run"])
    out = cli("--db", sqlite_url, "report", run).out
    settings = {}
    for line in out.splitlines():
        cells = line.split("  ")
        cells = [c.strip() for c in cells if c.strip()]
        for k, v in zip(cells[::2], cells[1::2], strict=False):
            settings[k] = v
    assert settings["eval_every"] == "auto (10)"  # 200 steps // 20 evaluations
    assert settings["checkpoint_every"] == "auto (10)"
    assert settings["epochs"] == "—"  # steps were given
    assert settings["device"] == "cpu (auto)"
    assert settings["precision"] == "fp32 (auto)"
    assert "steps 200 / 200" in out


def test_a_running_run_shows_its_steps_of_the_target(
    cli, sqlite_url: str, words_file: Path
) -> None:
    from ngramlm.models import preset_config
    from ngramlm.stages.plan import Plan
    from ngramlm.stages.run import run_columns
    from ngramlm.store import Store

    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    with Store(sqlite_url) as store:
        ds = store.dataset("tiny")
        cfg = preset_config(None, {"steps": 60_000}, len(ds.vocab.tokens))

        run = store.create_run(NewRun(
            dataset_id=ds.id, kind="train", name=None, preset=None, config=cfg.to_dict(),
            config_hash=cfg.config_hash(), columns=run_columns(Plan.of(ds, cfg, threads=1)),
            device="cpu", host="h", pid=1, version="v",
        ))  # fmt: skip
        store.add_metrics(run.id, [], steps_done=1200)
    r = cli("--db", sqlite_url, "report")
    assert r.code == 0, r.err
    assert "1,200 / 60,000" in r.out and "running" in r.out
    assert core.steps_shown(60_000, 60_000) == "60,000"


@pytest.mark.slow
def test_sweep_grid_tells_the_seed_mean_from_the_single_run(
    cli, sqlite_url: str, words_file: Path
) -> None:
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    r = cli("--db", sqlite_url, "sweep", "--dataset", "tiny", "--lr-grid", "0.05,0.5",
            "--seeds", "2", "--steps", "60", "--n-hidden", "8", "--json")  # fmt: skip
    assert r.code == 0, r.err
    sweep = json.loads(r.out)["sweep"]
    data = json.loads(cli("--db", sqlite_url, "report", "--sweep", str(sweep), "--json").out)
    runs = data["runs"]
    means = {}
    for lr in (0.05, 0.5):
        devs = [x["dev_loss"] for x in runs if x["lr"] == lr]
        assert len(devs) == 2
        means[lr] = sum(devs) / 2
    best_lr = min(means, key=lambda k: means[k])
    best = data["best_setting"]
    assert best["lr"] == best_lr and best["seeds"] == 2
    assert best["mean_dev_loss"] == pytest.approx(means[best_lr])
    text = cli("--db", sqlite_url, "report", "--sweep", str(sweep)).out
    assert "mean dev loss over 2 seeds" in " ".join(text.split())  # the title wraps
    assert f"★ best setting: lr={best_lr:g}, mean dev {means[best_lr]:.4f} over 2 seeds" in text
    single = min(runs, key=lambda x: x["dev_loss"])
    assert f"best single run (one seed): run {single['run']}" in text
    star_rows = [line for line in text.splitlines() if "★" in line and "│" in line]
    assert len(star_rows) == 1 and f"{best_lr:g}" in star_rows[0]


def test_batched_runs_record_their_share_of_the_group_time(
    cli, sqlite_url: str, populated: dict
) -> None:
    sweep = populated["sweep"]["sweep"]
    runs = json.loads(cli("--db", sqlite_url, "report", "--sweep", str(sweep), "--json").out)
    for x in runs["runs"]:  # lr 0.02 and 0.2 of one n_hidden train as one batched model
        one = json.loads(cli("--db", sqlite_url, "report", str(x["run"]), "--json").out)
        assert one["extra"]["group_members"] == 2
        assert one["seconds"] == pytest.approx(one["extra"]["group_seconds"] / 2)
    text = cli("--db", sqlite_url, "report", str(runs["runs"][0]["run"])).out
    assert "its share of" in text and "s: 2 runs trained as one batched model" in text


def test_the_table_is_a_page_of_the_newest_runs(cli, sqlite_url: str, populated: dict) -> None:
    everything = json.loads(cli("--db", sqlite_url, "report", "--json").out)["runs"]
    newest = sorted((x["run"] for x in everything), reverse=True)[:2]
    best = populated["sweep"]["best_run"]
    r = cli("--db", sqlite_url, "report", "--limit", "2")
    assert r.code == 0, r.err
    flat = " ".join(r.out.split())  # the title wraps
    assert "2 of 5 runs on tiny" in flat and "--limit N shows more" in flat
    shown = [int(line.split("│")[2]) for line in r.out.splitlines() if line.count("│") > 5]
    assert sorted(shown, reverse=True) == newest
    # the ★ is the sweep's best over all its members, on the page or not
    starred = [line for line in r.out.splitlines() if "★" in line and "│" in line]
    assert len(starred) == (1 if best in newest else 0)
    r = cli("--db", sqlite_url, "report", "--dataset", "tiny", "--limit", "1")
    assert "1 of 5 runs on tiny" in r.out
    r = cli("--db", sqlite_url, "report", "--dataset", "nope")
    assert r.code != 0 and "no dataset named 'nope'" in r.err


@pytest.mark.slow
def test_report_speed_benchmark_runs_at_smoke_size(tmp_path: Path) -> None:
    import subprocess
    import sys

    from .conftest import REPO

    r = subprocess.run(
        [sys.executable, "-m", "benchmarks.report_speed", "--runs", "200", "--repeat", "1",
         "--store", str(tmp_path / "speed.db")],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    for needle in ("store: 200 runs", "ngramlm report: min", "ngramlm --help: min",
                   "ratio (medians)", "CPU: "):  # fmt: skip
        assert needle in r.stdout, r.stdout
    from ngramlm.store import Store

    with Store(f"sqlite:///{tmp_path / 'speed.db'}") as store:
        assert store.count_runs() == 200
        assert len(store.metrics(200)) == 20


# --- one checkpoint read a report ------------------------------------------------------


def test_report_run_reads_the_checkpoint_once(cli, sqlite_url: str, tmp_path: Path) -> None:
    """``report RUN`` shows the checkpoint, samples from it and (a word network) its
    nearest words: one read of the checkpoint's row serves them all (it was five)."""
    import sqlalchemy as sa

    from .helpers import cli_train, prepare_words, sentences_file

    path = sentences_file(tmp_path / "sents.txt", 150)
    prepare_words(cli, sqlite_url, path)
    run = cli_train(cli, sqlite_url, "--dataset", "sents", "--steps", "30", "--n-hidden", "8",
                    "--n-embd", "4", "-q")["run"]  # fmt: skip
    reads: list[str] = []

    def count(conn, cursor, statement: str, *args: object) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT") and "checkpoints" in statement:
            reads.append(statement)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
    try:
        for args in ((), ("--json",)):
            reads.clear()
            out = cli("--db", sqlite_url, "report", str(run), *args)
            assert out.code == 0, out.err
            assert "nearest" in out.out and "samples" in out.out
            assert len(reads) == 1, f"report {run} {' '.join(args)}: {len(reads)} reads"
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", count)


def test_report_run_reads_as_a_person_would(cli, sqlite_url: str, words_file: Path, tmp_path: Path):
    """Settings to 4 significant digits (``--json`` keeps every digit), the curve drawn
    after its step-0 point (which would flatten it), a word network's samples a line each."""
    run = cli_tiny_run(cli, sqlite_url, words_file, "--steps", "300", "--eval-every", "100",
                       "--lr", "0.0123456789", *TINY_ARGS)["run"]  # fmt: skip
    r = cli("--db", sqlite_url, "report", str(run))
    assert r.code == 0, r.err
    assert "0.01235" in r.out and "0.0123456789" not in r.out
    dev = next(line for line in r.out.splitlines() if line.startswith("dev  "))
    assert " at step 0, then " in dev and "(steps 100..300)" in dev
    data = json.loads(cli("--db", sqlite_url, "report", str(run), "--json").out)
    assert data["config"]["train"]["lr"] == 0.0123456789

    prepare_words(cli, sqlite_url, sentences_file(tmp_path / "sents.txt", 120))
    words_run = cli_train(cli, sqlite_url, "--dataset", "sents", "--steps", "50",
                          "--n-embd", "4", "--n-hidden", "8")["run"]  # fmt: skip
    out = cli("--db", sqlite_url, "report", str(words_run)).out.splitlines()
    samples = out[out.index("samples:") + 1 :][:8]
    assert len(samples) == 8
    assert all(s.startswith("  ") and s.rstrip().endswith(("(train)", "(dev)", "(new)"))
               for s in samples)  # fmt: skip
