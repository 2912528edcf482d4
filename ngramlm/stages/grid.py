"""A sweep's grid: learning rates and ``KEY=V1,V2`` values, given as text (the CLI) or as
data (the Python API), expanded to every point's validated config before anything is
written."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from ngramlm.config import RunConfig
from ngramlm.errors import InputError
from ngramlm.models import family_of

MAX_POINTS = 10_000

# --- the grid ------------------------------------------------------------------


def parse_lr_grid(text: str) -> list[float]:
    """``0.01,0.1,1`` or a log-spaced range ``START:STOP:COUNT`` (both ends included)."""
    text = text.strip()
    if not text:  # '' is not "the default rate": a one-point sweep nobody asked for
        raise InputError("--lr-grid is empty; give values like 0.01,0.1,1 or a range 1e-3:1:7")
    try:
        if ":" in text:
            start_s, stop_s, count_s = text.split(":")
            start, stop, count = float(start_s), float(stop_s), int(count_s)
            if not (start > 0 and stop > 0 and math.isfinite(start) and math.isfinite(stop)):
                raise ValueError
            if count < 1 or count > MAX_POINTS:
                raise ValueError
            if count == 1:
                return [start]
            a, b = math.log10(start), math.log10(stop)
            return [float(f"{10 ** (a + (b - a) * i / (count - 1)):.6g}") for i in range(count)]
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(
            f"--lr-grid {text!r} is not a list like 0.01,0.1,1 or a range like 1e-3:1:7"
        ) from None
    if not values:
        raise InputError("--lr-grid is empty; give values like 0.01,0.1,1")
    return lr_values(values)


def lr_values(values: Sequence[float]) -> list[float]:
    """Learning rates given as data (``[0.01, 0.1]``): finite numbers > 0, at least one."""
    if not values:
        raise InputError("--lr-grid is empty; give values like 0.01,0.1,1 or a range 1e-3:1:7")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
            raise InputError(f"--lr-grid value {v!r} must be a finite number > 0")
    return [float(v) for v in values]


def _parse_value(key: str, raw: str, kind: type) -> Any:
    raw = raw.strip()
    try:
        if kind is bool:
            if raw.lower() in ("true", "1", "yes"):
                return True
            if raw.lower() in ("false", "0", "no"):
                return False
            raise ValueError
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        return raw
    except ValueError:
        raise InputError(
            f"--grid {key}: {raw!r} is not a valid {kind.__name__}; e.g. --grid n_hidden=100,200"
        ) from None


def parse_grid(items: list[str], base: RunConfig) -> dict[str, list[Any]]:
    """``KEY=V1,V2,...`` per item (the CLI's ``--grid``), typed by the hyperparameter of
    ``base`` it names."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"--grid {item!r} must look like KEY=V1,V2 (e.g. n_hidden=100,200)")
        key, _, values = item.partition("=")
        key = key.strip().replace("-", "_")
        kind = _grid_key(key, base, grid)
        raw = [v for v in values.split(",") if v.strip()]
        grid[key] = _values(key, [_parse_value(key, v, kind) for v in raw])
    return grid


def grid_of(items: Mapping[str, Sequence[Any]], base: RunConfig) -> dict[str, list[Any]]:
    """A grid given as data (``{"n_hidden": [100, 200]}``), checked as ``parse_grid``
    checks text: known keys, values of the hyperparameter's type (text is parsed)."""
    grid: dict[str, list[Any]] = {}
    for key, values in items.items():
        key = str(key).replace("-", "_")
        kind = _grid_key(key, base, grid)
        if isinstance(values, str | bytes) or not isinstance(values, Sequence):
            raise InputError(f"--grid {key}: give a list of values, e.g. {{{key!r}: [1, 2]}}")
        grid[key] = _values(key, [_typed(key, v, kind) for v in values])
    return grid


def _grid_key(key: str, base: RunConfig, grid: Mapping[str, Any]) -> type:
    """The type of the hyperparameter ``key`` names; unknown, epochs and repeats refused."""
    types = base.types()
    if key not in types or key in ("device",):
        raise InputError(
            f"--grid: unknown hyperparameter {key!r}; known: {', '.join(sorted(types))}"
        )
    if key == "epochs":  # the base's steps are set once, from its own --epochs
        raise InputError(
            "--grid epochs would keep the base's steps at every point; give --epochs "
            "once, or --grid steps=N1,N2"
        )
    if key in grid:
        raise InputError(f"--grid {key} is given twice; put all its values in one --grid")
    return types[key]


def _typed(key: str, value: Any, kind: type) -> Any:
    """A grid value given as data, as the hyperparameter's type (an int for a float)."""
    if isinstance(value, str):
        return _parse_value(key, value, kind)
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    raise InputError(
        f"--grid {key}: {value!r} is not a valid {kind.__name__}; e.g. --grid n_hidden=100,200"
    )


def _values(key: str, parsed: list[Any]) -> list[Any]:
    if not parsed:
        raise InputError(f"--grid {key} has no values")
    return parsed


# --- expansion -------------------------------------------------------------------------


def expand(
    base: RunConfig, lrs: list[float], grid: dict[str, list[Any]], seeds: int
) -> list[RunConfig]:
    """The cartesian product lr x grid x seed replicates, each point validated."""
    fam = family_of(base)
    if fam.counted or base.train is None:
        raise InputError(f"--model {fam.name} is counted, not trained: there is nothing to sweep")
    if isinstance(seeds, bool) or seeds < 1 or seeds > 1000:
        raise InputError(f"--seeds must be between 1 and 1000, got {seeds}")
    keys = list(grid)
    combos = list(itertools.product(lrs, *(grid[k] for k in keys)))
    n = len(combos) * seeds
    if n > MAX_POINTS:
        raise InputError(f"the sweep would have {n:,} points (limit {MAX_POINTS:,}); narrow it")
    configs: list[RunConfig] = []
    seen: set[str] = set()
    for combo in combos:
        values = {"lr": combo[0], **dict(zip(keys, combo[1:], strict=True))}
        for r in range(seeds):
            cfg = base.with_values({**values, "seed": base.train.seed + r})
            fam.validate(cfg)
            h = cfg.config_hash()
            if h in seen:
                raise InputError(
                    f"the grid repeats a point ({values}); remove the duplicate values"
                )
            seen.add(h)
            configs.append(cfg)
    return configs


# --- a sweep's grid, given as the API takes it ----------------------------------------


class GridCheck:
    """A sweep's ``lr_grid`` and ``grid`` (text or data) merged and expanded against the
    resolved base config: ``plan_run``'s ``check``, so a bad grid is refused before
    anything is written. Afterwards ``rates``, ``grid`` and ``configs`` are the sweep's."""

    def __init__(
        self,
        lr_grid: str | Sequence[float] | None,
        grid: Mapping[str, Sequence[Any]] | Sequence[str] | str | None,
        seeds: int,
    ) -> None:
        if lr_grid is None and not grid:
            raise InputError("give --lr-grid (e.g. 0.01,0.1,1) and/or --grid KEY=V1,V2")
        if isinstance(lr_grid, str):
            self.rates = parse_lr_grid(lr_grid)
        else:
            self.rates = lr_values(lr_grid) if lr_grid is not None else []
        self.given, self.seeds = grid, seeds
        self.grid: dict[str, list[Any]] = {}
        self.configs: list[RunConfig] = []

    def __call__(self, base: RunConfig, unit: str) -> None:
        if isinstance(self.given, Mapping):
            self.grid = grid_of(self.given, base)  # data stays data
        else:  # the CLI's text
            items = [self.given] if isinstance(self.given, str) else list(self.given or [])
            self.grid = parse_grid(items, base)
        if "lr" in self.grid:
            if self.rates:
                raise InputError(
                    "give the learning rates with --lr-grid or --grid lr=..., not both"
                )
            self.rates = self.grid.pop("lr")
        if not self.rates and base.train is not None:
            self.rates = [base.train.lr]
        self.configs = expand(base, self.rates, self.grid, self.seeds)
