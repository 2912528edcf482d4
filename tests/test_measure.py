"""Perplexity where the field uses it: a word dataset's losses shown as perplexity in
report, report RUN, a sweep's grid, a search's lines, train's and finalize's lines;
a character dataset's in nats; ``--nats`` on request; ``--json`` always in nats."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ngramlm.measure import NATS, PERPLEXITY, measure

from .helpers import TINY_ARGS, prepare_words, sentences_file


def test_the_rule() -> None:
    assert measure("word") is PERPLEXITY and measure("char") is NATS
    assert measure("word", nats=True) is NATS
    assert PERPLEXITY.fmt(math.log(137.2)) == "137.2" and NATS.fmt(2.12534) == "2.1253"
    assert PERPLEXITY.fmt(math.log(12_345.6)) == "12,345.6" and PERPLEXITY.fmt(None) == "—"
    assert PERPLEXITY.fmt(1e4) == "inf"  # past exp's range: no OverflowError
    assert PERPLEXITY.gap(math.log(100), math.log(150)) == "x1.50"
    assert NATS.gap(2.0, 2.125) == "+0.125"
    assert PERPLEXITY.line(math.log(137.2)) == f"{math.log(137.2):.4f} (ppl 137.2)"


def _row(out: str, run: int) -> list[str]:
    for line in out.splitlines():
        cells = [c.strip() for c in line.replace("┃", "│").split("│")]
        if len(cells) > 3 and cells[2] == str(run):
            return cells
    raise AssertionError(f"no row for run {run}:\n{out}")


def test_word_runs_show_perplexity_and_character_runs_nats(
    cli, sqlite_url: str, words_file: Path, tmp_path: Path
) -> None:
    url = sqlite_url
    prepare_words(cli, url, sentences_file(tmp_path / "s.txt"), "--name", "words")
    assert cli("--db", url, "prepare", words_file, "--name", "chars").code == 0
    w = cli("--db", url, "train", "--dataset", "words", "--model", "kneser-ney", "--order", "3")
    c = cli("--db", url, "train", "--dataset", "chars", "--steps", "50", *TINY_ARGS)
    assert w.code == 0 and c.code == 0, w.err + c.err
    rows = json.loads(cli("--db", url, "report", "--json").out)["runs"]  # nats, always
    by_id = {r["run"]: r for r in rows}
    wl, cl = by_id[1]["dev_loss"], by_id[2]["dev_loss"]
    assert f"dev loss {wl:.4f} (ppl {math.exp(wl):,.1f})" in w.out, w.out
    assert f"dev loss {cl:.4f}" in c.out and "ppl" not in c.out, c.out
    out = cli("--db", url, "report").out
    assert _row(out, 1)[11] == f"{math.exp(wl):,.1f}", out  # dev: a word run's perplexity
    assert _row(out, 2)[11] == f"{cl:.4f}", out  # a character run's nats
    assert "train/dev/test: perplexity per word (word datasets;" in out, out
    nats = cli("--db", url, "report", "--nats").out
    assert _row(nats, 1)[11] == f"{wl:.4f}", nats
    assert "perplexity per word" not in nats, nats
    one = cli("--db", url, "report", "1").out
    assert f"dev {wl:.4f} (ppl {math.exp(wl):,.1f})" in one, one
    fin = cli("--db", url, "finalize", "1").out
    assert "(ppl " in fin, fin


def test_a_word_search_speaks_perplexity(cli, sqlite_url: str, tmp_path: Path) -> None:
    url = sqlite_url
    prepare_words(cli, url, sentences_file(tmp_path / "s.txt"), "--name", "words")
    r = cli("--db", url, "sweep", "--dataset", "words", "--search", "random", "--trials", "2",
            "--space", "lr=0.05:0.5:log", "--steps", "60", "--workers", "0",
            *TINY_ARGS)  # fmt: skip
    assert r.code == 0, r.err
    got = json.loads(cli("--db", url, "report", "--sweep", "1", "--json").out)
    best = min(t["dev_loss"] for t in got["runs"] if t["status"] == "finished")
    # the search's own lines as trials end (off a terminal): nats, the perplexity beside
    assert f"best dev {best:.4f} (ppl {math.exp(best):,.1f})" in r.err, r.err
    out = cli("--db", url, "report", "--sweep", "1").out
    assert "dev ppl" in out, out
    assert f"{math.exp(best):,.1f}" in out, out
    assert f"{best:.4f}" not in out.split("what the search ends with")[0], out
    nats = cli("--db", url, "report", "--sweep", "1", "--nats").out
    assert f"{best:.4f}" in nats, nats


def test_plots_of_a_word_run_speak_perplexity(cli, sqlite_url: str, tmp_path: Path) -> None:
    import ngramlm

    url = sqlite_url
    prepare_words(cli, url, sentences_file(tmp_path / "s.txt"), "--name", "words")
    assert cli("--db", url, "train", "--dataset", "words", "--steps", "60", *TINY_ARGS).code == 0
    with ngramlm.open_store(url) as exp:
        (run,) = exp.runs()
        ax = exp.plot_curves(run).axes[0]
        assert ax.get_ylabel() == "perplexity (log scale)"
        dev = next(ln for ln in ax.get_lines() if ln.get_label().endswith(" dev"))
        assert abs(dev.get_ydata()[-1] - math.exp(run.dev_loss)) < 1e-6 * math.exp(run.dev_loss)
