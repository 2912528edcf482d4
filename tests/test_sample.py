"""``ngramlm sample``: determinism, temperature, prefix, marks, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ngramlm.data import Vocab
from ngramlm.store import Store

from .helpers import cli_tiny_run


@pytest.fixture
def trained(cli, sqlite_url: str, words_file: Path) -> str:
    run = cli_tiny_run(cli, sqlite_url, words_file, "--steps", "400", "--n-hidden", "32")
    return str(run["run"])


def words(cli, url: str, *args: str) -> list[dict]:
    r = cli("--db", url, "sample", *args, "--json")
    assert r.code == 0, r.err
    return json.loads(r.out)["words"]


def test_same_seed_same_words(cli, sqlite_url: str, trained: str) -> None:
    a = words(cli, sqlite_url, trained, "-n", "30", "--seed", "1")
    b = words(cli, sqlite_url, trained, "-n", "30", "--seed", "1")
    c = words(cli, sqlite_url, trained, "-n", "30", "--seed", "2")
    assert a == b and a != c and len(a) == 30
    r = cli("--db", sqlite_url, "sample", "last", "--json")
    assert json.loads(r.out)["run"] == int(trained)


def test_marks_never_reveal_the_test_split(cli, sqlite_url: str, trained: str) -> None:
    out = words(cli, sqlite_url, trained, "-n", "300", "--temperature", "0.5")
    assert len(out) == 300
    import sqlalchemy as sa

    with Store(sqlite_url) as s:
        ds = s.dataset_by_id(s.run(int(trained)).dataset_id)
        train, dev = set(s.words(ds.id, "train")), set(s.words(ds.id, "dev"))
        with s.engine.connect() as conn:  # the test reads the split directly, as a check
            held_out = conn.execute(sa.text("SELECT word FROM words WHERE split = 'test'"))
            test = {w for (w,) in held_out} - train - dev
    assert test  # the check below has test-only words to get wrong
    for w in out:
        assert set(w["word"]) <= set(ds.vocab.tokens), w  # only the dataset's characters
        assert len(w["word"]) <= 64, w  # sampling.MAX_NEW_CHARS
        expected = "train" if w["word"] in train else "dev" if w["word"] in dev else "new"
        assert w["in"] == expected, w
    # seeded: the same call gives the same words and the same marks
    assert words(cli, sqlite_url, trained, "-n", "300", "--temperature", "0.5") == out


def test_every_mark_on_a_split_built_by_hand(cli, sqlite_url: str) -> None:
    """Two letters, a split chosen so that samples must hit a train word, a dev-only word
    ('aa') and a test-only word ('bb'): each gets its mark, and the test word reads as
    new, as any word training never saw."""
    from ngramlm.data import content_sha256

    splits = {
        "train": ["ab", "ba", "a", "b", "aba", "bab", "abab", "baba"] * 8,
        "dev": ["aa", "ab"],
        "test": ["bb", "aa"],
    }
    everything = [w for part in splits.values() for w in part]
    with Store(sqlite_url) as s:
        s.add_dataset(name="ab", sha256=content_sha256(everything), source_path="by hand",
                      seed=0, vocab=Vocab(("a", "b"), "char"), splits=splits,
                      n_duplicates=0)  # fmt: skip
    r = cli("--db", sqlite_url, "train", "--dataset", "ab", "--steps", "200", "--n-hidden", "8",
            "--json")  # fmt: skip
    assert r.code == 0, r.err
    run = str(json.loads(r.out)["run"])
    out = words(cli, sqlite_url, run, "-n", "400", "--temperature", "2", "--seed", "5")
    marks = {}
    for w in out:
        assert set(w["word"]) <= {"a", "b"}, w
        marks.setdefault(w["word"], set()).add(w["in"])
    assert marks["ab"] == {"train"}  # in train and dev: train wins
    assert marks["aa"] == {"dev"}  # in dev (and test): dev
    assert marks["bb"] == {"new"}  # in test only: never revealed
    for word, m in marks.items():
        assert m == ({"train"} if word in splits["train"] else {"new"} if word != "aa" else {"dev"})


def test_greedy_prefix_and_top_k(cli, sqlite_url: str, trained: str) -> None:
    greedy = words(cli, sqlite_url, trained, "-n", "5", "--temperature", "0")
    assert len({w["word"] for w in greedy}) == 1
    pre = words(cli, sqlite_url, trained, "-n", "10", "--prefix", "ab")
    assert all(w["word"].startswith("ab") for w in pre)
    top1 = words(cli, sqlite_url, trained, "-n", "5", "--top-k", "1", "--seed", "3")
    assert [w["word"] for w in top1] == [greedy[0]["word"]] * 5


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["999"], "no run 999"),
        (["abc"], "run id 'abc' is not valid"),
        (["1 OR 1=1"], "is not valid"),
        (["{run}", "--temperature", "-1"], "--temperature"),
        (["{run}", "--prefix", "AB!"], "not in this dataset's vocabulary"),
        (["{run}", "-n", "0"], "-n must be"),
        (["{run}", "--top-k", "0"], "--top-k"),
    ],
)
def test_bad_sample_requests(
    cli, sqlite_url: str, trained: str, args: list[str], needle: str
) -> None:
    r = cli("--db", sqlite_url, "sample", *[a.format(run=trained) for a in args])
    assert r.code != 0 and needle in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1


def test_run_without_checkpoint(cli, sqlite_url: str, words_file: Path) -> None:
    import sqlalchemy as sa

    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    assert (
        cli(
            "--db", sqlite_url, "train", "--dataset", "tiny", "--steps", "30", "--n-hidden", "8"
        ).code
        == 0
    )
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM checkpoints"))
    engine.dispose()
    r = cli("--db", sqlite_url, "sample", "last")
    assert r.code != 0 and "no checkpoint" in r.err
