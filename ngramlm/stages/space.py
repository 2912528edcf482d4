"""A search's space (``sweep --search --space``): ranges and choices over any train or
model hyperparameter, typed by the hyperparameter, each range's ends validated by its
family before anything is written; and ``--budget``'s durations."""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ngramlm.config import RunConfig
from ngramlm.errors import InputError
from ngramlm.models import config_from_dict, family_of
from ngramlm.store.records import RunRecord, SweepRecord

if TYPE_CHECKING:
    import optuna

MAX_BUDGET_S = 30 * 24 * 3600.0
MAX_CORNERS = 4096  # combinations of ends a space's check tries (12 ranges' worth)
SAMPLED = 200  # points a space's check draws, seeded, as a sampler would
MAX_REFUSED = 0.5  # a space whose draws are refused more often than this is refused
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

    def holds(self, value: Any) -> bool:
        """Whether ``value`` is one of the dimension's (an earlier trial's, say)."""
        if self.choices:
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return self.low <= value <= self.high and (not self.integer or value == int(value))

    def size(self) -> int | None:
        """How many values the dimension can take; None for a float range (endless)."""
        if self.choices:
            return len(self.choices)
        return int(self.high) - int(self.low) + 1 if self.integer else None

    def values(self) -> Sequence[Any]:
        """Every value of a finite dimension (its choices, or an integer range's
        integers, as a ``range``); a float range has none to list."""
        if self.choices:
            return self.choices
        return range(int(self.low), int(self.high) + 1) if self.integer else ()

    def draw(self, rng: random.Random) -> Any:
        """A value drawn as a sampler would: a choice, or uniform over the range (its
        logarithm's, for a log range)."""
        if self.choices:
            return rng.choice(self.choices)
        if self.log:
            v = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            v = rng.uniform(self.low, self.high)
        return min(int(self.high), max(int(self.low), round(v))) if self.integer else v

    def ends(self) -> tuple[Any, ...]:
        """The values a space's check tries: a range's two ends, the smallest and the
        largest of numeric choices, every other choice (a family's limits grow or shrink
        with a number, so a point it accepts has an accepted corner)."""
        if not self.choices:
            return (int(self.low), int(self.high)) if self.integer else (self.low, self.high)
        numbers = [
            c for c in self.choices if isinstance(c, int | float) and not isinstance(c, bool)
        ]
        if len(numbers) == len(self.choices):
            return tuple(dict.fromkeys((min(numbers), max(numbers))))
        return self.choices


def space_points(dims: Mapping[str, Dim]) -> int | None:
    """How many distinct points a space has; None when a float range makes it endless."""
    sizes = [d.size() for d in dims.values()]
    return None if None in sizes else math.prod(n for n in sizes if n is not None)


def check_whole(base: RunConfig, dims: Mapping[str, Dim]) -> None:
    """Refuse a space the family would refuse as a whole: each range's ends pass alone
    (``parse_space``), but their combinations may not (wide layers over a long context,
    past the parameter bound). Refused when no corner of the space is accepted (the
    smallest, each dimension at its low end, is named), or when most of the points a
    sampler would draw are refused (``SAMPLED`` seeded draws; one refused is named)."""
    if not dims:
        return
    fam = family_of(base)

    def refusal(point: Sequence[Any]) -> InputError | None:
        try:
            fam.validate(base.with_values(dict(zip(dims, point, strict=True))))
        except InputError as exc:
            return exc
        return None

    keys = ", ".join(dims)
    ends = [sorted(d.ends(), key=_order) for d in dims.values()]
    corners = itertools.product(*ends)
    if math.prod(len(e) for e in ends) <= MAX_CORNERS and all(map(refusal, corners)):
        low = [e[0] for e in ends]
        raise InputError(
            f"--space {keys}: every point of the space is refused, even the smallest "
            f"({_point(dims, low)}): {refusal(low)}"
        )
    rng = random.Random(0)
    draws = [[d.draw(rng) for d in dims.values()] for _ in range(SAMPLED)]
    refused = [(p, exc) for p in draws if (exc := refusal(p)) is not None]
    if len(refused) > MAX_REFUSED * SAMPLED:
        point, exc = refused[0]
        raise InputError(
            f"--space {keys}: {len(refused) / SAMPLED:.0%} of the space is refused, e.g. "
            f"{_point(dims, point)}: {exc}; narrow the ranges"
        )


def _point(dims: Mapping[str, Dim], values: Sequence[Any]) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in zip(dims, values, strict=True))  # fmt: skip


def _order(v: Any) -> tuple[int, Any]:
    """Numbers low to high, other choices as given (a stable sort keeps their order)."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        return (0, v)
    return (1, 0)


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


def remaining_s(sweep: SweepRecord, runs: Sequence[RunRecord]) -> float | None:
    """What is left of a search's budget: it counts the search's time from its creation
    to the last activity recorded (a heartbeat, an end), so ``--join`` shares the deadline
    of a running search and ``--resume`` after a kill gets what the killed session left.
    Read once, before any worker starts (``plan.setup_of``): a worker's own activity
    would count against the others."""
    budget = sweep.spec["search"]["budget_s"]
    if budget is None:
        return None
    stamps = [t for r in runs for t in (r.heartbeat_at, r.ended_at, r.started_at) if t]
    spent = (max(stamps) - sweep.created_at).total_seconds() if stamps else 0.0
    return float(budget) - max(0.0, spent)


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
