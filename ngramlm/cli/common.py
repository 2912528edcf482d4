"""Shared pieces of the commands: the store handle, consoles, user text made safe to
print, JSON and CSV output, id parsing."""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import typer
from rich.console import Console

from ngramlm.api import Experiments, display
from ngramlm.api.handle import parse_id as parse_id
from ngramlm.measure import Measure, measure

# Results go to stdout; piped, they are laid out 140 columns wide rather than Rich's 80.
# No emoji codes: a run named ":fire:" shows as typed.
console = Console(width=None if sys.stdout.isatty() else 140, emoji=False)
err_console = Console(stderr=True, emoji=False)  # progress, warnings and errors: stderr


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


# --- user text on the terminal ----------------------------------------------------------

# What Rich reads as a markup tag, with the backslashes before it (rich.markup's pattern)
_TAG = re.compile(r"(\\*)(\[[a-z#/@][^\[]*?\])")


def safe(value: object, *, lines: bool = False) -> str:
    """User data for a Rich print or a table cell: a name, a token, a sample, a path, a
    config value, or a message quoting one. Its markup is escaped (``[bold]`` shows as
    typed, ``[/]`` closes nothing, ``[link=...]`` links nowhere) and what a terminal
    would act on is written as its escape (ESC as ``\\x1b``), so nothing a user typed
    restyles, links or rewrites the terminal. ``lines``: keep line breaks and tabs.

    As ``rich.markup.escape``, but a trailing backslash is kept as it is (shown as
    typed, where escape's doubled one shows twice): a template never puts a tag of its
    own right after user text, which that backslash would escape."""
    text = display.visible(str(value), "\n\t" if lines else "")
    return _TAG.sub(lambda m: f"{m[1]}{m[1]}\\{m[2]}", text)


def print_json(data: Any) -> None:
    text = json.dumps(data, indent=2, default=str, ensure_ascii=False)
    # json writes a C0 character in a string as \\u001b (a line break left is the
    # layout's); DEL, C1 and the bidi controls, which it writes raw, as \\u009b too
    print(display.UNSHOWABLE.sub(lambda m: m[0] if m[0] == "\n" else f"\\u{ord(m[0]):04x}", text))


def print_csv(fields: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """``--csv``: a header and the rows, text cells with control characters visible."""
    writer = csv.DictWriter(sys.stdout, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: display.visible(v) if isinstance(v, str) else v
                         for k, v in row.items()})  # fmt: skip


def fmt_loss(x: float | None) -> str:
    return "—" if x is None else f"{x:.4f}"


def measure_of(exp: Experiments, dataset: str, nats: bool = False) -> Measure:
    """How the losses of runs on ``dataset`` are shown (``ngramlm.measure``): perplexity
    for a word dataset unless ``nats``, nats for characters."""
    return measure(exp.dataset(dataset).unit, nats)
