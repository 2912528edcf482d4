"""What a word model's embeddings learnt: nearest words in ``report RUN``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ngramlm import open_store
from ngramlm.errors import InputError

from .helpers import cli_train, prepare_words, sentences_file


def test_nearest_words_of_a_word_network(cli, sqlite_url: str, tmp_path: Path) -> None:
    path = sentences_file(tmp_path / "sents.txt", 150)
    prepare_words(cli, sqlite_url, path)
    run = cli_train(cli, sqlite_url, "--dataset", "sents", "--steps", "60", "--n-hidden", "8",
                    "--n-embd", "4", "-q")["run"]  # fmt: skip
    with open_store(sqlite_url) as exp:
        near = exp.neighbours(run, k=3)
        vocab = exp.load_model(run).vocab
        C = exp.embeddings(run)[1]
        with pytest.raises(InputError, match="not in run"):
            exp.neighbours(run, ["zebra"])
    assert [w for w, _ in near] == [t for t in vocab.tokens if t != "<unk>"][:10]
    for w, nearest in near:
        assert len(nearest) == 3 and w not in [n for n, _ in nearest]
        sims = [c for _, c in nearest]
        assert sims == sorted(sims, reverse=True) and all(-1 <= c <= 1 for c in sims)
    assert C.shape[0] == vocab.size  # boundary + tokens (fewer than 100 here)
    out = json.loads(cli("--db", sqlite_url, "report", str(run), "--json").out)
    assert [n["word"] for n in out["neighbours"]] == [w for w, _ in near]
    text = cli("--db", sqlite_url, "report", str(run)).out
    assert "nearest words by embedding" in text


def test_a_count_model_has_no_neighbours(cli, sqlite_url: str, tmp_path: Path) -> None:
    path = sentences_file(tmp_path / "sents.txt", 80)
    prepare_words(cli, sqlite_url, path)
    r = cli("--db", sqlite_url, "train", "--dataset", "sents", "--model", "kneser-ney",
            "--order", "3", "--json")  # fmt: skip
    run = json.loads(r.out)["run"]
    with open_store(sqlite_url) as exp, pytest.raises(InputError, match="no embeddings"):
        exp.neighbours(run)
    out = json.loads(cli("--db", sqlite_url, "report", str(run), "--json").out)
    assert out["neighbours"] == []
