"""``ngramlm lr-find``: the range test, its stored run and suggestion."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ngramlm.store import Store
from ngramlm.training.ema import ema
from ngramlm.training.lrfind import lr_schedule, suggest

from .conftest import MAKEMORE


def test_schedule_is_log_spaced_like_the_lecture() -> None:
    lrs = lr_schedule(1e-3, 1.0, 1000)
    assert len(lrs) == 1000 and lrs[0] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(1.0)
    assert lrs[500] / lrs[499] == pytest.approx(10 ** (3 / 999))


def test_suggestion_is_below_the_smoothed_minimum_and_ignores_divergence() -> None:
    lrs = lr_schedule(1e-3, 1.0, 300)
    # A valley at lr ~0.1, then a blow-up.
    losses = [3 + (math.log10(lr) + 1) ** 2 for lr in lrs]
    losses[-30:] = [1e6] * 30
    s = suggest(lrs, losses)
    assert 0.05 < s.lr_at_min < 0.3
    assert s.lr == pytest.approx(s.lr_at_min / math.sqrt(10))
    assert ema([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])  # bias-corrected


def test_lr_find_is_stored_as_its_own_kind(cli, sqlite_url: str, words_file: Path) -> None:
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    r = cli(
        "--db",
        sqlite_url,
        "lr-find",
        "--dataset",
        "tiny",
        "--steps",
        "100",
        "--n-hidden",
        "16",
        "--json",
    )
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert len(data["points"]) == 100
    with Store(sqlite_url) as s:
        run = s.run(data["run"])
        assert run.kind == "lr_find" and run.status == "finished"
        assert run.extra["suggested_lr"] == data["suggested_lr"]
        assert [round(m.lr, 12) for m in s.metrics(run.id)] == [
            round(p["lr"], 12) for p in data["points"]
        ]
        assert s.runs(kind="train") == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--min-lr", "0"], "--min-lr"),
        (["--max-lr", "nan"], "--max-lr"),
        (["--min-lr", "1", "--max-lr", "0.1"], "larger than --min-lr"),
        (["--steps", "3"], "--steps"),
    ],
)
def test_bad_lr_find_options(cli, sqlite_url: str, args: list[str], needle: str) -> None:
    r = cli("--db", sqlite_url, "lr-find", *args)
    assert r.code != 0 and needle in r.err, r.err
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()


@pytest.mark.skipif(not MAKEMORE.exists(), reason=f"the lecture's names.txt is not at {MAKEMORE}")
def test_lecture_model_on_lecture_names_suggests_near_the_lectures_rate(
    cli, sqlite_url: str
) -> None:
    assert cli("--db", sqlite_url, "prepare", MAKEMORE, "--name", "makemore").code == 0
    r = cli("--db", sqlite_url, "lr-find", "--dataset", "makemore", "--preset", "lecture", "--json")
    assert r.code == 0, r.err
    assert 0.03 <= json.loads(r.out)["suggested_lr"] <= 0.3


def test_lr_find_takes_a_preset_that_warms_up(cli, sqlite_url: str, words_file: Path) -> None:
    """--preset best warms up for 500 steps; the range test sets each step's rate itself,
    so a shorter range test is not refused for it."""
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    r = cli("--db", sqlite_url, "lr-find", "--dataset", "tiny", "--preset", "best",
            "--steps", "100", "--n-hidden", "16", "--json")  # fmt: skip
    assert r.code == 0, r.err
    assert len(json.loads(r.out)["points"]) == 100
