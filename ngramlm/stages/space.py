"""A search's space (``sweep --search --space``): ranges and choices over any train or
model hyperparameter, typed by the hyperparameter, each range's ends validated by its
family before anything is written; and ``--budget``'s durations."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ngramlm.config import RunConfig
from ngramlm.errors import InputError
from ngramlm.models import config_from_dict, family_of
from ngramlm.store.records import SweepRecord

if TYPE_CHECKING:
    import optuna

MAX_BUDGET_S = 30 * 24 * 3600.0
UNSEARCHABLE = ("device", "precision")  # do not change the math (or are the machine's)


@dataclass(frozen=True)
class Dim:
    """One searched hyperparameter: a range (``low``..``high``, integer or not, log or
    not) or a list of ``choices``."""

    key: str
    text: str  # as given: KEY=LOW:HIGH[:log] or KEY=V1,V2
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] = ()

    def distribution(self) -> optuna.distributions.BaseDistribution:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.choices:
            return CategoricalDistribution(self.choices)
        if self.integer:
            return IntDistribution(int(self.low), int(self.high), log=self.log)
        return FloatDistribution(self.low, self.high, log=self.log)


def _value(key: str, raw: str, kind: type) -> Any:
    raw = raw.strip()
    try:
        if kind is bool:
            if raw.lower() in ("true", "false"):
                return raw.lower() == "true"
            raise ValueError
        value = kind(raw)
    except ValueError:
        raise InputError(
            f"--space {key}: {raw!r} is not a valid {kind.__name__} (e.g. --space lr=1e-3:1e-1:log)"
        ) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"--space {key}: {raw!r} must be a finite number")
    return value


def parse_dim(item: str, types: Mapping[str, type]) -> Dim:
    """One ``--space`` item, ``KEY=LOW:HIGH[:log]`` or ``KEY=V1,V2``."""
    if "=" not in item:
        raise InputError(
            f"--space {item!r} must look like KEY=LOW:HIGH[:log] or KEY=V1,V2 "
            "(e.g. lr=1e-3:1e-1:log)"
        )
    key, _, text = item.partition("=")
    return dim_of(key, text, types)


def dim_of(key: str, text: str, types: Mapping[str, type]) -> Dim:
    """A searched hyperparameter given as data (``{"lr": "1e-3:1e-1:log"}``), as its
    ``--space`` item is (``Dim.text`` keeps the item, the form a search records)."""
    key = key.strip().replace("-", "_")
    item = f"{key}={text}"
    if key not in types or key in UNSEARCHABLE:
        known = ", ".join(sorted(k for k in types if k not in UNSEARCHABLE))
        raise InputError(f"--space: unknown hyperparameter {key!r}; known: {known}")
    kind = types[key]
    if ":" not in text:
        values = tuple(dict.fromkeys(_value(key, v, kind) for v in text.split(",") if v.strip()))
        if not values:
            raise InputError(f"--space {key} has no values; give KEY=V1,V2 or KEY=LOW:HIGH")
        return Dim(key, item, choices=values)
    parts = text.split(":")
    log = len(parts) == 3 and parts[2].strip() == "log"
    if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
        raise InputError(f"--space {item!r}: a range is LOW:HIGH or LOW:HIGH:log")
    if kind not in (int, float):
        raise InputError(f"--space {key} is a {kind.__name__}: give its choices, KEY=V1,V2")
    low, high = (_value(key, p, kind) for p in parts[:2])
    if low >= high:
        raise InputError(f"--space {item!r}: LOW must be below HIGH ({low} >= {high})")
    if log and low <= 0:
        raise InputError(f"--space {item!r}: a log range cannot reach 0 or below; give LOW > 0")
    return Dim(key, item, float(low), float(high), log, kind is int)


def space_of(sweep: SweepRecord) -> tuple[RunConfig, dict[str, Dim]]:
    """A recorded search's base config and space, parsed from its spec."""
    base = config_from_dict(sweep.spec["base"])
    types = base.types()
    return base, {d.key: d for d in (parse_dim(t, types) for t in sweep.spec["search"]["space"])}


def parse_space(items: Sequence[str] | Mapping[str, str], base: RunConfig) -> dict[str, Dim]:
    """``--space`` items (or a mapping of key to range or choices) over the
    hyperparameters of ``base``; each range's ends (and each choice) are validated by
    the family before anything is written."""
    types = base.types()
    fam = family_of(base)
    dims: dict[str, Dim] = {}
    given = (
        [dim_of(k, v, types) for k, v in items.items()]
        if isinstance(items, Mapping)
        else [parse_dim(item, types) for item in items]
    )
    for dim in given:
        if dim.key in dims:
            raise InputError(f"--space {dim.key} is given twice; give it once")
        corners = dim.choices or (
            (int(dim.low), int(dim.high)) if dim.integer else (dim.low, dim.high)
        )
        for v in corners:
            try:
                fam.validate(base.with_values({dim.key: v}))
            except InputError as exc:
                raise InputError(f"--space {dim.text}: {exc}") from None
        dims[dim.key] = dim
    return dims


_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(s|m|min|h)\s*$")


def parse_budget(text: str) -> float:
    """``90s``, ``30m``, ``1.5h`` -> seconds."""
    match = _DURATION.match(text)
    seconds = 0.0
    if match:
        seconds = float(match.group(1)) * {"s": 1, "m": 60, "min": 60, "h": 3600}[match.group(2)]
    if not match or not 0 < seconds <= MAX_BUDGET_S:
        raise InputError(
            f"--budget {text!r} is not a duration; give e.g. 90s, 30m or 2h (at most 30 days)"
        )
    return seconds
