"""``Experiments``: one class, the handle on a store (``api/handle.py``) with every
method of the Python API listed here by name. Each method is a function of the module
named for its concern (a docstring, the checks of its arguments, one call to a stage);
none inherits from another concern, so a method is found by its module's name:

- ``reading.py``: datasets, words, runs, curves, evaluations, a sweep's status;
- ``reports.py``: ``ngramlm report``'s rows and tables, ``--compare``, a sweep's grid,
  one run in depth, a search's trials and importances;
- ``running.py``: ``prepare``, ``plan``, ``config``, ``train``, ``resume``, ``lr_find``;
- ``trained.py``: a trained run's model, samples, embeddings, neighbours, ARPA, a
  text file scored, ``finalize``;
- ``sweeping.py``: grids and searches, created, planned and run;
- ``figures.py``: ``plot_*``.
"""

from __future__ import annotations

from ngramlm.api import figures, reading, reports, running, sweeping, trained
from ngramlm.api.handle import Handle


class Experiments(Handle):
    """One store: its datasets, runs, sweeps, models and figures.

    ``Experiments(url)`` opens the store on first use (``open_store`` opens it at once);
    ``Experiments(store=...)`` wraps a ``Store`` that is already open (what the CLI
    does). Methods that train or sample import torch when called."""

    def __enter__(self) -> Experiments:
        return self

    # reading.py
    datasets = reading.datasets
    words = reading.words
    run = reading.run
    runs = reading.runs
    curve = reading.curve
    curve_frame = reading.curve_frame
    evaluation = reading.evaluation
    test_evaluations_spent = reading.test_evaluations_spent
    sweeps = reading.sweeps
    stamp = reading.stamp
    sweep_status = reading.sweep_status
    # reports.py
    report_rows = reports.report_rows
    runs_frame = reports.runs_frame
    report_page = reports.report_page
    report_table = reports.report_table
    compare = reports.compare
    sweep_report = reports.sweep_report
    run_report = reports.run_report
    search_trials = reports.search_trials
    search_edges = reports.search_edges
    search_rungs = reports.search_rungs
    search_frame = reports.search_frame
    search_importance = reports.search_importance
    # running.py
    prepare = running.prepare
    plan = running.plan
    config = running.config
    train = running.train
    resume = running.resume
    lr_find = running.lr_find
    # trained.py
    load_model = trained.load_model
    embeddings = trained.embeddings
    neighbours = trained.neighbours
    sample = trained.sample
    export_arpa = trained.export_arpa
    import_arpa = trained.import_arpa
    score = trained.score
    finalize = trained.finalize
    # sweeping.py
    create_sweep = sweeping.create_sweep
    sweep_plan = sweeping.sweep_plan
    run_sweep = sweeping.run_sweep
    sweep = sweeping.sweep
    create_search = sweeping.create_search
    search = sweeping.search
    search_models = sweeping.search_models
    # figures.py
    plot_curves = figures.plot_curves
    plot_lr_find = figures.plot_lr_find
    plot_embeddings = figures.plot_embeddings
    plot_search = figures.plot_search
    plot_sweep = figures.plot_sweep
