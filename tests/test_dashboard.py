"""``ngramlm dashboard`` over HTTP (issue 32): a server started on a free port on a real
SQLite store, asked with urllib. Every endpoint, the rows as ``report --json/--csv``
writes them, live points and ETags, the store left byte for byte as it was, and hostile
requests refused with a 4xx and one short line. The pages in Chromium:
tests/test_dashboard_browser.py."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import ngramlm
from ngramlm.api import display
from ngramlm.web import Dashboard, open_dashboard
from ngramlm.web.app import App

from .helpers import (
    REPORT_COLUMNS,
    age_heartbeat,
    evaluate_live,
    http_get,
    live_run,
    pruning_search,
    word_corpus,
)

Db = tuple[str, dict[str, int]]


def get_json(board: Dashboard, path: str) -> Any:
    status, _, body = http_get(board.url.rstrip("/") + path)
    assert status == 200, body
    return json.loads(body)


def exp_threads(url: str, run: int) -> int | None:
    with ngramlm.open_store(url, read_only=True) as exp:
        return exp.run(run).threads


def reports_rows(url: str) -> list[dict[str, Any]]:
    with ngramlm.open_store(url, read_only=True) as exp:
        return json.loads(json.dumps(exp.report_rows(), default=str))


# --- the runs table -----------------------------------------------------------------------


def test_the_runs_table_is_reports_rows(board: Dashboard, dashboard_db: Db) -> None:
    page = get_json(board, "/api/runs?limit=500")
    assert page["rows"] == reports_rows(dashboard_db[0])
    assert page["total"] == page["runs_in_store"] == len(page["rows"]) == 8
    assert tuple(page["fields"]) == REPORT_COLUMNS
    assert page["choices"]["model"] == ["kneser-ney", "mlp"]
    # the best run of the dataset: the finished training run with the lowest dev loss
    finished = [r for r in page["rows"] if r["status"] == "finished" and r["kind"] == "train"]
    assert page["best"] == [min(finished, key=lambda r: r["dev_loss"])["run"]]


@pytest.mark.parametrize("column", display.FIELDS)
def test_every_column_sorts_both_ways(board: Dashboard, column: str) -> None:
    for order in ("asc", "desc"):
        rows = get_json(board, f"/api/runs?sort={column}&order={order}")["rows"]
        values = [r[column] for r in rows]
        present = [v for v in values if v is not None]
        assert present == sorted(present, reverse=order == "desc"), (column, order)
        assert values == present + [None] * (len(values) - len(present))  # empty ones last


def test_filters_select_rows(board: Dashboard, dashboard_db: Db) -> None:
    ids = dashboard_db[1]
    only = get_json(board, "/api/runs?model=kneser-ney")
    assert [r["run"] for r in only["rows"]] == [ids["kn"]] and only["total"] == 1
    swept = get_json(board, f"/api/runs?sweep.min={ids['search']}&sweep.max={ids['search']}")
    assert swept["total"] == 3 and {r["sweep"] for r in swept["rows"]} == {ids["search"]}
    ranged = get_json(board, "/api/runs?lr.min=0.06&lr.max=0.1&dataset=tiny&status=finished")
    assert ranged["rows"] and all(0.06 <= r["lr"] <= 0.1 for r in ranged["rows"])
    dev = get_json(board, "/api/runs?dev_loss.max=3.2&sort=dev_loss")["rows"]
    assert dev and all(r["dev_loss"] <= 3.2 for r in dev)
    best = get_json(board, "/api/runs?best=1")
    assert [r["run"] for r in best["rows"]] == best["best"]
    assert get_json(board, "/api/runs?status=running")["total"] == 0


def test_filters_over_settings_that_are_not_columns(board: Dashboard, dashboard_db: Db) -> None:
    """``hp.KEY``: a run's setting as ``report RUN`` shows it (dropout, weight decay, an
    n-gram's order...), by value or range; ``/api/settings`` names those the runs have."""
    ids = dashboard_db[1]
    settings = get_json(board, "/api/settings")
    assert {"dropout", "weight_decay", "order"} <= set(settings["numeric"])
    assert settings["choices"]["lr_schedule"] == ["step"]
    networks = get_json(board, "/api/runs?hp.lr_schedule=step")
    assert networks["total"] == 7 and ids["kn"] not in {r["run"] for r in networks["rows"]}
    counted = get_json(board, "/api/runs?hp.order.min=3&hp.order.max=3")
    assert [r["run"] for r in counted["rows"]] == [ids["kn"]]
    assert get_json(board, "/api/runs?hp.weight_decay.min=0.5")["total"] == 0
    both = get_json(board, "/api/runs?hp.weight_decay.max=0&model=mlp&lr.min=0.1&lr.max=0.1")
    assert both["total"] >= 1 and all(r["lr"] == 0.1 for r in both["rows"])


def test_pages_cut_the_selection(board: Dashboard) -> None:
    whole = get_json(board, "/api/runs?sort=run")["rows"]
    page = get_json(board, "/api/runs?sort=run&limit=2&offset=3")
    assert page["rows"] == whole[3:5] and page["total"] == 8
    assert get_json(board, "/api/runs?offset=100")["rows"] == []


def test_exports_are_report_json_and_csv(board: Dashboard, dashboard_db: Db, cli) -> None:
    url = dashboard_db[0]
    shown = json.loads(http_get(board.url + "api/runs.json")[2])
    printed = cli("--db", url, "report", "--json")
    assert printed.code == 0 and shown == json.loads(printed.out)
    status, headers, body = http_get(board.url + "api/runs.csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert body.decode() == cli("--db", url, "report", "--csv").out
    kn = json.loads(http_get(board.url + "api/runs.json?model=kneser-ney")[2])
    assert [r["model"] for r in kn["runs"]] == ["kneser-ney"]


def test_every_other_table_exports_as_csv_and_json(board: Dashboard, dashboard_db: Db) -> None:
    """The datasets, the sweeps and a sweep's trials (a grid's runs): the rows their
    pages show, as a JSON file and a CSV file with a row each."""
    ids = dashboard_db[1]
    pages = {
        "datasets": ("/api/datasets", "datasets"),
        "sweeps": ("/api/sweeps", "sweeps"),
        f"sweeps/{ids['search']}": (f"/api/sweeps/{ids['search']}", "trials"),
        f"sweeps/{ids['grid']}": (f"/api/sweeps/{ids['grid']}", "runs"),
    }
    for what, (page, key) in pages.items():
        rows = get_json(board, page)[key]
        assert rows, what
        status, headers, body = http_get(f"{board.url}api/{what}.json")
        assert status == 200 and "attachment" in headers["Content-Disposition"]
        assert json.loads(body)[what.split("/")[0]] == rows
        status, headers, body = http_get(f"{board.url}api/{what}.csv")
        assert status == 200 and headers["Content-Type"].startswith("text/csv")
        got = list(csv.DictReader(io.StringIO(body.decode())))
        assert len(got) == len(rows) and list(got[0]) == list(rows[0])
        first = rows[0]
        key0 = next(k for k in first if isinstance(first[k], int | str) and first[k] != "")
        assert got[0][key0] == str(first[key0])
    assert http_get(f"{board.url}api/sweeps/999.csv")[0] == 404
    assert http_get(f"{board.url}api/sweeps/x.json")[0] == 400


def test_word_datasets_are_named_for_perplexity(tmp_path: Path) -> None:
    """The runs page names the word datasets, whose losses the table shows as perplexity
    (tests/test_dashboard_browser.py checks the cells); a character dataset is not."""
    url, _, _ = pruning_search(tmp_path)
    with ngramlm.open_store(url) as exp:
        words = exp.prepare(word_corpus(tmp_path / "corpus.txt"), "corpus", unit="word")
        exp.train(words, model="bigram")
    with ngramlm.open_store(url, read_only=True) as exp:
        page = json.loads(App(exp).handle("/api/runs").body)
    assert page["perplexity"] == ["corpus"]
    assert {r["dataset"] for r in page["rows"]} == {"corpus", "tiny"}
    with ngramlm.open_store(url, read_only=True) as exp:
        app = App(exp)
        for r in page["rows"]:
            one = json.loads(app.handle(f"/api/runs/{r['run']}").body)
            assert one["perplexity"] == (r["dataset"] == "corpus")


# --- one run, runs side by side, sweeps, datasets -----------------------------------------


def test_a_run_in_depth(board: Dashboard, dashboard_db: Db) -> None:
    url, ids = dashboard_db
    first = get_json(board, f"/api/runs/{ids['first']}")
    with ngramlm.open_store(url, read_only=True) as exp:
        curve = exp.curve(ids["first"])
        assert first["evaluation"]["test_loss"] == exp.evaluation(ids["first"]).test_loss
    assert [p["step"] for p in first["curve"]] == [p.step for p in curve]
    assert first["curve"][0]["step"] == 0
    assert first["row"]["test_loss"] == first["evaluation"]["test_loss"]
    assert first["runtime"]["device"] == "cpu" and first["runtime"]["host"]
    assert first["runtime"]["threads"] == exp_threads(url, ids["first"]) >= 1
    assert first["settings"]["n_hidden"] == 16
    assert first["diagnosis"] and len(first["samples"]) == 8
    assert {s["in"] for s in first["samples"]} <= {"train", "dev", "new"}
    second = get_json(board, f"/api/runs/{ids['second']}")  # not finalized: no test loss
    assert second["evaluation"] is None and second["row"]["test_loss"] is None
    kn = get_json(board, f"/api/runs/{ids['kn']}")
    assert kn["counted"] and kn["row"]["dev_loss"] is not None
    table = get_json(board, f"/api/runs/{ids['first']}/embeddings")
    with ngramlm.open_store(url, read_only=True) as exp:
        tokens, C = exp.embeddings(ids["first"])
    assert table["tokens"] == tokens and len(table["rows"]) == len(tokens) == 27
    assert len(table["rows"][0]) == C.shape[1] == 4
    none = get_json(board, f"/api/runs/{ids['kn']}/embeddings")
    assert none["rows"] == [] and "count model" in none["why"]


def test_runs_side_by_side(board: Dashboard, dashboard_db: Db) -> None:
    ids = dashboard_db[1]
    both = get_json(board, f"/api/compare?runs={ids['first']},{ids['second']},{ids['kn']}")
    assert [r["run"] for r in both["runs"]] == [ids["first"], ids["second"], ids["kn"]]
    assert both["runs"][2]["counted"] and both["runs"][0]["curve"]
    assert "lr" in both["differ"] and "model" in both["differ"]
    assert both["settings"][str(ids["first"])]["lr"] == 0.1
    assert both["settings"][str(ids["second"])]["lr"] == 0.05
    assert "block_size" not in both["differ"] or both["runs"][2]["counted"]


def test_a_search_and_the_datasets(board: Dashboard, dashboard_db: Db) -> None:
    ids = dashboard_db[1]
    listed = get_json(board, "/api/sweeps")["sweeps"]
    assert [(s["sweep"], s["kind"], s["runs"]) for s in listed] == [
        (ids["grid"], "grid", 2),
        (ids["search"], "search", 3),
    ]
    search = get_json(board, f"/api/sweeps/{ids['search']}")
    assert search["kind"] == "search" and len(search["trials"]) == 3
    assert search["varying"] == ["lr", "n_hidden"] and search["dims"]["lr"]["log"]
    devs = [t["dev_loss"] for t in search["trials"]]
    assert devs == sorted(devs)  # ranked, best first
    assert set(search["importance"]) == {"lr", "n_hidden"}
    (ds,) = get_json(board, "/api/datasets")["datasets"]
    assert (ds["name"], ds["train"], ds["dev"], ds["test"]) == ("tiny", 160, 20, 20)
    assert ds["test_evaluations_spent"] == 1 and len(ds["sha256"]) == 64


def test_a_pruning_search_shows_its_rungs_and_every_trials_curve(tmp_path: Path) -> None:
    """A search's page holds each trial's dev curve as the store has it, and, when it
    prunes, the rungs where halving compared the trials; a pruned curve ends there."""
    url, pruned, plain = pruning_search(tmp_path)
    with ngramlm.open_store(url, read_only=True) as exp:
        app = App(exp)
        page = json.loads(app.handle(f"/api/sweeps/{pruned}").body)
        assert page["rungs"] == pytest.approx([1 / 9, 1 / 3])
        assert set(page["curves"]) == {str(t["run"]) for t in page["trials"]}
        for t in page["trials"]:
            dev = [[m.step, m.dev_loss] for m in exp.curve(t["run"]) if m.dev_loss is not None]
            assert page["curves"][str(t["run"])] == dev
            if t["status"] == "pruned":
                assert dev[-1][0] == t["at_step"] < t["steps"]
        assert any(t["status"] == "pruned" for t in page["trials"])
        assert json.loads(app.handle(f"/api/sweeps/{plain}").body)["rungs"] == []


def test_a_grid_sweep(board: Dashboard, dashboard_db: Db) -> None:
    grid = get_json(board, f"/api/sweeps/{dashboard_db[1]['grid']}")
    assert grid["kind"] == "grid" and grid["grid"]["lr_grid"] == [0.05, 0.2]
    assert grid["cells"]["row_key"] == "lr" and grid["cells"]["rows"] == [0.05, 0.2]
    assert len(grid["cells"]["cells"]) == 2 and len(grid["runs"]) == 2
    devs = {r["run"]: r["dev_loss"] for r in grid["runs"]}
    assert grid["cells"]["best"] == min(devs, key=lambda r: devs[r])


# --- live ---------------------------------------------------------------------------------


def test_a_live_run_gains_points_and_turns_crashed(dashboard_db: Db, tmp_path: Path) -> None:
    shutil.copy(Path(dashboard_db[0].removeprefix("sqlite:///")), tmp_path / "live.db")
    url = f"sqlite:///{tmp_path / 'live.db'}"
    run = live_run(url)
    with open_dashboard(url, port=0).start() as d:
        path = f"{d.url}api/runs/{run}/live?after=0"
        status, headers, body = http_get(path)
        assert status == 200 and json.loads(body)["points"] == []
        etag = headers["ETag"]
        assert http_get(path, {"If-None-Match": etag})[0] == 304  # nothing new: no body
        evaluate_live(url, run, 100, 3.1)
        status, headers, body = http_get(path, {"If-None-Match": etag})
        seen = json.loads(body)
        assert status == 200 and [p["step"] for p in seen["points"]] == [100]
        assert seen["status"] == "running" and seen["steps_done"] == 100
        stamp = http_get(d.url + "api/stamp")
        assert http_get(d.url + "api/stamp", {"If-None-Match": stamp[1]["ETag"]})[0] == 304
        age_heartbeat(url, run)  # its process died without a word
        assert json.loads(http_get(path)[2])["status"] == "crashed"


def test_a_large_store_answers_while_it_is_read_again(
    dashboard_db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store whose rows take long to read (10,000 runs) is read again in the background
    when it changes; meanwhile pages come from the rows held. Here every store reads as
    large, and the stamp is asked on every request."""
    from ngramlm.web import runs

    monkeypatch.setattr(runs, "SYNC_BELOW_S", 0.0)
    monkeypatch.setattr(runs, "STAMP_EVERY_S", 0.0)
    shutil.copy(Path(dashboard_db[0].removeprefix("sqlite:///")), tmp_path / "big.db")
    url = f"sqlite:///{tmp_path / 'big.db'}"
    with open_dashboard(url, port=0).start() as d:
        assert get_json(d, "/api/runs")["total"] == 8
        run = live_run(url)
        assert get_json(d, "/api/runs")["total"] == 8  # the rows held, while they are read
        for _ in range(300):  # the read in the background lands (within seconds)
            page = get_json(d, "/api/runs?sort=run&order=desc")
            if page["total"] == 9:
                break
            time.sleep(0.1)
        assert page["total"] == 9 and page["rows"][0]["run"] == run


# --- nothing written, nothing leaked ------------------------------------------------------


def test_browsing_writes_nothing(dashboard_db: Db) -> None:
    url, ids = dashboard_db
    path = Path(url.removeprefix("sqlite:///"))
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    with open_dashboard(url, port=0).start() as d:
        pages = ["", "api/info", "api/runs", "api/runs.csv", "api/runs.json", "api/stamp",
                 "api/sweeps", f"api/sweeps/{ids['search']}", "api/datasets",
                 f"api/compare?runs={ids['first']},{ids['kn']}", f"api/runs/{ids['first']}/live",
                 f"api/sweeps/{ids['grid']}", *(f"api/runs/{i}" for i in range(1, 9))]  # fmt: skip
        for page in pages:
            assert http_get(d.url + page)[0] == 200, page
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    with ngramlm.open_store(url, read_only=True) as exp:
        assert exp.test_evaluations_spent() == {"tiny": 1}  # no run was finalized


def test_a_missing_store_is_refused_and_not_created(tmp_path: Path) -> None:
    with pytest.raises(ngramlm.NgramlmError, match="no store at"):
        open_dashboard(f"sqlite:///{tmp_path / 'none.db'}", port=0)
    assert not (tmp_path / "none.db").exists()


def test_a_read_only_postgres_store_refuses_writes(pg_url: str, words_file: Path) -> None:
    with ngramlm.open_store(pg_url) as exp:
        exp.prepare(words_file, "tiny")
    with ngramlm.open_store(pg_url, read_only=True) as exp:
        assert [d.name for d in exp.datasets()] == ["tiny"]
        with pytest.raises(ngramlm.NgramlmError, match="read-only transaction"):
            exp.prepare(words_file, "other")
    with ngramlm.open_store(pg_url) as exp:
        assert [d.name for d in exp.datasets()] == ["tiny"]


def test_the_password_is_never_shown(pg_url: str, words_file: Path) -> None:
    with ngramlm.open_store(pg_url) as exp:
        exp.prepare(words_file, "tiny")
    secret = "hunter2-hunter2"  # the local server trusts its clients: any password opens
    url = pg_url.replace("postgres@", f"postgres:{secret}@")
    with open_dashboard(url, port=0).start() as d:
        for page in ("api/info", "api/runs", "api/datasets", "api/runs/99"):
            assert secret not in http_get(d.url + page)[2].decode()
        assert "***" in json.loads(http_get(d.url + "api/info")[2])["store"]


# --- hostile requests ---------------------------------------------------------------------

HOSTILE = [
    ("/api/runs/abc", 400, "not valid"),
    ("/api/runs/0", 400, "not valid"),
    ("/api/runs/1.5", 400, "not valid"),
    ("/api/runs/-3", 400, "not valid"),
    ("/api/runs/99999", 404, "no run 99999"),
    ("/api/runs/99999/live", 404, "no run 99999"),
    ("/api/runs/1/live?after=x", 400, "after must be"),
    ("/api/runs?limit=100000000", 400, "limit must be between 1 and 500"),
    ("/api/runs?limit=-1", 400, "limit must be"),
    ("/api/runs?limit=abc", 400, "limit must be a whole number"),
    ("/api/runs?offset=-5", 400, "offset must be"),
    ("/api/runs?dev_loss.min=1;DROP%20TABLE%20runs", 400, "must be a number"),
    ("/api/runs?dev_loss.max=nan", 400, "finite"),
    ("/api/runs?dataset=x%27%20OR%201=1%20--", 400, "is not one the runs have"),
    ("/api/runs?status=%27;--", 400, "is not one the runs have"),
    ("/api/runs?sort=1;DROP", 400, "sort must be a column"),
    ("/api/runs?order=sideways", 400, "order must be"),
    ("/api/runs?password=1", 400, "unknown filter"),
    ("/api/runs.csv?lr.min=x", 400, "must be a number"),
    ("/api/compare?runs=", 400, "give run ids"),
    ("/api/compare?runs=1,abc", 400, "not valid"),
    ("/api/compare?runs=" + ",".join(map(str, range(1, 14))), 400, "at most 12"),
    ("/api/compare?runs=1,424242", 404, "no run 424242"),
    ("/api/sweeps/abc", 400, "not valid"),
    ("/api/runs?hp.nope.min=1", 400, "no run has the setting 'nope'"),
    ("/api/runs?hp.dropout.max=1e999x", 400, "must be a number"),
    ("/api/sweeps/999", 404, "no sweep 999"),
    ("/api/sweeps/1/live", 404, "only its page"),
    ("/api/runs/99999/embeddings", 404, "no run 99999"),
    ("/static/../app.py", 404, "no such file"),
    ("/static/%2e%2e/%2e%2e/store/base.py", 404, "no such file"),
    ("/static/..%2f..%2fversion.py", 404, "no such file"),
    ("/../../etc/passwd", 404, "no page"),
    ("/api/nothing", 404, "no page"),
    ("/api/runs?" + "x" * 5000, 414, "too long"),
]


@pytest.mark.parametrize(("path", "status", "says"), HOSTILE)
def test_hostile_requests_get_a_4xx_and_one_line(
    board: Dashboard, path: str, status: int, says: str
) -> None:
    got, headers, body = http_get(board.url.rstrip("/") + path)
    assert got == status, body
    text = json.loads(body)["error"]
    assert says in text and "\n" not in text and len(text) < 300
    assert "Traceback" not in body.decode()
    assert headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_writes_and_other_hosts_are_refused(board: Dashboard) -> None:
    import urllib.error
    import urllib.request

    for method in ("POST", "PUT", "DELETE", "PATCH", "TRACE"):
        request = urllib.request.Request(board.url + "api/runs", data=b"{}", method=method)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert err.value.code == 405 and b"read-only" in err.value.read()
    # a page elsewhere whose name points at 127.0.0.1 (DNS rebinding) reads nothing
    status, _, body = http_get(board.url + "api/runs", {"Host": "evil.example:8080"})
    assert status == 403 and b"localhost only" in body


# --- the command and the Python call ------------------------------------------------------


def dashboard_process(url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    argv = [sys.executable, "-m", "ngramlm", "--db", url, "dashboard", *args]
    pipe = subprocess.PIPE
    return subprocess.Popen(argv, stdout=pipe, stderr=pipe, text=True, env=env)


def test_the_command_serves_until_ctrl_c(dashboard_db: Db) -> None:
    proc = dashboard_process(dashboard_db[0], "--port", "0", "--host", "0.0.0.0")
    try:
        assert proc.stderr is not None and proc.stdout is not None
        warning = proc.stderr.readline()
        assert "anyone who can reach this machine" in warning and "read the store" in warning
        line = proc.stdout.readline()
        assert "(read-only)" in line and "Ctrl-C" in line
        address = line.split(" at ")[1].split()[0].replace("0.0.0.0", "127.0.0.1")
        assert get_json_at(address + "api/info")["read_only"] is True
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err


def get_json_at(address: str) -> Any:
    status, _, body = http_get(address)
    assert status == 200
    return json.loads(body)


def test_the_command_refuses_a_missing_store_and_a_taken_port(
    cli, dashboard_db: Db, board: Dashboard, tmp_path: Path
) -> None:
    r = cli("--db", f"sqlite:///{tmp_path / 'none.db'}", "dashboard", "--port", "0")
    assert r.code != 0 and "no store at" in r.err and len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "none.db").exists()
    r = cli("--db", dashboard_db[0], "dashboard", "--port", str(board.port))
    assert r.code != 0 and "cannot listen" in r.err and "--port" in r.err
    r = cli("--db", dashboard_db[0], "dashboard", "--port", "70000")
    assert r.code != 0 and "--port must be 0 to 65535" in r.err


def test_the_python_call_serves_in_the_background(dashboard_db: Db) -> None:
    d = ngramlm.dashboard(dashboard_db[0], port=0)
    try:
        assert d.url.startswith("http://127.0.0.1:") and d.exposure is None
        assert http_get(d.url)[1]["Content-Type"].startswith("text/html")
        assert get_json_at(d.url + "api/info")["store"] == dashboard_db[0].removeprefix(
            "sqlite:///"
        )
    finally:
        d.stop()
