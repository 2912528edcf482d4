"""Shared pieces of the commands: the store handle, consoles, JSON output, id parsing."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

import typer
from rich.console import Console

from ngramlm.errors import InputError, NotFoundError
from ngramlm.store import Store

# Results go to stdout; piped, they are laid out 140 columns wide rather than Rich's 80.
console = Console(width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True)  # progress, warnings and errors: stderr


@dataclass
class State:
    db_url: str
    _store: Store | None = field(default=None, repr=False)

    def store(self) -> Store:
        """The process's one Store, opened (and created at head if new) on first use."""
        if self._store is None:
            self._store = Store(self.db_url)
        return self._store


def store(ctx: typer.Context) -> Store:
    state: State = ctx.find_root().obj
    return state.store()


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False))


_ID = re.compile(r"^[0-9]{1,18}$")


def parse_id(text: str, what: str = "run") -> int:
    """Run and sweep ids are positive integers; anything else is refused before any query."""
    if not _ID.match(text.strip()) or int(text) < 1:
        raise InputError(
            f"{what} id {text!r} is not valid; give the number shown by `ngramlm report` "
            f"(e.g. 12){' or last' if what == 'run' else ''}"
        )
    return int(text)


def run_id(store: Store, text: str) -> int:
    """A run id, or ``last`` for the newest training run."""
    if text.strip() == "last":
        runs = store.runs(kind="train", limit=1)
        if not runs:
            raise NotFoundError(f"{store.where} holds no training run yet; `ngramlm train` first")
        return runs[0].id
    return parse_id(text)


def fmt_loss(x: float | None) -> str:
    return "—" if x is None else f"{x:.4f}"
