"""What the CLI (or a notebook) shows of the records the API returns: the report's
columns and choices, a run's short description, its hyperparameters as shown, a sparkline,
a config's summary, the figures a preset's authors printed (on the dataset they were
measured on), the thread policy, and user
text with what a terminal would act on made visible (``visible``). Pure functions of
records; they read nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ngramlm.data import UNSHOWABLE as UNSHOWABLE
from ngramlm.data import visible as visible
from ngramlm.stages.prepare import DEFAULT_SEED as DEFAULT_SEED
from ngramlm.stages.prepare import DEFAULT_UNIT as DEFAULT_UNIT
from ngramlm.stages.report import COMPARE_FIELDS as COMPARE_FIELDS
from ngramlm.stages.report import FIELDS as FIELDS
from ngramlm.stages.report import SORTS as SORTS
from ngramlm.stages.report import STATUSES as STATUSES
from ngramlm.stages.report import category as category
from ngramlm.stages.report import counted as counted
from ngramlm.stages.report import describe as describe
from ngramlm.stages.report import last_evaluation as last_evaluation
from ngramlm.stages.report import lectures_split as lectures_split
from ngramlm.stages.report import legend as legend
from ngramlm.stages.report import printed as printed
from ngramlm.stages.report import run_row as run_row
from ngramlm.stages.report import shown_hyperparameters as shown_hyperparameters
from ngramlm.stages.report import sparkline as sparkline
from ngramlm.stages.report import steps_shown as steps_shown

if TYPE_CHECKING:
    from ngramlm.config import RunConfig


def config_summary(config: Mapping[str, Any], keys: Sequence[str]) -> str:
    """``KEY=VALUE`` of a stored config's ``keys`` (those it has), as a sweep shows them."""
    from ngramlm.models import config_from_dict

    flat = config_from_dict(config).hyperparameters()
    return " ".join(
        f"{k}={flat[k]:g}" if isinstance(flat[k], float) else f"{k}={flat[k]}"
        for k in keys
        if k in flat
    )


def auto_threads(cfg: RunConfig) -> int:
    """The threads a run of ``cfg`` takes without ``--threads`` (``runtime``:
    one for a small model; the usable cores that are free now for a large one)."""
    from ngramlm.runtime import threads_for

    return threads_for(cfg)


def preset_defaults(key: str) -> str:
    """What an option left out takes, for ``--help``: each preset's value of ``key``
    (presets of one value together; those that set ``--epochs`` instead of ``--steps``
    give their epochs), read from the registry so the help cannot drift from the presets."""
    from ngramlm.models import FAMILIES

    by: dict[str, list[str]] = {}
    for fam in FAMILIES.values():
        for name, values in fam.presets.items():
            if key in values:
                v = values[key]
                shown = f"{v:,}" if isinstance(v, int) else f"{v:g}"
            elif key == "steps" and "epochs" in values:
                shown = f"{values['epochs']:g} epochs"
            else:
                continue
            by.setdefault(shown, []).append(name)
    given = "; ".join(f"{v} for {', '.join(names)}" for v, names in by.items())
    return f"default: the preset's ({given})"
