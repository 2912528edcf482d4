"""A run records torch's CPU threads (migration 0012): the threads of the process that
trained it, a resume's own; none for a count model. ``report RUN`` and the dashboard's
run page show them."""

from __future__ import annotations

import json
import threading

from ngramlm.models import preset_config
from ngramlm.stages.plan import Plan
from ngramlm.stages.run import resume_run, start_run
from ngramlm.store import Store

from .helpers import StopAt, tiny_config


def test_a_run_records_its_threads_and_a_resume_its_own(store: Store, cli, sqlite_url: str) -> None:
    ds = store.dataset("tiny")
    cfg = tiny_config(store, steps=400, checkpoint_every=100)
    stop = threading.Event()
    out = start_run(store, Plan.of(ds, cfg, threads=1), progress=StopAt(stop, 150), stop=stop)
    run = store.run(out.run.id)
    assert run.status == "killed" and run.threads == 1
    resumed = resume_run(store, run.id, plan=Plan.of(ds, cfg, threads=2))
    assert store.run(resumed.run.id).status == "finished"
    assert store.run(run.id).threads == 2  # the process that trained it last
    counted = preset_config(None, {"order": 3}, ds.vocab_size, model="kneser-ney")
    kn = start_run(store, Plan.of(ds, counted))
    assert store.run(kn.run.id).threads is None  # counting has no training step
    shown = cli("--db", sqlite_url, "report", str(run.id))
    assert shown.code == 0 and "(fp32, 2 threads)" in shown.out
    assert "thread" not in cli("--db", sqlite_url, "report", str(kn.run.id)).out.split("host")[0]
    page = json.loads(cli("--db", sqlite_url, "report", "--json").out)
    assert {r["run"] for r in page["runs"]} == {run.id, kn.run.id}
