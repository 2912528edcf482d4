"""Files that ship with ngramlm: the Alembic scripts and the bundled word list.

In a wheel they live inside the package (``ngramlm/_migrations``, ``ngramlm/_data``, see
pyproject.toml); in a source checkout (editable install) they are the top-level
``migrations/`` and ``data/`` folders beside the package.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(inside: str, beside: str) -> Path:
    for candidate in (_PACKAGE / inside, _PACKAGE.parent / beside):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"ngramlm is installed without {beside}; reinstall it with pip")


def migrations_dir() -> Path:
    return _find("_migrations", "migrations")


BUNDLED_UNIT = "char"  # the bundled list is the lecture's names: each character a token


def bundled_words() -> Path:
    return _find("_data/names.txt", "data/names.txt")
