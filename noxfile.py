"""Developer sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``bench``.

torch is pinned to 2.13.0 here so pip takes the CPU build that these machines keep on
local disk; any torch >= 2.2 works for ngramlm itself.
"""

from __future__ import annotations

import os
import shutil

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (SQLite files and the local PostgreSQL server; tests/test_layers.py
    checks the import contracts of docs/ARCHITECTURE.md; the dashboard's pages in
    Debian's Chromium, installed here when absent and this runs as root with apt-get)."""
    session.install(TORCH)
    session.install("-e", ".[dev]")
    install_chromium(session)
    session.run("pytest", "-n", "2", "--dist", "loadfile", *session.posargs)


def install_chromium(session: nox.Session) -> None:
    """Debian's ``chromium`` for tests/test_dashboard_browser.py (Playwright drives it
    through ``executable_path``: its own browser download is not needed). Where none can
    be installed (not root, no apt-get) the browser tests skip, saying why."""
    if any(shutil.which(name) for name in ("chromium", "chromium-browser")):
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        session.warn("no Chromium and no way to install it: the browser tests will skip")
        return
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-qq", external=True, env=env)
    session.run("apt-get", "install", "-y", "-qq", "chromium", external=True, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install(TORCH)
    session.install("-e", ".[dev]")
    session.run("mypy", "ngramlm", "benchmarks")


@nox.session
def bench(session: nox.Session) -> None:
    """Speed and quality side by side against the lecture's plain loop (see benchmarks/)."""
    session.install(TORCH)
    session.install("-e", ".[dev]")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def brown(session: nox.Session) -> None:
    """Bengio et al. 2003's Table 1 on ../shared/data/brown.txt (NGRAMLM_BROWN), then the
    word-vocabulary speed against a plain PyTorch loop (see benchmarks/)."""
    session.install(TORCH)
    session.install("-e", ".[dev]")
    session.run("python", "-m", "benchmarks.brown", *session.posargs)
    session.run("python", "-m", "benchmarks.word_speed")


@nox.session
def threads(session: nox.Session) -> None:
    """The default thread choice against 1 and 2 threads, idle and with a busy-loop on
    every core: ``train --preset best`` and an 8-point sweep (benchmarks/threads.py)."""
    session.install(TORCH)
    session.install("-e", ".[dev]")
    session.run("python", "-m", "benchmarks.threads", *session.posargs)


@nox.session
def search(session: nox.Session) -> None:
    """``sweep --search`` against an lr grid, random search and Optuna alone on the names,
    and against ``--preset words`` and modified KN-5 on Brown (benchmarks/search.py):
    ``nox -s search -- --task brown-small``."""
    session.install(TORCH)
    session.install("-e", ".[dev]")
    session.run("python", "-m", "benchmarks.search", *session.posargs)


@nox.session
def mixture(session: nox.Session) -> None:
    """A corpus to its best model: KN-5, --preset words, the search's best network and its
    closing mixture, on Brown's first and last 300k tokens (benchmarks/mixture.py)."""
    session.install(TORCH)
    session.install("-e", ".[dev]")
    session.run("python", "-m", "benchmarks.mixture", "--task", "brown-small", *session.posargs)
    session.run("python", "-m", "benchmarks.mixture", "--task", "brown-fiction", *session.posargs)
