"""Word lists, vocabulary, the lecture's split and examples."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from ngramlm.data import Vocab, build_examples, parse_words, read_words, split_words
from ngramlm.errors import InputError

from .conftest import MAKEMORE

needs_makemore = pytest.mark.skipif(
    not MAKEMORE.exists(), reason=f"the lecture's names.txt is not at {MAKEMORE}"
)


@needs_makemore
def test_lecture_split_sizes_and_examples() -> None:
    words = read_words(MAKEMORE)
    split = split_words(words, 42)
    assert split.sizes() == {"train": 25626, "dev": 3203, "test": 3204}
    vocab = Vocab.from_words(words)
    assert vocab.size == 27
    sizes = [
        build_examples(part, vocab, 3)[0].shape[0] for part in (split.train, split.dev, split.test)
    ]
    assert sizes == [182625, 22655, 22866]


def test_split_is_the_lecture_procedure() -> None:
    import random

    words = [f"w{i}" for i in range(100)]
    expected = list(words)
    random.seed(7)
    random.shuffle(expected)  # what the lecture does, with the global generator
    split = split_words(words, 7)
    assert (
        split.train == expected[:80]
        and split.dev == expected[80:90]
        and split.test == expected[90:]
    )


def test_build_examples_matches_the_lecture() -> None:
    vocab = Vocab.from_words(["emma"])
    X, Y = build_examples(["emma"], vocab, 3)
    e, m, a = vocab.stoi["e"], vocab.stoi["m"], vocab.stoi["a"]
    assert X.tolist() == [[0, 0, 0], [0, 0, e], [0, e, m], [e, m, m], [m, m, a]]
    assert Y.tolist() == [e, m, m, a, 0]
    assert X.dtype == torch.long


def test_dot_inside_a_word_is_an_ordinary_character() -> None:
    vocab = Vocab.from_words(["a.b"])
    assert vocab.chars == (".", "a", "b")
    assert vocab.stoi["."] == 1  # not 0, the boundary
    X, Y = build_examples(["a.b"], vocab, 2)
    assert X.tolist() == [[0, 0], [0, 2], [2, 1], [1, 3]]
    assert Y.tolist() == [2, 1, 3, 0]
    assert vocab.decode([2, 1, 3, 0]) == "a.b"


def test_lines_are_stripped_and_blank_lines_dropped() -> None:
    raw = b"  ann \r\n\r\nbob\n\n\t\ncy  d\r\n"
    assert parse_words(raw, "x") == ["ann", "bob", "cy  d"]


def test_utf8_bom_is_accepted_and_unicode_becomes_vocabulary() -> None:
    hebrew = "\u05e9\u05dc\u05d5\u05dd"  # right-to-left
    raw = f"\ufeffzoë\n{hebrew}\nn\u0303a\n".encode()
    words = parse_words(raw, "x")
    assert words == ["zoë", hebrew, "n\u0303a"]
    assert "\u0303" in Vocab.from_words(words).chars


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"", "no words"),
        (b"\n  \n\r\n", "no words"),
        (b"ann\nb\xffb\n", "line 2: not valid UTF-8"),
        (b"ann\nbob\nc\x00d\n", "line 3: NUL byte"),
        ("\ufeffann\n".encode("utf-16"), "UTF-16"),
        (b"ann\n" + b"x" * 300 + b"\n", "line 2: a word of 300 characters"),
        (b"an\x07n\n", "line 1: control character U+0007"),
    ],
)
def test_bad_word_lists_name_the_problem(raw: bytes, needle: str) -> None:
    with pytest.raises(InputError, match=re.escape(needle)):
        parse_words(raw, "words.txt")


def test_missing_path_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_words(tmp_path / "nope.txt")
    with pytest.raises(InputError, match="is a directory"):
        read_words(tmp_path)


def test_too_few_words_for_three_splits() -> None:
    with pytest.raises(InputError, match="too few"):
        split_words(["a", "b", "c"], 42)
    assert all(split_words([f"w{i}" for i in range(10)], 42).sizes().values())


def test_encode_refuses_unknown_characters() -> None:
    with pytest.raises(InputError, match="not in this dataset's vocabulary"):
        Vocab.from_words(["abc"]).encode("abz")
