"""Hostile input as data: each case is a command that ngramlm must refuse with one line, its
exit code and nothing written. tests/test_hostile.py runs every case and checks its message
against docs/hostile-input.md, the table generated from these cases:

    PYTHONPATH=. python tests/hostile_cases.py --update   # rewrite docs/hostile-input.md

No pytest here: the same code runs the cases for the tests and for the table."""

from __future__ import annotations

import contextlib
import io
import os
import random
import shlex
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "hostile-input.md"
TABLES = ("datasets", "runs", "sweeps", "evaluations")


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]  # after `ngramlm`; the store is $NGRAMLM_DB unless --db is given
    code: int  # the exit code
    setup: str = "tiny"  # what the store holds first: a key of SETUPS

    @property
    def command(self) -> str:
        return "ngramlm " + " ".join(map(quoted, self.args))


def quoted(arg: str) -> str:
    """``arg`` as bash reads it back: shlex's quoting, or ANSI-C quoting (``$'a\\x1bb'``)
    for an argument holding a character that is not printable (an escape, a line break)."""
    if arg.isprintable():
        return shlex.quote(arg)

    def char(c: str) -> str:
        if c in "\\'":
            return "\\" + c
        if c.isprintable():
            return c
        if c in "\n\t":
            return "\\n" if c == "\n" else "\\t"
        return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"

    return "$'" + "".join(map(char, arg)) + "'"


SETUPS = {
    "none": "no store yet",
    "tiny": "the word list tiny",
    "sents": "the word corpus sents",
    "run": "the word list tiny and a bigram run on it",
    "newer": "a store from a newer ngramlm",
}

SECRET = "SECRET"  # the password of every URL below: it must never be shown
LONG = ("--steps", "5", "--n-hidden", "4")  # were a refusal missed, the run stays short
LINK = "\x1b]8;;http://x\x07click\x1b]8;;\x07"  # a terminal hyperlink (OSC 8) as a name
SEARCH = ("sweep", "--dataset", "tiny", "--search", "tpe", "--trials", "5")


def _space(*items: str) -> tuple[str, ...]:
    """``--space`` once an item."""
    return tuple(a for item in items for a in ("--space", item))


CASES: list[Case] = [
    # --- options -----------------------------------------------------------------------
    Case(("train", "--dataset", "tiny", "--epochs", "0"), 2),
    Case(("train", "--dataset", "tiny", "--epochs", "-1"), 2),
    Case(("train", "--dataset", "tiny", "--epochs", "nan"), 2),
    Case(("train", "--dataset", "sents", "--preset", "words", "--epochs", "0"), 2, "sents"),
    Case(("train", "--dataset", "tiny", "--epochs", "1", "--steps", "10"), 2),
    Case(("train", "--dataset", "tiny", "--lr", "0", *LONG), 2),
    Case(("train", "--dataset", "tiny", "--batch-size", "0", *LONG), 2),
    Case(("train", "--dataset", "tiny", "--warmup", "10", *LONG), 2),
    Case(("train", "--dataset", "tiny", "--model", "trigram"), 2),
    Case(("train", "--dataset", "tiny", "--model", "kneser-ney"), 2),
    Case(("train", "--dataset", "tiny", "--model", "transformer", "--n-head", "3"), 2),
    Case(("train", "--dataset", "nosuch"), 3),
    Case(("sweep", "--dataset", "tiny", "--lr-grid", "", *LONG), 2),
    Case(("sweep", "--dataset", "tiny", "--lr-grid", "  ", *LONG), 2),
    Case(("sweep", "--dataset", "tiny", "--lr-grid", "0.1,-1", *LONG), 2),
    Case(("sweep", "--dataset", "tiny", "--lr-grid", "0.1", "--epochs", "0"), 2),
    Case(("sweep", "--dataset", "tiny", "--lr-grid", "0.1", "--grid", "epochs=1,2"), 2),
    Case(("sweep", "--dataset", "tiny", "--grid", "n_hidden=", *LONG), 2),
    # a space whose ends pass alone but whose points, together, are over the parameter bound
    Case((*SEARCH, *_space("n_hidden=6000:8000", "n_embd=300:1000", "block_size=32:64")), 2),
    Case((*SEARCH, *_space("n_hidden=4096:8192", "n_embd=200:1000", "block_size=32:64")), 2),
    Case(("lr-find", "--dataset", "tiny", "--model", "bigram"), 2),  # no learning rate
    Case(("sample", "1"), 3),
    Case(("sample", "1", "-n", "0"), 2),
    Case(("report", "--sort", "loss"), 2),
    Case(("finalize", "12abc"), 2),
    # --- files -------------------------------------------------------------------------
    Case(("prepare", "reserved.txt", "--unit", "word"), 2, "none"),
    Case(("prepare", "missing.txt"), 2, "none"),
    Case(("prepare", "binary.txt"), 2, "none"),
    Case(("prepare", "names [draft].txt", "--name", "draft"), 2, "none"),  # missing: named whole
    Case(("prepare", "/dev/zero"), 2, "none"),  # read without end (its size reads 0)
    Case(("prepare", "urandom.txt"), 2, "none"),  # a link to /dev/urandom
    Case(("prepare", "fifo.txt"), 2, "none"),  # a named pipe: reading waits for a writer
    Case(("prepare", "corpus"), 2, "none"),  # a directory
    Case(("prepare", "sents.txt", "--tokenize"), 2, "none"),  # raw text is words: --unit word
    Case(("score", "1", "missing.txt"), 2, "run"),
    Case(("score", "1", "corpus"), 2, "run"),  # a directory
    Case(("score", "1", "/dev/zero"), 2, "run"),
    Case(("score", "1", "binary.txt"), 2, "run"),
    Case(("score", "1", "tiny.txt"), 2, "run"),  # the dataset's own file: its test split
    Case(("score", "2", "sents.txt"), 3, "run"),
    Case(("train", "--dataset", "[/]"), 2),  # a name that is Rich markup, shown as text
    Case(("train", "--x[/]"), 2),  # an unknown option that is Rich markup, shown as text
    Case(("prepare", "names\x1b[2J.txt", "--name", "draft"), 2, "none"),  # ESC shown, not run
    # --- names a terminal would act on: refused where they are given ---------------------
    Case(("prepare", "tiny.txt", "--name", "tiny\n"), 2, "none"),  # "$" matched before "\n"
    Case(("train", "--dataset", "tiny", "--name", "run\x1b[31mred", *LONG), 2),
    Case(("sweep", "--dataset", "tiny", "--lr-grid", "0.1", *LONG, "--name", LINK), 2),
    Case(("sweep", "--dataset", "tiny", "--search", "random", *LONG, "--name", "a\nb"), 2),
    Case(("lr-find", "--dataset", "tiny", "--steps", "5", "--name", "bell\x07"), 2),
    Case(("import", "model.arpa", "--dataset", "tiny", "--name", "\u202egnp.exe"), 2),
    # --- ARPA files: read as a format, but no model (their losses would be false) --------
    Case(("import", "/dev/zero", "--dataset", "tiny"), 2),
    Case(("import", "backoff-1e300.arpa", "--dataset", "tiny"), 2),
    Case(("import", "backoff-3.arpa", "--dataset", "tiny"), 2),
    Case(("import", "unigrams-zero.arpa", "--dataset", "tiny"), 2),
    Case(("import", "minus-inf.arpa", "--dataset", "tiny"), 2),
    # --- files written: a regular file or a new name only, an existing one with --force --
    # (devices: tests/test_outputs.py, on a private device node: were the refusal missed,
    # a case here would replace the system's /dev/null)
    Case(("export", "1", "--arpa", "tiny.txt"), 2),  # an existing file: --force to replace it
    Case(("export", "1", "--arpa", "corpus", "--force"), 2),  # a directory, even with --force
    Case(("export", "1", "--arpa", "fifo.txt", "--force"), 2),
    Case(("export", "1", "--arpa", "/proc/self/status", "--force"), 2),
    Case(("export", "1", "--arpa", "no/such/m.arpa"), 2),
    Case(("plot", "curves", "1", "--out", "figure.png", "--force"), 2),  # a directory
    # --- store URLs: the password is never shown ---------------------------------------
    Case(("--db", f"postgresql://admin:{SECRET}@127.0.0.1:abc/x", "report"), 2, "none"),
    Case(("--db", f"postgresql://admin:{SECRET}@127.0.0.1:99999/x", "report"), 2, "none"),
    Case(("--db", f"postgresql://admin:{SECRET}@[::1/x", "report"), 2, "none"),
    Case(("--db", f"postgresql://admin:S@{SECRET}@127.0.0.1/x", "report"), 2, "none"),
    Case(("--db", f"mysql://admin:{SECRET}@127.0.0.1/x", "report"), 2, "none"),
    Case(("--db", f"postgresql+asyncpg://admin:{SECRET}@127.0.0.1/x", "report"), 2, "none"),
    Case(("--db", f"admin:{SECRET}@127.0.0.1/x", "report"), 2, "none"),
    Case(("--db", f"sqlite://admin:{SECRET}@/", "report"), 2, "none"),
    Case(("--db", "sqlite:///no/such/dir/store.db", "report"), 2, "none"),
    # --- the dashboard: an existing store, read-only (refused before it listens) -------
    Case(("--db", "sqlite:///missing.db", "dashboard"), 2, "none"),  # not created
    Case(("--db", "sqlite:///tiny.txt", "dashboard", "--port", "0"), 4, "none"),
    Case(("dashboard", "--port", "70000"), 2),
    # --- a store from a newer ngramlm --------------------------------------------------
    Case(("report",), 4, "newer"),
    Case(("db", "upgrade"), 4, "newer"),
]


# --- running a case ----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str
    rows_before: dict[str, int]
    rows_after: dict[str, int]

    @property
    def message(self) -> str:
        return self.err.strip().removeprefix("error:").strip()


def rows(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            have = set(sa.inspect(conn).get_table_names())
            return {
                t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
                for t in TABLES
                if t in have
            }
    finally:
        engine.dispose()


def invoke(*args: str) -> tuple[int, str, str]:
    """``ngramlm ARGS`` in this process: exit code, stdout, stderr."""
    from ngramlm.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def write_inputs(d: Path) -> None:
    rng = random.Random(0)
    names = [
        "".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 6))) for _ in range(200)
    ]
    (d / "tiny.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    words = ["the", "a", "cat", "dog", "sat", "ran", "on", "under", "mat", "big"]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 7))) for _ in range(200)]
    (d / "sents.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (d / "reserved.txt").write_text("the cat sat\nthe dog ran </s> a cat sat\n", encoding="utf-8")
    (d / "binary.txt").write_bytes(b"abc\n\x00\x01\x02\n")
    if not (d / "urandom.txt").is_symlink():
        (d / "urandom.txt").symlink_to("/dev/urandom")
    if not (d / "fifo.txt").exists():
        os.mkfifo(d / "fifo.txt")
    (d / "corpus").mkdir(exist_ok=True)
    (d / "figure.png").mkdir(exist_ok=True)
    for name, text in ARPA.items():
        (d / name).write_text(text, encoding="utf-8")


# A normalised bigram model over tiny's tokens (</s> and a-j, each 1/11; after <s>: a 0.5,
# the rest backed off with weight 0.55), and three files that read as ARPA but are no model.
_UNIGRAMS = "".join(f"-1.0413927\t{w}\n" for w in ("</s>", *"bcdefghij"))
_MODEL = (
    "\\data\\\nngram 1=12\nngram 2=1\n\n\\1-grams:\n" + _UNIGRAMS
    + "-1.0413927\ta\tBACKOFF\n-99\t<s>\t-0.2596373\n\n\\2-grams:\nLOGP\t<s> a\n\n\\end\\\n"
)  # fmt: skip
ARPA = {
    "model.arpa": _MODEL.replace("BACKOFF", "0").replace("LOGP", "-0.30103"),
    "backoff-1e300.arpa": _MODEL.replace("BACKOFF", "1e300").replace("LOGP", "-0.30103"),
    "backoff-3.arpa": _MODEL.replace("BACKOFF", "3").replace("LOGP", "-0.30103"),
    "unigrams-zero.arpa": _MODEL.replace("-1.0413927", "0")
    .replace("BACKOFF", "0")
    .replace("LOGP", "-0.30103"),
    "minus-inf.arpa": _MODEL.replace("BACKOFF", "0").replace("LOGP", "-inf"),
}


def set_up(setup: str, d: Path, url: str) -> None:
    write_inputs(d)
    if setup == "none":
        return
    if setup in ("tiny", "newer", "run"):
        assert invoke("--db", url, "prepare", str(d / "tiny.txt"))[0] == 0
    if setup == "run":
        assert invoke("--db", url, "train", "--dataset", "tiny", "--model", "bigram")[0] == 0
    if setup == "sents":
        assert invoke("--db", url, "prepare", str(d / "sents.txt"), "--unit", "word")[0] == 0
    if setup == "newer":
        from ngramlm.store.schema import VERSION_TABLE

        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
        engine.dispose()


@contextlib.contextmanager
def _in(d: Path, url: str) -> Iterator[None]:
    old_cwd, old_db = Path.cwd(), os.environ.get("NGRAMLM_DB")
    os.chdir(d)
    os.environ["NGRAMLM_DB"] = url
    try:
        yield
    finally:
        os.chdir(old_cwd)
        if old_db is None:
            os.environ.pop("NGRAMLM_DB", None)
        else:
            os.environ["NGRAMLM_DB"] = old_db


def run_case(case: Case, d: Path) -> Outcome:
    """Set the case's store up in directory ``d`` and run it there."""
    url = f"sqlite:///{d / 'store.db'}"
    with _in(d, url):
        set_up(case.setup, d, url)
        before = rows(url)
        code, out, err = invoke(*case.args)
        after = rows(url)
    norm = err.replace(str(d.resolve()), "DIR").replace(str(d), "DIR")
    return Outcome(code, out, norm, before, after)


# --- the table -----------------------------------------------------------------------------

HEADER = """\
# Hostile input: what ngramlm refuses, and the message

<!-- Generated from tests/hostile_cases.py; do not edit. After changing a message or a case:
     PYTHONPATH=. python tests/hostile_cases.py --update
     tests/test_hostile.py fails while this file and the messages differ. -->

Each command below is refused with the one line shown (after `error: ` on stderr) and the
exit code shown, and writes nothing to the store: 2 is bad input (an option, a file, a URL),
3 something the store does not hold, 4 a store that cannot be used. DIR is the directory
the command ran in; the store is `sqlite:///DIR/store.db` (`$NGRAMLM_DB`) unless `--db` is
given, holding what the second column says. A password in a URL is never shown, however
malformed the URL. What a message quotes of the input is shown as text: Rich markup as
typed, a control character as its escape (`\\x1b`), never sent to the terminal; a command
with one is written in bash's `$'...'` quoting.

| command | store | exit | message |
|---|---|---|---|
"""


def row(case: Case, code: int, message: str) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    return f"| `{cell(case.command)}` | {SETUPS[case.setup]} | {code} | {cell(message)} |"


def table(outcomes: list[tuple[Case, Outcome]]) -> str:
    return HEADER + "".join(row(c, o.code, o.message) + "\n" for c, o in outcomes)


def main(argv: list[str]) -> int:
    if argv != ["--update"]:
        print("usage: PYTHONPATH=. python tests/hostile_cases.py --update", file=sys.stderr)
        return 2
    outcomes = []
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            outcome = run_case(case, Path(tmp))
        if outcome.code != case.code or len(outcome.err.strip().splitlines()) != 1:
            print(f"{case.command}: exit {outcome.code}, stderr {outcome.err!r}", file=sys.stderr)
            return 1
        outcomes.append((case, outcome))
    DOC.write_text(table(outcomes), encoding="utf-8")
    print(f"wrote {DOC} ({len(outcomes)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
