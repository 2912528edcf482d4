"""The model families and their registry: ``--model NAME`` (or a preset's name) to the
family module that implements ``ngramlm.models.base.Family``.

Adding a family: write its package (config, validation, presets, build or fit, describe;
see ``base.py`` and ``wavenet/`` for a small complete one) and add it to ``FAMILIES``.
Nothing else in ngramlm names a family. The families' configs and interfaces import no
torch (their models do, when built or fitted): the registry loads without it, so
``report`` and ``prepare`` start quickly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ngramlm.config import RunConfig, check_epochs
from ngramlm.errors import InputError
from ngramlm.models import mixture, mlp, ngram, sequence, wavenet
from ngramlm.models.base import (
    Component,
    CountFamily,
    Description,
    Family,
    LanguageModel,
    NeuralFamily,
)

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        mlp.FAMILY,
        wavenet.FAMILY,
        sequence.TRANSFORMER,
        sequence.GRU,
        sequence.RNN,
        sequence.BOW,
        ngram.BIGRAM,
        ngram.KNESER_NEY,
        ngram.MODIFIED_KNESER_NEY,
        ngram.ARPA,
        mixture.FAMILY,
    )
}
DEFAULT_FAMILY = mlp.FAMILY.name
# A search's closing mixture (``stages/finish.py``): the family that mixes, and the
# count model it fits when the dataset has none, at the orders dev chooses among.
MIXTURE_FAMILY = mixture.FAMILY.name
REFERENCE_COUNT = ngram.MODIFIED_KNESER_NEY.name


def reference_orders(unit: str) -> range:
    """The orders of ``REFERENCE_COUNT`` a search's mixture tries, lowest first: a
    word corpus's counts grow fast past 5 (Chen & Goodman stop there), characters'
    up to the largest order the families take."""
    return range(3, 6) if unit == "word" else range(3, ngram.MAX_ORDER + 1)


__all__ = [
    "DEFAULT_FAMILY",
    "FAMILIES",
    "MIXTURE_FAMILY",
    "REFERENCE_COUNT",
    "Component",
    "CountFamily",
    "Description",
    "Family",
    "LanguageModel",
    "NeuralFamily",
    "config_from_dict",
    "family",
    "options",
    "preset_config",
    "preset_names",
    "reference_orders",
    "resolve",
]


def family(name: str) -> Family:
    """The family registered as ``name`` (a run's ``model`` column, ``--model NAME``)."""
    try:
        return FAMILIES[name]
    except KeyError:
        names = ", ".join(n for n, f in FAMILIES.items() if f.chosen_by_model)
        raise InputError(f"--model must be one of {names}, got {name!r}") from None


def preset_names() -> dict[str, str]:
    """Every preset, with the family it belongs to."""
    return {p: f.name for f in FAMILIES.values() for p in f.presets}


def resolve(
    model: str | None, preset: str | None, overrides: Mapping[str, Any], vocab_size: int
) -> tuple[RunConfig, str | None]:
    """The validated config of ``--model``/``--preset`` with the given options on top
    (None: not given), and the preset it used. A preset names its family, so ``--preset
    wavenet`` alone picks the WaveNet; no preset takes the family's default one."""
    fam, used, values = options(model, preset, overrides)
    return fam.make_config(values, vocab_size), used


def options(
    model: str | None, preset: str | None, overrides: Mapping[str, Any]
) -> tuple[Family, str | None, dict[str, Any]]:
    """``resolve``'s first half, which needs no dataset: the family, the preset it used
    and the option values (the preset's with the given ones on top), names checked."""
    presets = preset_names()
    if preset is not None and preset not in presets:
        raise InputError(f"unknown preset {preset!r}; use one of: {', '.join(presets)}")
    if model is None:
        model = presets[preset] if preset is not None else DEFAULT_FAMILY
    fam = family(model)
    if preset is not None and presets[preset] != fam.name:
        raise InputError(
            f"--preset {preset} is a {presets[preset]} preset, not a {fam.name} one; "
            f"--model {fam.name} takes {', '.join(fam.presets) or 'no preset'}"
        )
    preset = preset if preset is not None else fam.default_preset
    given = {k: v for k, v in overrides.items() if v is not None}
    if "epochs" in given:
        check_epochs(given["epochs"])  # a person's 0 is refused, never "the default"
    values = dict(fam.presets[preset]) if preset is not None else {}
    if "steps" in given and "epochs" not in given:
        values.pop("epochs", None)  # explicit steps replace a preset's epochs
    values.update(given)
    return fam, preset, values


def config_from_dict(d: Mapping[str, Any]) -> RunConfig:
    """A stored config back as a ``RunConfig``; configs written before families were
    named (an MLP's ``{"model", "train"}``, a count model's ``{"ngram": ...}``) included."""
    if "ngram" in d:  # 0.1: {"ngram": {"model", "order", "smoothing", "vocab_size"}}
        n = dict(d["ngram"])
        fam = family(n.pop("model"))
        return fam.config_from_dict({"model": n})
    return family(d.get("family", DEFAULT_FAMILY)).config_from_dict(d)


def family_of(cfg: RunConfig) -> Family:
    return family(cfg.family)


def preset_config(
    preset: str | None,
    overrides: Mapping[str, Any] | None = None,
    vocab_size: int = 27,
    *,
    model: str | None = None,
) -> RunConfig:
    """``resolve`` for code: a preset's validated config with ``overrides`` on top."""
    return resolve(model, preset, overrides or {}, vocab_size)[0]
