"""Preparing a dataset: read a word list (or a corpus of sentences), split it, record it."""

from __future__ import annotations

import re
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ngramlm.data import (
    SPLITS,
    UNK,
    UNSHOWABLE,
    Split,
    SplitSpec,
    Vocab,
    check_unit,
    content_sha256,
    glued_tokens,
    read_lines,
    token_counts,
    tokenizer_id,
)
from ngramlm.errors import DiskFullError, InputError, Stopped
from ngramlm.resources import BUNDLED_UNIT, bundled_words
from ngramlm.store import Store
from ngramlm.store.datasets import dataset_bytes
from ngramlm.store.records import DatasetRecord

# whole: fullmatch, as "$" would also match before a trailing newline
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DEFAULT_SEED = 42
# What a token is when prepare is not told (--unit): a character of a word, as in the
# lecture; the CLI's and the API's one default.
DEFAULT_UNIT = BUNDLED_UNIT


def check_name(name: str) -> str:
    if isinstance(name, str) and name != name.strip():  # 'names\n' pasted: say so
        raise InputError(
            f"dataset name {name!r} has spaces or a line break around it; give it without "
            f"them (--name {name.strip()!r})"
        )
    if not NAME_RE.fullmatch(name):
        raise InputError(
            f"dataset name {name!r} is not valid; use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (--name)"
        )
    return name


def check_run_name(name: str | None) -> str | None:
    """A run's or a sweep's label (None: none): any text a terminal shows as it is, so
    not ESC, a line break or another control character (``data.UNSHOWABLE``); refused
    before anything is written."""
    if name is not None:
        if not isinstance(name, str):
            raise InputError(f"a name is text, got {type(name).__name__} (--name)")
        bad = UNSHOWABLE.search(name)
        if bad is not None:
            raise InputError(
                f"the name {name!r} holds the control character U+{ord(bad.group()):04X}; "
                "give a label of printable characters (--name)"
            )
    return name


@dataclass(frozen=True)
class WordList:
    """A validated word list (or corpus), split and ready to record."""

    name: str
    path: Path
    seed: int
    words: list[str]  # the lines: words (unit char) or sentences (unit word)
    split: Split
    vocab: Vocab
    min_count: int = 1
    split_spec: SplitSpec = field(default_factory=SplitSpec)
    tokenizer: str | None = None  # what cut raw text into these lines (--tokenize)

    @property
    def unit(self) -> str:
        return self.vocab.unit

    def parts(self) -> dict[str, list[str]]:
        return {"train": self.split.train, "dev": self.split.dev, "test": self.split.test}

    @cached_property
    def counts(self) -> dict[str, Counter[str]]:
        """Each split's token counts."""
        return {part: token_counts(lines, self.unit) for part, lines in self.parts().items()}

    def tokens(self) -> dict[str, int]:
        """Tokens per split (the boundary tokens not counted)."""
        return {part: c.total() for part, c in self.counts.items()}

    def hint(self) -> str | None:
        """A word corpus taken as it came whose tokens carry punctuation (``people,``):
        one line suggesting --tokenize, else None."""
        if self.unit != "word" or self.tokenizer is not None:
            return None
        every: Counter[str] = Counter()
        for c in self.counts.values():
            every.update(c)
        return glued_tokens(every).hint()

    def unk_tokens(self) -> dict[str, int]:
        """Tokens per split that the vocabulary maps to ``<unk>`` (a literal ``<unk>`` in
        the text included)."""
        if self.vocab.unk is None:
            return dict.fromkeys(SPLITS, 0)
        stoi = self.vocab.stoi
        return {
            part: c[UNK] + sum(n for t, n in c.items() if t not in stoi)
            for part, c in self.counts.items()
        }


@dataclass(frozen=True)
class Prepared:
    dataset: DatasetRecord
    created: bool
    examples: dict[str, int]  # predictions per split: tokens and one boundary a line
    tokens: dict[str, int]
    unk_rate: dict[str, float]  # share of each split's tokens that are <unk>
    hint: str | None = None  # raw text taken as tokens: try --tokenize


def load(
    path: Path | None,
    name: str | None,
    seed: int,
    *,
    unit: str,
    min_count: int = 1,
    split: str | SplitSpec = "shuffled",
    tokenize: bool = False,
) -> WordList:
    """Read, validate and split a word list or corpus and fix its vocabulary: everything
    that can be refused is refused here, before the store is touched.

    A character vocabulary is every character of the file (as it always was); a word
    vocabulary is the train split's tokens seen at least ``min_count`` times, plus
    ``<unk>`` for the rest, so dev and test never influence it. ``tokenize``: the file is
    raw text, cut into sentences of tokens (``data.tokenize``) before anything else."""
    check_unit(unit)
    if not isinstance(tokenize, bool):
        raise InputError(f"tokenize is True or False, got {tokenize!r}")
    if tokenize and unit == "char":
        raise InputError(
            "--tokenize cuts raw text into sentences of words: it applies to --unit word "
            "only; add --unit word, or drop --tokenize for a word list"
        )
    spec = split if isinstance(split, SplitSpec) else SplitSpec.parse(split)
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise InputError(f"--min-count must be a whole number >= 1, got {min_count}")
    if unit == "char" and min_count != 1:
        raise InputError(
            "--min-count applies to --unit word only (a character vocabulary keeps every "
            "character); drop it or add --unit word"
        )
    path = path if path is not None else bundled_words()
    if name is None:
        name = path.stem
        if not NAME_RE.fullmatch(name):
            raise InputError(
                f"the file name {path.name!r} does not make a dataset name; give one with --name"
            )
    check_name(name)
    if isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise InputError(f"--seed must be a whole number in [0, 2**63), got {seed}")
    words = read_lines(path, unit, tokenize=tokenize)
    parts = spec.apply(words, seed, unit)
    if unit == "char":
        vocab = Vocab.from_words(words)
    else:
        counts = token_counts(parts.train, unit)
        vocab = Vocab.from_counts(counts, min_count)
        counts.pop(UNK, None)  # a literal <unk> is <unk>, not a word that min-count keeps
        if vocab.size < 3:
            raise InputError(
                f"--min-count {min_count} keeps no word of the train split ({len(counts):,} "
                f"distinct, the commonest seen {counts.most_common(1)[0][1]:,} times): every "
                "token would be <unk>; give a smaller --min-count"
            )
    tokenizer = tokenizer_id() if tokenize else None
    return WordList(name, path, seed, words, parts, vocab, min_count, spec, tokenizer)


def record(store: Store, wl: WordList, stop: SignalStop | None = None) -> Prepared:
    """Record a loaded word list (a no-op if the same content is already there).
    ``stop``: a signal noted meanwhile rolls the dataset back between two writes."""
    words, split, vocab, path, seed, name = wl.words, wl.split, wl.vocab, wl.path, wl.seed, wl.name
    duplicates = len(words) - len(set(words))
    _check_space(store, wl)
    record, created = store.add_dataset(
        name=name,
        sha256=content_sha256(words),
        source_path=str(path.resolve()),
        seed=seed,
        vocab=vocab,
        splits={"train": split.train, "dev": split.dev, "test": split.test},
        n_duplicates=duplicates,
        min_count=wl.min_count,
        split=str(wl.split_spec),
        tokenizer=wl.tokenizer,
        between=stop.check if stop is not None else lambda: None,
    )
    if stop is not None:
        done = "was recorded whole before it stopped" if created else "was there already"
        stop.recorded(f"dataset {name} {done}")
    tokens = wl.tokens()
    examples = {part: tokens[part] + len(lines) for part, lines in wl.parts().items()}
    unk = wl.unk_tokens()
    unk_rate = {part: unk[part] / tokens[part] if tokens[part] else 0.0 for part in SPLITS}
    return Prepared(record, created, examples, tokens, unk_rate, wl.hint())


class SignalStop:
    """Ctrl-C and SIGTERM while a dataset is prepared: one line (``Stopped``) saying
    whether anything was recorded. While the file is read, a signal stops it at once;
    while the store is in use (``deferred``) it is noted and acted on between two writes
    (``check``), so the database driver is never interrupted inside a statement (psycopg
    then printed lines of its own) and the transaction rolls back whole; once the dataset
    is committed (``recorded``), a signal stops at once again. A second signal always
    stops at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.deferring = False
        self.done = "nothing was recorded"

    def handler(self, signum: int, frame: object) -> None:
        if self.deferring and self.signum is None:
            self.signum = signum
            return
        self.signum = signum
        self.check()

    def check(self) -> None:
        if self.signum is not None:
            which = "Ctrl-C" if self.signum == signal.SIGINT else "SIGTERM"
            err = Stopped(f"prepare stopped by {which}; {self.done}")
            err.exit_code = 128 + self.signum
            raise err

    def recorded(self, done: str) -> None:
        """The store's part is over (``done``: what it did): a signal noted meanwhile,
        or any later one, stops at once and says so."""
        self.deferring, self.done = False, done
        self.check()

    @contextmanager
    def deferred(self) -> Iterator[SignalStop]:
        self.deferring = True
        try:
            yield self
        finally:
            self.deferring = False


@contextmanager
def stopped_by_signals() -> Iterator[SignalStop]:
    """Ctrl-C and SIGTERM handled by a ``SignalStop`` for the while (in the main thread;
    elsewhere signals are not this thread's)."""
    stop = SignalStop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    old = {s: signal.signal(s, stop.handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _check_space(store: Store, wl: WordList) -> None:
    """Refuse, before writing anything, a dataset the disk under the store cannot hold."""
    free = store.free_bytes()
    if free is None:
        return
    text = sum(len(w.encode("utf-8")) for w in wl.words)
    need = dataset_bytes(text, len(wl.words))
    if need > free:
        raise DiskFullError(
            f"{wl.path}: recording its {len(wl.words):,} lines needs about {_mb(need)} in "
            f"{store.where}, and its disk has {_mb(free)} free; free some space, or give "
            "--db a store on a larger disk"
        )


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n < 1e9 else f"{n / 1e9:,.2f} GB"


def prepare(
    store: Store,
    path: Path | None,
    name: str | None,
    seed: int,
    *,
    unit: str,
    min_count: int = 1,
    split: str = "shuffled",
    tokenize: bool = False,
) -> Prepared:
    wl = load(path, name, seed, unit=unit, min_count=min_count, split=split, tokenize=tokenize)
    return record(store, wl)


def load_bundled() -> WordList:
    """The bundled list of names, read and split (not recorded)."""
    return load(None, None, DEFAULT_SEED, unit=BUNDLED_UNIT)


def default_dataset(store: Store) -> DatasetRecord:
    """The bundled list, prepared on first use."""
    return record(store, load_bundled()).dataset


def resolve_dataset(store: Store, name: str | None) -> DatasetRecord:
    if name is None:
        return default_dataset(store)
    return store.dataset(check_name(name))


__all__ = [
    "Prepared",
    "WordList",
    "check_name",
    "check_run_name",
    "default_dataset",
    "load",
    "load_bundled",
    "prepare",
    "record",
    "resolve_dataset",
]
