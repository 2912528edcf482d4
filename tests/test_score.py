"""``ngramlm score RUN FILE`` (and ``Experiments.score``): a text file's loss and
perplexity under a finished run, its agreement with KenLM and with the run's own dev
loss, the test split refused; ``prepare --tokenize`` against syntok's own output."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ngramlm import open_store
from ngramlm.data import Vocab, content_sha256, read_words, split_words, token_counts
from ngramlm.errors import InputError
from ngramlm.store import Store

from .helpers import age_heartbeat, cli_train, corpus, prepare_words, tiny_words, word_corpus

# --- KenLM, the oracle --------------------------------------------------------------------


def test_score_agrees_with_kenlm_on_an_exported_count_model(cli, sqlite_url: str,
                                                            tmp_path: Path) -> None:  # fmt: skip
    """A modified-KN 4-gram on a small word corpus, exported as ARPA and loaded in KenLM:
    the perplexity of held-out text (words outside the vocabulary among them) agrees to
    1e-4, and so does every sentence's.

    The conventions line up exactly: ngramlm pads a sentence with boundary tokens, which
    the ARPA file writes as ``<s>`` (context) and ``</s>`` (predicted), and KenLM's
    ``score(s, bos=True, eos=True)`` starts from ``<s>`` and predicts ``</s>``, so both
    score each token and the sentence's end (a sentence of n words: n + 1 predictions). A
    word outside the vocabulary is ``<unk>`` in both, with ``<unk>``'s probability in
    its context (KenLM maps any unknown word to the ARPA file's ``<unk>``)."""
    kenlm = pytest.importorskip("kenlm")
    prepare_words(cli, sqlite_url, word_corpus(tmp_path / "c.txt"), "--min-count", "2")
    run = cli_train(cli, sqlite_url, "--dataset", "c", "--model", "modified-kn", "--order", "4")
    arpa = tmp_path / "m.arpa"
    assert cli("--db", sqlite_url, "export", str(run["run"]), "--arpa", arpa).code == 0
    held_out = corpus(40, seed=7, lengths=(4, 9), rare_every=5)  # 8 words never seen
    text = tmp_path / "held-out.txt"
    text.write_text("\n".join(held_out) + "\n", encoding="utf-8")
    r = cli("--db", sqlite_url, "score", str(run["run"]), text, "--per-line", "--json")
    assert r.code == 0, r.err
    ours = json.loads(r.out)
    model = kenlm.Model(str(arpa))
    log10 = [model.score(line, bos=True, eos=True) for line in held_out]
    n = sum(len(line.split()) + 1 for line in held_out)
    assert ours["predictions"] == n and ours["lines"] == len(held_out)
    assert ours["unk"] == sum(line.count("rare") for line in held_out) > 0
    kenlm_ppl = 10 ** (-sum(log10) / n)
    assert ours["perplexity"] == pytest.approx(kenlm_ppl, rel=1e-4)
    assert ours["loss"] == pytest.approx(-sum(log10) * math.log(10) / n, rel=1e-5)
    for mine, line in zip(ours["per_line"], held_out, strict=True):
        assert mine["text"] == line
        assert mine["perplexity"] == pytest.approx(model.perplexity(line), rel=1e-4)


# --- the run's own dev loss -------------------------------------------------------------


def _dev_file(exp, dataset: str, path: Path) -> Path:  # type: ignore[no-untyped-def]
    path.write_text("\n".join(exp.words(dataset, "dev")) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("unit", "options"),
    [
        ("char", {"steps": 200, "n_embd": 4, "n_hidden": 16, "batch_size": 16}),
        ("char", {"model": "kneser-ney", "order": 3}),
        ("word", {"preset": "words", "steps": 20, "warmup": 2, "n_embd": 8, "n_hidden": 16}),
        ("word", {"model": "modified-kn", "order": 3}),
        ("word", {"preset": "wavenet", "steps": 20, "n_embd": 4, "n_hidden": 16}),
    ],
    ids=["mlp-chars", "kn-chars", "mlp-words", "mkn-words", "wavenet-words"],
)
def test_scoring_the_dev_split_gives_the_recorded_dev_loss(
    sqlite_url: str, tmp_path: Path, unit: str, options: dict
) -> None:
    """The score is the dev path's own function: the dev split's text, written to a file
    and scored, gives the dev loss that training recorded."""
    with open_store(sqlite_url) as exp:
        if unit == "char":
            ds = exp.prepare(tiny_words(tmp_path / "tiny.txt"), "d")
        else:
            ds = exp.prepare(word_corpus(tmp_path / "w.txt"), "d", unit="word", min_count=2)
        run = exp.train(ds, **options).run
        scored = exp.score(run, _dev_file(exp, "d", tmp_path / "dev.txt"))
        assert scored.run.id == run.id and scored.lines == ds.dataset.n_dev
        assert scored.predictions == scored.tokens + scored.lines
        assert scored.loss == pytest.approx(run.dev_loss, abs=1e-9)
        assert scored.perplexity == pytest.approx(math.exp(run.dev_loss), rel=1e-9)


def test_a_mixture_and_an_arpa_import_score_their_dev_loss(
    cli, sqlite_url: str, tmp_path: Path
) -> None:
    prepare_words(cli, sqlite_url, word_corpus(tmp_path / "w.txt"), "--min-count", "2")
    net = cli_train(cli, sqlite_url, "--dataset", "w", "--preset", "words", "--steps", "20",
                    "--warmup", "2", "--n-embd", "8", "--n-hidden", "16")  # fmt: skip
    mkn = cli_train(cli, sqlite_url, "--dataset", "w", "--model", "modified-kn", "--order", "3")
    mix = cli_train(cli, sqlite_url, "--dataset", "w", "--model", "mixture", "--mix",
                    f"{net['run']},{mkn['run']}")  # fmt: skip
    arpa = tmp_path / "m.arpa"
    assert cli("--db", sqlite_url, "export", str(mkn["run"]), "--arpa", arpa).code == 0
    r = cli("--db", sqlite_url, "import", arpa, "--dataset", "w", "--json")
    assert r.code == 0, r.err
    imported = json.loads(r.out)
    with open_store(sqlite_url) as exp:
        dev = _dev_file(exp, "w", tmp_path / "dev.txt")
        for trained in (mix, imported):
            run = exp.run(trained["run"])
            assert exp.score(run, dev).loss == pytest.approx(run.dev_loss, abs=1e-9)


def test_per_line_scores_make_up_the_file_score(sqlite_url: str, tmp_path: Path) -> None:
    with open_store(sqlite_url) as exp:
        ds = exp.prepare(word_corpus(tmp_path / "w.txt"), "w", unit="word", min_count=2)
        run = exp.train(ds, model="modified-kn", order=3).run
        text = tmp_path / "t.txt"
        text.write_text("the cat sat on a mat\n\nzebra ran to the big house\n", encoding="utf-8")
        whole = exp.score(run, text)
        assert whole.per_line == ()
        each = exp.score(run, text, per_line=True)
    assert [s.text for s in each.per_line] == ["the cat sat on a mat", "zebra ran to the big house"]
    assert [s.tokens for s in each.per_line] == [6, 6] and [s.unk for s in each.per_line] == [0, 1]
    nll = sum(s.loss * (s.tokens + 1) for s in each.per_line)
    assert nll / each.predictions == pytest.approx(whole.loss, rel=1e-12)
    assert each.unk == 1 and each.unk_rate == pytest.approx(1 / 12)


# --- the test split stays finalize's ----------------------------------------------------


@pytest.fixture
def handmade(sqlite_url: str, tmp_path: Path) -> tuple[list[str], list[str], int]:
    """The names of ``tiny_words``, split the lecture's way and recorded as dataset
    ``hand`` with a bigram run: (the test words that train and dev do not hold, the
    train words, the run's id)."""
    words = read_words(tiny_words(tmp_path / "tiny.txt"))
    split = split_words(words, 42)
    with Store(sqlite_url) as s:
        splits = {"train": split.train, "dev": split.dev, "test": split.test}
        s.add_dataset(name="hand", sha256=content_sha256(words), source_path="tiny.txt",
                      seed=42, vocab=Vocab.from_words(words), splits=splits,
                      n_duplicates=0)  # fmt: skip
    with open_store(sqlite_url) as exp:
        run = exp.train("hand", model="bigram").run
    public = {*split.train, *split.dev}
    return [w for w in split.test if w not in public], split.train, run.id


def test_the_test_split_is_refused(
    cli, sqlite_url: str, tmp_path: Path, handmade: tuple[list[str], list[str], int]
) -> None:
    test, train, run = handmade
    assert len(test) > 10  # of 20
    for name, lines in (("test.txt", test), ("all.txt", [*train, *test]), ("ten.txt", test[:10])):
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        r = cli("--db", sqlite_url, "score", str(run), path)
        assert r.code == 2 and len(r.err.strip().splitlines()) == 1, r.err
        assert "test split of dataset 'hand'" in r.err and f"ngramlm finalize {run}" in r.err
    few = tmp_path / "few.txt"  # a handful of test words among others: chance, scored
    few.write_text("\n".join([*train[:30], *test[:9]]) + "\n", encoding="utf-8")
    r = cli("--db", sqlite_url, "score", str(run), few, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["lines"] == 39


def test_test_lines_that_train_also_holds_are_not_test_lines(
    sqlite_url: str, handmade: tuple[list[str], list[str], int]
) -> None:
    """The store counts a file's lines that only the test split holds, and no more of a
    line than the test split has; a test line also in train tells nothing of the test."""
    only_test, train, _ = handmade
    with Store(sqlite_url) as s:
        ds = s.dataset("hand")
        assert s.test_lines_among(ds.id, only_test) == len(only_test) < ds.n_test
        assert s.test_lines_among(ds.id, only_test[:3] * 5) == 3  # each once in the split
        assert s.test_lines_among(ds.id, [*train, *s.words(ds.id, "dev")]) == 0


# --- bad input: one line, nothing written -----------------------------------------------


def test_bad_input_is_one_line(cli, sqlite_url: str, tmp_path: Path) -> None:
    words = tiny_words(tmp_path / "tiny.txt")
    assert cli("--db", sqlite_url, "prepare", words).code == 0
    done = cli_train(cli, sqlite_url, "--dataset", "tiny", "--model", "bigram")["run"]
    crashed = cli_train(cli, sqlite_url, "--dataset", "tiny", "--model", "bigram")["run"]
    age_heartbeat(sqlite_url, crashed)
    (tmp_path / "binary.txt").write_bytes(b"abc\n\x00\x01\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "new.txt").write_text("abc\nabz9\n", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    for args, code, needle in (
        ((done, "missing.txt"), 2, "missing.txt: no such file"),
        ((done, "folder"), 2, "is a directory"),
        ((done, "/dev/zero"), 2, "character device"),
        ((done, "binary.txt"), 2, "NUL byte"),
        ((done, "empty.txt"), 2, "holds no words"),
        ((done, "new.txt"), 2, "holds the character '9'"),
        (("9999", "new.txt"), 3, "no run 9999"),
        (("x", "new.txt"), 2, "not valid"),
        ((crashed, "new.txt"), 2, f"run {crashed} is crashed; only finished runs score text"),
    ):
        r = cli("--db", sqlite_url, "score", *map(str, args))
        assert r.code == code and len(r.err.strip().splitlines()) == 1, (args, r.err)
        assert needle in r.err and r.out == "", (args, r.err)
    with pytest.raises(InputError, match="per_line is True or False"):
        open_store(sqlite_url).score(done, tmp_path / "new.txt", per_line="yes")  # type: ignore[arg-type]


# --- prepare --tokenize -------------------------------------------------------------------

RAW = (
    'Mr. Smith went to the U.S. last week. He paid $3.5 million, i.e. 1,000 times more!\n'
    "“Really?” she asked. It's 10:30 a.m. and the people, tired, left.\n"
    "\n"
    "A new paragraph (with brackets) starts here; it ends\n"
    "on the next line. Dr. Jones agreed: \u2018fine\u2019.\n"
)  # fmt: skip


def syntok_lines(text: str) -> list[str]:
    """syntok's own sentences of ``text``, its tokens joined by spaces."""
    from syntok import segmenter

    return [" ".join(t.value for t in s) for p in segmenter.analyze(text) for s in p]


def test_tokenized_text_is_syntoks_own_output(tmp_path: Path) -> None:
    from ngramlm.data import read_lines

    path = tmp_path / "raw.txt"
    path.write_text(RAW * 3, encoding="utf-8")
    lines = read_lines(path, "word", tokenize=True)
    assert lines == syntok_lines(RAW * 3)
    tokens = {t for line in lines for t in line.split()}
    assert {
        "3.5",
        "1,000",
        "10:30",
        "“",
        "”",
        "\u2018",
        "\u2019",
        ",",
        "(",
        ")",
    } <= tokens  # numbers whole
    assert "Mr" in tokens and "U.S" in tokens  # abbreviations: no sentence ends after them
    assert not any(t.endswith(",") and len(t) > 1 for t in tokens)  # "people," is split
    assert lines[0] == "Mr . Smith went to the U.S . last week ."
    assert lines[4] == "A new paragraph ( with brackets ) starts here ; it ends on the next line ."


def test_prepare_tokenize_records_the_tokenizer(cli, sqlite_url: str, tmp_path: Path) -> None:
    from importlib.metadata import version

    path = tmp_path / "raw.txt"
    path.write_text(RAW * 20, encoding="utf-8")
    expected = syntok_lines(RAW * 20)
    out = prepare_words(cli, sqlite_url, path, "--tokenize", "--split", "ordered:700,100")
    assert out["tokenizer"] == f"syntok {version('syntok')}" and out["hint"] is None
    with open_store(sqlite_url) as exp:  # file order: train, dev, then the test split
        ds = exp.dataset("raw")
        assert ds.tokenizer == out["tokenizer"]
        seen = [*exp.words(ds, "train"), *exp.words(ds, "dev")]
        assert seen == expected[: len(seen)] and len(seen) + ds.n_test == len(expected)
        run = exp.train(ds, model="modified-kn", order=2).run
        new = tmp_path / "new.txt"  # raw text, read with the dataset's tokenizer
        new.write_text("Mr. Smith left, tired.\nHe paid $3.5 million!\n", encoding="utf-8")
        scored = exp.score(run, new, per_line=True)
    assert [s.text for s in scored.per_line] == syntok_lines(new.read_text())
    r = cli("--db", sqlite_url, "prepare", path, "--unit", "word", "--tokenize", "--split",
            "ordered:700,100")  # fmt: skip
    assert r.code == 0 and f"tokenized by {out['tokenizer']}" in r.out


def test_raw_text_without_tokenize_gets_a_hint(cli, sqlite_url: str, tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(RAW * 20, encoding="utf-8")
    r = cli("--db", sqlite_url, "prepare", raw, "--unit", "word")
    assert r.code == 0, r.err
    hints = [line for line in r.out.splitlines() if line.startswith("hint: ")]
    assert len(hints) == 1 and "--tokenize" in hints[0]
    assert "carry punctuation ('(with', 'Dr.', 'Mr.', 19 of 42)" in hints[0]  # commonest first
    tokenized = prepare_words(cli, sqlite_url, word_corpus(tmp_path / "clean.txt"))
    assert tokenized["hint"] is None and tokenized["tokenizer"] is None


def test_tokenize_is_for_words_only(cli, sqlite_url: str, tmp_path: Path) -> None:
    r = cli("--db", sqlite_url, "prepare", tiny_words(tmp_path / "t.txt"), "--tokenize")
    assert r.code == 2 and "applies to --unit word only" in r.err
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()  # nothing written


def test_another_tokenizer_version_is_named(cli, sqlite_url: str, tmp_path: Path) -> None:
    """A dataset tokenized by another syntok: the text is read by the one installed, and
    a warning says so."""
    lines = syntok_lines(RAW * 20)
    with Store(sqlite_url) as s:
        s.add_dataset(name="old", sha256=content_sha256(lines), source_path="raw.txt", seed=42,
                      vocab=Vocab.from_counts(token_counts(lines[:80], "word")),
                      splits={"train": lines[:80], "dev": lines[80:90], "test": lines[90:]},
                      n_duplicates=0, tokenizer="syntok 0.0.1")  # fmt: skip
    run = cli_train(cli, sqlite_url, "--dataset", "old", "--model", "bigram")["run"]
    new = tmp_path / "new.txt"
    new.write_text("Mr. Smith left.\n", encoding="utf-8")
    r = cli("--db", sqlite_url, "score", str(run), new)
    assert r.code == 0 and "tokenized by syntok 0.0.1, this is syntok" in r.err


def test_per_line_output_shows_each_line_as_text(cli, sqlite_url: str, tmp_path: Path) -> None:
    """A line of each scored sentence, its text as typed (Rich markup shown, not applied)."""
    prepare_words(cli, sqlite_url, word_corpus(tmp_path / "w.txt"), "--min-count", "2")
    run = cli_train(cli, sqlite_url, "--dataset", "w", "--model", "modified-kn", "--order", "3")
    text = tmp_path / "t.txt"
    text.write_text("the cat sat\n[bold]big[/] red house\n", encoding="utf-8")
    r = cli("--db", sqlite_url, "score", str(run["run"]), text, "--per-line")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert "2 sentences, 6 tokens (1 <unk>, 16.67%), 8 predictions" in lines[1]
    assert lines[2].strip().startswith("perplexity ") and "nats a token" in lines[2]
    assert lines[4].split()[:2] == ["1", "3"] and lines[4].endswith("the cat sat")
    assert lines[5].split()[:2] == ["2", "3"] and lines[5].endswith("[bold]big[/] red house")
