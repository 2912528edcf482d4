"""Preparing a dataset: read a word list, split it the lecture's way, record it."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ngramlm.data import Split, Vocab, content_sha256, read_words, split_words
from ngramlm.errors import InputError
from ngramlm.resources import bundled_words
from ngramlm.store import Store
from ngramlm.store.records import DatasetRecord

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEFAULT_SEED = 42


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise InputError(
            f"dataset name {name!r} is not valid; use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (--name)"
        )
    return name


@dataclass(frozen=True)
class WordList:
    """A validated word list, split and ready to record."""

    name: str
    path: Path
    seed: int
    words: list[str]
    split: Split
    vocab: Vocab


@dataclass(frozen=True)
class Prepared:
    dataset: DatasetRecord
    created: bool
    examples: dict[str, int]  # with block_size 3, for the summary


def load(path: Path | None, name: str | None, seed: int) -> WordList:
    """Read, validate and split a word list: everything that can be refused is refused
    here, before the store is touched."""
    path = path if path is not None else bundled_words()
    if name is None:
        name = path.stem
        if not NAME_RE.match(name):
            raise InputError(
                f"the file name {path.name!r} does not make a dataset name; give one with --name"
            )
    check_name(name)
    if isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise InputError(f"--seed must be a whole number in [0, 2**63), got {seed}")
    words = read_words(path)
    return WordList(name, path, seed, words, split_words(words, seed), Vocab.from_words(words))


def record(store: Store, wl: WordList) -> Prepared:
    """Record a loaded word list (a no-op if the same content is already there)."""
    words, split, vocab, path, seed, name = wl.words, wl.split, wl.vocab, wl.path, wl.seed, wl.name
    duplicates = sum(c - 1 for c in Counter(words).values() if c > 1)
    record, created = store.add_dataset(
        name=name,
        sha256=content_sha256(words),
        source_path=str(path.resolve()),
        seed=seed,
        vocab=vocab.chars,
        splits={"train": split.train, "dev": split.dev, "test": split.test},
        n_duplicates=duplicates,
    )
    examples = {
        part: sum(len(w) + 1 for w in words_)
        for part, words_ in (("train", split.train), ("dev", split.dev), ("test", split.test))
    }
    return Prepared(record, created, examples)


def prepare(store: Store, path: Path | None, name: str | None, seed: int) -> Prepared:
    return record(store, load(path, name, seed))


def default_dataset(store: Store) -> DatasetRecord:
    """The bundled list, prepared on first use."""
    return prepare(store, None, None, DEFAULT_SEED).dataset


def resolve_dataset(store: Store, name: str | None) -> DatasetRecord:
    if name is None:
        return default_dataset(store)
    return store.dataset(check_name(name))


__all__ = [
    "Prepared",
    "WordList",
    "check_name",
    "default_dataset",
    "load",
    "prepare",
    "record",
    "resolve_dataset",
]
