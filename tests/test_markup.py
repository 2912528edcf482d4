"""User text is text (issue 29, item 3): names, tokens, samples, paths and config values
reach the terminal as typed. Rich markup in them is shown, not applied (``[/]`` crashed
``report RUN`` and ``sample``, ``[bold]`` vanished and restyled the rest, ``[link=...]``
made a hyperlink); escapes in them are written visibly (``\\x1b``), never sent raw; and a
name holding a control character is refused where it is given (tests/hostile_cases.py).
Through the real CLI: in-process, and ``python -m ngramlm`` in a pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from .helpers import TINY_ARGS

MARKUP_NAMES = ("[/]", "[link=http://evil.example]click[/link]", "[bold]")
OSC_LINK = "\x1b]8;;http://x\x1b\\click"  # a terminal hyperlink (OSC 8), as a stored name
SHOWN_OSC = "\\x1b]8;;http://x\\x1b\\click"  # how it is shown
STEPS = ("--steps", "5", *TINY_ARGS)


def _train(cli: Callable[..., Any], url: str, *args: str) -> int:
    r = cli("--db", url, "train", *args, "--json")
    assert r.code == 0, r.err
    return int(json.loads(r.out)["run"])


def _rename(url: str, run: int, name: str) -> None:
    """Give run ``run`` a name the CLI now refuses, as a store written before it may hold."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE runs SET name = :n WHERE id = :i"), {"n": name, "i": run})
    engine.dispose()


@pytest.fixture
def tiny(cli: Callable[..., Any], sqlite_url: str, words_file: Path) -> str:
    """A store holding the word list ``tiny``: its URL."""
    assert cli("--db", sqlite_url, "prepare", words_file).code == 0
    return sqlite_url


def test_run_names_that_are_markup_print_as_typed(cli: Callable[..., Any], tiny: str) -> None:
    for name in MARKUP_NAMES:
        run = _train(cli, tiny, "--dataset", "tiny", *STEPS, "--name", name)
        r = cli("--db", tiny, "report", str(run))
        assert r.code == 0, r.err  # `[/]` raised MarkupError
        assert f"run {run} ({name}) on tiny" in r.out  # shown whole, no style or link taken


def test_a_stored_name_with_escapes_is_shown_escaped(cli: Callable[..., Any], tiny: str) -> None:
    run = _train(cli, tiny, "--dataset", "tiny", *STEPS)
    _rename(tiny, run, OSC_LINK + "\x9b31m")  # and a C1 CSI, which some terminals obey
    r = cli("--db", tiny, "report", str(run))
    assert r.code == 0, r.err
    assert f"({SHOWN_OSC}\\x9b31m)" in r.out
    for out in (r.out, cli("--db", tiny, "report", "--csv").out,
                cli("--db", tiny, "report", str(run), "--json").out):  # fmt: skip
        assert "\x1b" not in out and "\x9b" not in out
    assert json.loads(cli("--db", tiny, "report", str(run), "--json").out)["name"] == (
        OSC_LINK + "\x9b31m"  # JSON keeps the data, its escapes written as \\u001b
    )


def test_corpus_tokens_that_are_markup_are_sampled_and_reported_as_typed(
    cli: Callable[..., Any], sqlite_url: str, tmp_path: Path
) -> None:
    lines = ["a [/] b [bold] c", "[bold] a [/] b", "c [/] [bold] a"] * 40
    (tmp_path / "markup.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = cli("--db", sqlite_url, "prepare", tmp_path / "markup.txt", "--unit", "word")
    assert r.code == 0, r.err
    assert "commonest: " in r.out and "[/]" in r.out and "[bold]" in r.out
    run = _train(cli, sqlite_url, "--dataset", "markup", *STEPS, "--block-size", "2")
    marked = json.loads(cli("--db", sqlite_url, "sample", str(run), "-n", "12", "--json").out)
    words = [(w["word"], w["in"]) for w in marked["words"]]
    assert any("[/]" in w for w, _ in words) and any("[bold]" in w for w, _ in words)
    r = cli("--db", sqlite_url, "sample", str(run), "-n", "12")
    assert r.code == 0, r.err  # a sampled `[/]` raised MarkupError
    # every token shown, in order (none vanished, none took the rest); spaces and wrapping aside
    assert "".join(r.out.split()) == "".join("".join(f"{w}{where}".split()) for w, where in words)
    r = cli("--db", sqlite_url, "report", str(run))
    assert r.code == 0, r.err
    samples = r.out.split("samples:", 1)[1].split("nearest words", 1)[0]  # a line each
    assert "[/]" in samples and "[bold]" in samples
    assert re.search(r"│\[/\]\s+│", r.out)  # the nearest-words table's row for `[/]`


def test_a_path_and_a_config_value_that_are_markup_print_as_typed(
    cli: Callable[..., Any], tiny: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    bigram = _train(cli, tiny, "--dataset", "tiny", "--model", "bigram")  # no STEPS: counted
    arpa = "[bold]model.arpa"
    r = cli("--db", tiny, "export", str(bigram), "--arpa", arpa)
    assert r.code == 0 and f"written to {arpa}" in r.out, r.out + r.err
    r = cli("--db", tiny, "import", arpa, "--dataset", "tiny", "--name", "[/]")
    assert r.code == 0 and "imported from [bold]model.arpa on tiny" in r.out, r.out + r.err
    run = int(r.out.split()[1])
    r = cli("--db", tiny, "report", str(run))  # its source, a config value; its name
    assert r.code == 0, r.err
    assert f"run {run} ([/]) on tiny" in r.out and "[bold]model.arpa" in r.out
    assert "2-grams read" in r.out  # an imported run's n-gram counts (a list) are shown


# --- in a pseudo-terminal ----------------------------------------------------------------

SGR = re.compile(rb"\x1b\[[0-9;]*m")  # the styles Rich writes: the only escapes allowed


def in_a_terminal(url: str, *args: str, cwd: Path, timeout: float = 120.0) -> bytes:
    """``python -m ngramlm ARGS`` with a pseudo-terminal as its stdin, stdout and stderr
    (an xterm, 120 columns, colour on): every byte it wrote there."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TTY_COMPATIBLE")}
    env.update(NGRAMLM_DB=url, TERM="xterm-256color", COLUMNS="120", LINES="40",
               FORCE_COLOR="1", OMP_NUM_THREADS="1")  # fmt: skip
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "ngramlm", *args], cwd=cwd, env=env,
                            stdin=slave, stdout=slave, stderr=slave, close_fds=True)  # fmt: skip
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(timeout=max(1.0, deadline - time.monotonic())) == 0, bytes(out)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return bytes(out)


@pytest.mark.parametrize("name", ["[link=http://evil.example]click[/link]", OSC_LINK],
                         ids=["markup-link", "osc-link"])  # fmt: skip
def test_report_run_in_a_terminal_shows_the_name_and_makes_no_link(
    name: str, cli: Callable[..., Any], tiny: str, tmp_path: Path
) -> None:
    run = _train(cli, tiny, "--dataset", "tiny", *STEPS)
    _rename(tiny, run, name)
    raw = in_a_terminal(tiny, "report", str(run), cwd=tmp_path)
    assert SGR.search(raw), raw[:200]  # a terminal: Rich styled its output
    assert b"\x1b]8;" not in raw  # no hyperlink opened
    text = SGR.sub(b"", raw)
    assert b"\x1b" not in text  # no escape but Rich's styles: none of the name's went out raw
    shown = name if name.isprintable() else SHOWN_OSC
    assert f"run {run} ({shown}) on tiny".encode() in text
