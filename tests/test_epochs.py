"""``--epochs`` beside ``--steps``, and the word presets ``--preset bengio`` and ``words``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ngramlm import open_store
from ngramlm.models import family, preset_config

from .conftest import count_rows
from .helpers import prepare_words, sentences_file


def test_bengio_preset_is_the_papers_mlp1() -> None:
    cfg = preset_config("bengio", {}, 1000)
    m, t = cfg.model, cfg.train
    assert cfg.family == "mlp"
    assert (m.block_size + 1, m.n_hidden, m.n_embd, m.direct) == (5, 50, 60, True)
    assert t is not None and t.epochs == 2.0


def test_words_preset_is_the_tied_wide_model() -> None:
    cfg = preset_config("words", {}, 14_115)
    m, t = cfg.model, cfg.train
    assert (m.block_size, m.n_embd, m.n_hidden, m.tie, m.direct) == (6, 96, 512, True, False)
    # the output layer is C itself: the parameters are V x 96 once, not V x 96 + 512 x V
    assert m.n_params == 14_115 * 96 + 6 * 96 * 512 + 512 + 512 * 96 + 14_115
    assert t is not None and t.epochs > 0 and t.optimizer == "adamw"
    assert family("mlp").describe(cfg, {}).label == "mlp 6/96/512 tied"  # report's label


def test_epochs_set_the_steps_and_one_evaluation_an_epoch(cli, sqlite_url: str, tmp_path: Path):
    path = sentences_file(tmp_path / "sents.txt", 120)
    prepare_words(cli, sqlite_url, path)
    with open_store(sqlite_url) as exp:
        ds = exp.dataset("sents")
        train_lines = exp.store.words(ds.id, "train")
    n_train = sum(len(line.split()) + 1 for line in train_lines)  # tokens + one boundary
    r = cli("--db", sqlite_url, "train", "--dataset", "sents", "--preset", "bengio",
            "--epochs", "2", "--batch-size", "32", "--n-hidden", "8", "--n-embd", "4",
            "-q", "--json")  # fmt: skip
    assert r.code == 0, r.err
    out = json.loads(r.out)
    t = out["config"]["train"]
    per_epoch = math.ceil(n_train / 32)
    assert t["steps"] == out["steps_done"] == math.ceil(2 * n_train / 32)
    assert t["eval_every"] == per_epoch and t["epochs"] == 2.0
    assert t["warmup"] < t["steps"]  # the preset's 200 warm-up steps shrink for a short run
    assert [p["step"] for p in out["curve"]] == [0, per_epoch, t["steps"]]


def test_steps_and_epochs_together_are_refused(cli, sqlite_url: str, tmp_path: Path) -> None:
    path = sentences_file(tmp_path / "sents.txt", 60)
    prepare_words(cli, sqlite_url, path)
    before = count_rows(sqlite_url, "runs")
    r = cli("--db", sqlite_url, "train", "--dataset", "sents", "--steps", "10", "--epochs", "1")
    assert r.code == 2 and "give --steps or --epochs, not both" in r.err
    assert len(r.err.strip().splitlines()) == 1
    r = cli("--db", sqlite_url, "train", "--dataset", "sents", "--epochs", "-1")
    assert r.code == 2 and "--epochs" in r.err
    assert count_rows(sqlite_url, "runs") == before


def test_explicit_steps_replace_a_presets_epochs(cli, sqlite_url: str, tmp_path: Path) -> None:
    path = sentences_file(tmp_path / "sents.txt", 60)
    prepare_words(cli, sqlite_url, path)
    r = cli("--db", sqlite_url, "train", "--dataset", "sents", "--preset", "bengio",
            "--steps", "12", "--warmup", "2", "--n-hidden", "8", "--n-embd", "4",
            "-q", "--json")  # fmt: skip
    assert r.code == 0, r.err
    t = json.loads(r.out)["config"]["train"]
    assert (t["steps"], t["epochs"]) == (12, 0.0)


def test_epochs_read_the_train_split_once(
    cli, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--epochs`` counts an epoch's predictions on the train split and the run trains on
    that same read of it: one read, however large the corpus."""
    from ngramlm.store import Store

    path = sentences_file(tmp_path / "sents.txt", 60)
    prepare_words(cli, sqlite_url, path)
    reads: list[str] = []
    words = Store.words

    def counted(self: Store, dataset_id: int, split: str) -> list[str]:
        reads.append(split)
        return words(self, dataset_id, split)

    monkeypatch.setattr(Store, "words", counted)
    r = cli("--db", sqlite_url, "train", "--dataset", "sents", "--preset", "bengio",
            "--epochs", "1", "--batch-size", "32", "--n-hidden", "8", "-q")  # fmt: skip
    assert r.code == 0, r.err
    assert reads.count("train") == 1
