"""The space's edges: a warning when a search's best trials crowd against a range's end,
none otherwise, through the API and ``report --sweep``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ngramlm
from ngramlm.models import preset_config
from ngramlm.stages.edges import edges
from ngramlm.stages.space import parse_space

BASE = preset_config("default", vocab_size=27)


def _rows(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Finished trials, the first the best (dev rises with the index)."""
    return [{"status": "finished", "dev_loss": 2.0 + i / 100, **v} for i, v in enumerate(values)]


def test_best_trials_at_the_top_of_a_range_are_named_with_a_wider_one() -> None:
    dims = parse_space(["dropout=0.0:0.3", "n_hidden=100:400", "lr=1e-3:1e-1:log"], BASE)
    # the best two of eight at dropout 0.28-0.3 (the top 10%), n_hidden spread, lr low
    values = [{"dropout": d, "n_hidden": h, "lr": lr} for d, h, lr in (
        (0.29, 150, 1.2e-3), (0.3, 390, 1.5e-3), (0.1, 200, 0.05), (0.05, 300, 0.01),
        (0.2, 250, 0.02), (0.12, 120, 0.09), (0.0, 380, 0.03), (0.15, 210, 0.004),
    )]  # fmt: skip
    found = {e.key: e for e in edges(dims, _rows(values))}
    assert set(found) == {"dropout", "lr"}
    assert found["dropout"].end == "high" and found["dropout"].best == 2
    assert found["dropout"].wider == "dropout=0:0.45"
    assert found["lr"].end == "low" and found["lr"].wider == "lr=0.0001:0.1:log"
    assert found["dropout"].line().endswith("try --space dropout=0:0.45")


def test_no_warning_where_the_best_trials_sit_inside_or_are_too_few() -> None:
    dims = parse_space(["dropout=0.0:0.3", "block_size=3:8"], BASE)
    inside = [{"dropout": 0.15 + i / 100, "block_size": 5} for i in range(8)]
    assert edges(dims, _rows(inside)) == []
    # three finished trials say nothing, even at an end
    assert edges(dims, _rows([{"dropout": 0.3, "block_size": 8}] * 3)) == []
    # a range from 0 cannot widen below it: no line for its bottom
    assert edges(dims, _rows([{"dropout": 0.0, "block_size": 5}] * 8)) == []
    # an integer range at its top widens by half its width
    (top,) = edges(dims, _rows([{"dropout": 0.15, "block_size": 8}] * 8))
    assert top.key == "block_size" and top.wider == "block_size=3:11"


def test_report_sweep_shows_the_edge_of_a_real_search(
    cli, sqlite_url: str, words_file: Path
) -> None:
    """Learning rates far too low for 50 steps: dev falls as lr rises, so the best
    trials are the highest rates. The random sampler's seed 0 draws two of its six near
    the top of the range (an edge, shown); seed 2 none (no line)."""
    with ngramlm.open_store(sqlite_url) as exp:
        exp.prepare(words_file, name="tiny")
        small = {"preset": "default", "steps": 50, "n_embd": 4, "n_hidden": 16, "batch_size": 16}
        space = {"lr": "1e-4:1e-3:log"}
        sws = [
            exp.search(
                "tiny",
                search="random",
                space=space,
                trials=6,
                workers=0,
                mix=False,
                seed=seed,
                **small,
            )
            for seed in (0, 2)
        ]
        (edge,) = exp.search_edges(sws[0])
        assert exp.search_edges(sws[1]) == []
    assert (edge.key, edge.end, edge.wider) == ("lr", "high", "lr=0.0001:0.00316:log")
    out = cli("--db", sqlite_url, "report", "--sweep", str(sws[0].id)).out
    assert "lr: the best 2 trials sit in the top 10% of its range (at 0.001)" in out, out
    assert "try --space lr=0.0001:0.00316:log" in out, out
    got = json.loads(cli("--db", sqlite_url, "report", "--sweep", str(sws[0].id), "--json").out)
    assert [e["wider"] for e in got["edges"]] == [edge.wider]
    out = cli("--db", sqlite_url, "report", "--sweep", str(sws[1].id)).out
    assert "edge " not in out and "try --space" not in out, out
    # plot search marks the edge on its parameter's panel, and only there
    with ngramlm.open_store(sqlite_url) as exp:
        titles = [ax.get_title() for ax in exp.plot_search(sws[0]).axes]
        assert "at its edge: try lr=0.0001:0.00316:log" in titles, titles
        titles = [ax.get_title() for ax in exp.plot_search(sws[1]).axes]
        assert not any("at its edge" in t for t in titles), titles
