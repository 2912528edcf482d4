"""A request's parts as the dashboard takes them: ids, numbers, limits and filters are
checked here, before any read, and anything else is refused with a 4xx and one short
line (``HttpError``) — never a traceback."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

MAX_LIMIT = 500  # rows a page of the runs table may ask for
MAX_COMPARE = 12  # runs drawn side by side
_ID = re.compile(r"^[0-9]{1,9}$")

Query = Mapping[str, Sequence[str]]


class HttpError(Exception):
    """A request the dashboard refuses: its status (4xx) and a short message for a person."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def one(query: Query, key: str) -> str | None:
    """The value of ``key`` (the last, when given twice), or None when absent."""
    values = query.get(key)
    return values[-1] if values else None


def record_id(text: str, what: str = "run") -> int:
    """A run's or a sweep's id as a path part: a positive number."""
    if not _ID.match(text) or int(text) < 1:
        raise HttpError(400, f"{what} id {shorten(text)!r} is not valid: give a positive number")
    return int(text)


def integer(query: Query, key: str, default: int, lo: int, hi: int) -> int:
    """An integer parameter between ``lo`` and ``hi`` (``default`` when absent)."""
    text = one(query, key)
    if text is None or text == "":
        return default
    if not re.match(r"^-?[0-9]{1,12}$", text):
        raise HttpError(400, f"{key} must be a whole number, got {shorten(text)!r}")
    value = int(text)
    if not lo <= value <= hi:
        raise HttpError(400, f"{key} must be between {lo} and {hi:,}, got {value:,}")
    return value


def number(text: str, key: str) -> float:
    """A finite number (a filter's bound)."""
    try:
        value = float(text)
    except ValueError:
        raise HttpError(400, f"{key} must be a number, got {shorten(text)!r}") from None
    if not math.isfinite(value):
        raise HttpError(400, f"{key} must be a finite number, got {shorten(text)!r}")
    return value


def ids(query: Query, key: str = "runs") -> list[int]:
    """A list of run ids, ``1,2,3``: 1 to ``MAX_COMPARE`` of them, each once."""
    text = one(query, key) or ""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise HttpError(400, f"{key}: give run ids, as {key}=3,5,8")
    if len(parts) > MAX_COMPARE:
        raise HttpError(400, f"{key}: at most {MAX_COMPARE} runs side by side, got {len(parts)}")
    out = list(dict.fromkeys(record_id(p) for p in parts))
    return out


def shorten(text: str, at: int = 40) -> str:
    """User text quoted in a message, cut short."""
    return text if len(text) <= at else text[:at] + "…"
