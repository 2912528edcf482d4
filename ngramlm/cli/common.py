"""Shared pieces of the commands: the store handle, consoles, JSON output, id parsing."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

import typer
from rich.console import Console

from ngramlm.api import Experiments
from ngramlm.api.handle import parse_id as parse_id

# Results go to stdout; piped, they are laid out 140 columns wide rather than Rich's 80.
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True)  # progress, warnings and errors: stderr


@dataclass
class State:
    db_url: str = field(repr=False)  # it may hold a password
    _api: Experiments | None = field(default=None, repr=False)

    def api(self) -> Experiments:
        """The process's one handle on the store (the Python API that every command
        goes through); the store is opened, and created at head if new, on first use."""
        if self._api is None:
            self._api = Experiments(self.db_url)
        return self._api


def api(ctx: typer.Context) -> Experiments:
    state: State = ctx.find_root().obj
    return state.api()


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def fmt_loss(x: float | None) -> str:
    return "—" if x is None else f"{x:.4f}"
