"""A search ends in the mixture of its best trial with the dataset's best count model:
fitted when absent, taken when present, recorded once (also when resumed), off with
``--no-mix``, shown by ``report --sweep``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ngramlm
from ngramlm.models import REFERENCE_COUNT, reference_orders

from .helpers import TINY_ARGS

TRIAL = {"preset": "default", "steps": 200, "n_embd": 4, "batch_size": 16, "workers": 0}
SPACE = {"lr": "0.05:0.5:log"}


def _search(exp: Any, **kw: Any) -> Any:
    return exp.search("tiny", search="tpe", space=SPACE, trials=2, **{**TRIAL, **kw})


def test_a_search_ends_in_the_mixture_with_a_count_model_fitted_for_it(
    sqlite_url: str, words_file: Path
) -> None:
    with ngramlm.open_store(sqlite_url) as exp:
        exp.prepare(words_file, name="tiny")
        sw = _search(exp)
        found = exp.search_models(sw)
        trials = exp.runs(sweep=sw)
        best = min((r for r in trials if r.status == "finished"), key=lambda r: r.dev_loss)
        assert found.network is not None and found.network.id == best.id
        assert found.mixture is not None and found.mixture.status == "finished"
        assert found.mixture.config["model"]["mix"] == [best.id, found.count.id]
        # the count model: REFERENCE_COUNT fitted at orders lowest first until dev rose
        counts = [r for r in exp.runs() if r.model == REFERENCE_COUNT]
        orders = [r.config["model"]["order"] for r in sorted(counts, key=lambda r: r.id)]
        assert orders == list(reference_orders("char"))[: len(orders)]
        devs = [r.dev_loss for r in sorted(counts, key=lambda r: r.id)]
        assert found.count.dev_loss == min(devs)
        if len(devs) < len(reference_orders("char")):  # stopped when dev stopped improving
            assert devs[-1] >= devs[-2]
        # λ on dev: the mixture is no worse on dev than either part
        assert found.mixture.dev_loss <= min(best.dev_loss, found.count.dev_loss) + 1e-9
        assert found.best is not None and found.best.id == found.mixture.id
        # the trials are untouched: the mixture and the count models are not trials
        assert {r.id for r in exp.runs(sweep=sw)} == {r.id for r in trials}
        assert len(exp.search_trials(sw)) == 2
        # resumed at its end, a search that has its mixture mixes nothing again
        n = len(exp.runs())
        exp.run_sweep(sw, workers=0, resume=True)
        assert len(exp.runs()) == n


def test_the_datasets_best_count_model_is_taken_when_there_is_one(
    cli, sqlite_url: str, words_file: Path
) -> None:
    with ngramlm.open_store(sqlite_url) as exp:
        exp.prepare(words_file, name="tiny")
        kn3 = exp.train("tiny", model="kneser-ney", order=3)
        kn2 = exp.train("tiny", model="kneser-ney", order=2)
        best_count = min((kn3, kn2), key=lambda o: o.run.dev_loss).run
        sw = _search(exp)
        found = exp.search_models(sw)
        assert found.count is not None and found.count.id == best_count.id
        assert not [r for r in exp.runs() if r.model == REFERENCE_COUNT]  # none fitted
        assert found.mixture is not None
    # report --sweep shows the three side by side and names the one to finalize
    out = cli("--db", sqlite_url, "report", "--sweep", str(sw.id)).out
    assert "what the search ends with" in out, out
    for what in ("best trial", "count model", "mixture"):
        assert what in out, out
    best = found.best
    assert best is not None and f"`ngramlm finalize {best.id}`" in out, out
    got = json.loads(cli("--db", sqlite_url, "report", "--sweep", str(sw.id), "--json").out)
    assert got["models"] == {
        "network": found.network.id,
        "count": best_count.id,
        "mixture": found.mixture.id,
        "best": best.id,
    }


def test_no_mix_ends_with_the_trials(cli, sqlite_url: str, words_file: Path) -> None:
    url = sqlite_url
    assert cli("--db", url, "prepare", str(words_file), "--name", "tiny").code == 0
    r = cli("--db", url, "sweep", "--dataset", "tiny", "--search", "tpe", "--trials", "2",
            "--space", "lr=0.05:0.5:log", "--steps", "200", "--workers", "0", "--no-mix",
            *TINY_ARGS)  # fmt: skip
    assert r.code == 0, r.err
    with ngramlm.open_store(url) as exp:
        sw = exp.sweep_record(1)
        assert sw.spec["search"]["mix"] is False
        assert len(exp.runs()) == 2  # the trials, no count model, no mixture
        assert exp.search_models(sw).mixture is None
    assert "what the search ends with" not in r.out
    # --no-mix belongs to a search
    bad = cli("--db", url, "sweep", "--dataset", "tiny", "--lr-grid", "0.1,0.2", "--no-mix")
    assert bad.code == 2 and "--no-mix go with --search" in bad.err, bad.err


def test_a_search_stopped_before_its_end_mixes_when_resumed(
    sqlite_url: str, words_file: Path
) -> None:
    with ngramlm.open_store(sqlite_url) as exp:
        exp.prepare(words_file, name="tiny")
        sw = exp.create_search("tiny", search="tpe", space=SPACE, trials=2, preset="default",
                               steps=200, n_embd=4, batch_size=16)  # fmt: skip
        assert sw.spec["search"]["mix"] is True
        exp.run_sweep(sw, workers=0)  # a worker joining (--join) trains, and mixes nothing
        assert exp.search_models(sw).mixture is None
        exp.run_sweep(sw, workers=0, resume=True)  # --resume finishes it: the mixture, once
        found = exp.search_models(sw)
        assert found.mixture is not None
        mixtures = [r for r in exp.runs() if r.model == found.mixture.model]
        assert [r.id for r in mixtures] == [found.mixture.id]
