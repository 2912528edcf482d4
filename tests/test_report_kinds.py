"""``ngramlm report`` says what each run is (a network, a count model, a mixture, an
imported ARPA file, an lr-find) and what a run that did not finish had reached; the
lecture's printed figures appear beside a run only on the lecture's own names."""

from __future__ import annotations

import csv
import io
import json
import threading
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

import ngramlm
from ngramlm.api import display
from ngramlm.data import Vocab, content_sha256, read_lines
from ngramlm.stages.report import LECTURE_NAMES_SHA256
from ngramlm.store.records import DatasetRecord

from .conftest import MAKEMORE
from .helpers import (
    REPORT_COLUMNS,
    StopAt,
    age_heartbeat,
    tiny_config,
    tiny_store,
    tiny_words,
    train_tiny,
)


@pytest.fixture(scope="module")
def kinds(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, int]]:
    """A store with one run of each kind on ``tiny``: an MLP, a Kneser-Ney 3-gram, their
    mixture, that 3-gram exported and imported as ARPA, an lr-find, then an MLP killed at
    step 250 (evaluated every 100) and one left ``running`` with a stale heartbeat."""
    root = tmp_path_factory.mktemp("kinds")
    url = f"sqlite:///{root / 'store.db'}"
    ids: dict[str, int] = {}
    with tiny_store(url, tiny_words(root / "tiny.txt")):
        pass
    with ngramlm.open_store(url) as exp:
        ds = exp.dataset("tiny")
        ids["mlp"] = exp.train(ds, steps=200, n_hidden=16).run.id
        ids["kn"] = exp.train(ds, model="kneser-ney", order=3).run.id
        ids["mix"] = exp.train(ds, model="mixture", mix=f"{ids['mlp']},{ids['kn']}").run.id
        exp.export_arpa(ids["kn"], root / "kn.arpa")
        ids["arpa"] = exp.import_arpa(root / "kn.arpa", ds).id
        ids["lrfind"] = exp.lr_find(ds, steps=50).id
    with tiny_store(url, root / "tiny.txt") as store:
        for name, at in (("killed", 250), ("crashed", 350)):
            stop = threading.Event()
            out = train_tiny(store, tiny_config(store), progress=StopAt(stop, at), stop=stop)
            assert out.run.status == "killed"
            ids[name] = out.run.id
    age_heartbeat(url, ids["crashed"])  # its process gone without a word
    return url, ids


def _rows(out: str) -> dict[int, list[str]]:
    """The table's rows by run id: their cells, stripped."""
    rows = {}
    for line in out.splitlines():
        if line.count("│") > 5:
            cells = [c.strip() for c in line.split("│")[1:-1]]
            rows[int(cells[1])] = cells
    return rows


def _header(out: str) -> list[str]:
    line = next(ln for ln in out.splitlines() if " run " in ln and "status" in ln)
    return [c.strip() for c in line.split("┃")[1:-1]]


def test_each_run_says_what_it_is(cli, kinds: tuple[str, dict[str, int]]) -> None:
    url, ids = kinds
    data = json.loads(cli("--db", url, "report", "--json").out)["runs"]
    assert all(tuple(row) == REPORT_COLUMNS for row in data)
    category = {row["run"]: row["category"] for row in data}
    assert category == {
        ids["mlp"]: "network", ids["kn"]: "count", ids["mix"]: "mixture",
        ids["arpa"]: "imported-arpa", ids["lrfind"]: "lr-find", ids["killed"]: "network",
        ids["crashed"]: "network",
    }  # fmt: skip
    r = cli("--db", url, "report")
    assert r.code == 0, r.err
    header, rows = _header(r.out), _rows(r.out)
    model = {run: cells[header.index("model")] for run, cells in rows.items()}
    assert model[ids["lrfind"]] == "lr-find"
    assert model[ids["kn"]] == "kn-3" and model[ids["arpa"]] == "arpa-3"
    assert model[ids["mix"]] == f"mix {ids['mlp']}+{ids['kn']}"
    # an lr-find's lr is the rate it suggests, its losses none (it has none)
    one = json.loads(cli("--db", url, "report", str(ids["lrfind"]), "--json").out)
    lrfind = rows[ids["lrfind"]]
    assert lrfind[header.index("lr")] == f"{one['extra']['suggested_lr']:.2g}"
    assert lrfind[header.index("train")] == lrfind[header.index("dev")] == "—"
    # each form shown is explained below the table
    legend = " ".join(r.out.split())
    for form in ("B/E/H[xL]: an MLP's block_size/n_embd/n_hidden", "kn-N: Kneser-Ney",
                 "mix A+B: runs A and B mixed", "arpa-N: an imported ARPA N-gram",
                 "lr-find: a learning-rate range test"):  # fmt: skip
        assert form in legend, form


def test_the_legend_explains_only_what_is_shown(cli, kinds: tuple[str, dict[str, int]]) -> None:
    url, ids = kinds
    r = cli("--db", url, "report", "--limit", "1")  # the newest: the crashed MLP
    assert list(_rows(r.out)) == [ids["crashed"]]
    flat = " ".join(r.out.split())
    assert "B/E/H[xL]" in flat and "*: the last evaluation of a run that did not finish" in flat
    assert "kn-N" not in flat and "arpa-N" not in flat and "lr-find" not in flat
    r = cli("--db", url, "report", "--status", "finished")
    assert "*" not in " ".join(r.out.split()).replace("★", "")


def test_a_run_that_did_not_finish_shows_the_losses_it_recorded(
    cli, kinds: tuple[str, dict[str, int]]
) -> None:
    url, ids = kinds
    with ngramlm.open_store(url) as exp:
        curves = {k: [m for m in exp.curve(ids[k]) if m.dev_loss is not None]
                  for k in ("killed", "crashed")}  # fmt: skip
    data = {row["run"]: row for row in json.loads(cli("--db", url, "report", "--json").out)["runs"]}
    r = cli("--db", url, "report")
    header, rows = _header(r.out), _rows(r.out)
    for name, status in (("killed", "killed"), ("crashed", "crashed")):
        row, last = data[ids[name]], curves[name][-1]
        assert row["status"] == status and row["train_loss"] is None  # no final losses
        assert row["last_eval_step"] == last.step < row["steps_done"]
        assert (row["last_train_loss"], row["last_dev_loss"]) == (last.train_loss, last.dev_loss)
        cells = rows[ids[name]]
        assert cells[header.index("train")] == f"{last.train_loss:.4f}*"
        assert cells[header.index("dev")] == f"{last.dev_loss:.4f}*"
        assert cells[header.index("gap")] == f"{last.dev_loss - last.train_loss:+.3f}"
    assert data[ids["killed"]]["last_eval_step"] == 200  # killed at 250, evaluated every 100
    finished = data[ids["mlp"]]
    assert finished["train_loss"] is not None and finished["last_eval_step"] is None
    assert not rows[ids["mlp"]][header.index("train")].endswith("*")
    # --csv: the same columns, the new ones appended
    table = list(csv.DictReader(io.StringIO(cli("--db", url, "report", "--csv").out)))
    killed = next(x for x in table if x["run"] == str(ids["killed"]))
    assert tuple(killed) == REPORT_COLUMNS and killed["last_eval_step"] == "200"
    # report RUN says it too
    text = cli("--db", url, "report", str(ids["killed"])).out
    assert f"its last evaluation, at step 200: train {curves['killed'][-1].train_loss:.4f}" in text
    one = json.loads(cli("--db", url, "report", str(ids["killed"]), "--json").out)
    assert one["last_eval_step"] == 200


# --- the lecture's figures, on the lecture's names alone ----------------------------------


def _dataset(**kw: object) -> DatasetRecord:
    fields: dict = dict(
        id=1, name="whatever", sha256=LECTURE_NAMES_SHA256, source_path="/x/names.txt",
        seed=42, vocab=Vocab.from_words(["ab"]), n_words=32_033, n_train=25_626,
        n_dev=3_203, n_test=3_204, n_duplicates=0,
        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )  # fmt: skip
    return replace(DatasetRecord(**fields), **kw)


def test_the_lectures_split_is_told_by_its_words_seed_and_split_not_its_name() -> None:
    assert display.lectures_split(_dataset())
    assert display.lectures_split(_dataset(name="makemore")) and display.lectures_split(
        _dataset(name="brown")
    )  # the name decides nothing
    for other in (
        {"sha256": "0" * 64},  # another word list, whatever it is called
        {"seed": 7},  # the lecture's words, another split
        {"split": "ordered:20000,3000"},
        {"min_count": 2},
    ):
        assert not display.lectures_split(_dataset(**other)), other


def test_no_lecture_figures_beside_a_run_on_another_list(
    cli, sqlite_url: str, words_file: Path
) -> None:
    # a list named as the lecture's (the name the docs use) is still another list
    assert cli("--db", sqlite_url, "prepare", words_file, "--name", "makemore").code == 0
    for preset in ("best", "lecture"):
        r = cli("--db", sqlite_url, "train", "--dataset", "makemore", "--preset", preset,
                "--steps", "30", "--warmup", "3")  # fmt: skip
        assert r.code == 0, r.err
        assert "train loss" in r.out and "printed" not in r.out, r.out


def test_the_lecture_figures_beside_a_run_on_the_lectures_names(cli, sqlite_url: str) -> None:
    if not MAKEMORE.exists():
        pytest.skip(f"{MAKEMORE} is absent (set NGRAMLM_NAMES to the lecture's names.txt)")
    assert content_sha256(read_lines(MAKEMORE, "char")) == LECTURE_NAMES_SHA256
    # under a name of its own: the words and the split decide
    assert cli("--db", sqlite_url, "prepare", MAKEMORE, "--name", "mine").code == 0
    r = cli("--db", sqlite_url, "train", "--dataset", "mine", "--preset", "lecture",
            "--steps", "30")  # fmt: skip
    assert r.code == 0, r.err
    assert "makemore part 2 printed: train 2.1260   dev 2.1701" in r.out
