"""The mixture family's interface: validation, its components, descriptions for reports;
the mixed model (``model``, torch) when it is fitted, tuned or loaded."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ngramlm.config import RunConfig, finite
from ngramlm.errors import InputError
from ngramlm.models.base import (
    Component,
    CountFamily,
    Description,
    LanguageModel,
    NeuralFamily,
)
from ngramlm.models.mixture.config import PARTS, MixtureConfig, parse_mix

if TYPE_CHECKING:
    import torch

    from ngramlm.models.mixture.model import MixtureModel


class MixtureFamily(CountFamily):
    name = "mixture"
    config_cls = MixtureConfig
    what = "a mixture with a count model"
    category = "mixture"
    legend = "mix A+B: runs A and B mixed"
    in_sample = "weighs in the count model's probabilities of the very text it counted"
    help = (
        "Bengio et al. 2003's mixture of a finished network and a finished count model "
        "(--mix A,B run ids; --weight λ, default chosen on dev)"
    )

    # --- configs ----------------------------------------------------------------------

    def parse(self, values: dict[str, Any]) -> dict[str, Any]:
        if "mix" in values:
            values = {**values, "mix": parse_mix(values["mix"])}
        return values

    def validate(self, cfg: RunConfig) -> None:
        m: MixtureConfig = cfg.model
        if tuple(m.mix) == (0, 0):
            raise InputError(
                "--model mixture needs --mix A,B: a finished network's run id and a finished "
                "count model's, e.g. --mix 4,2"
            )
        a, b = m.mix
        if a < 1 or b < 1:
            raise InputError(f"--mix takes run ids (1 or more), got {a},{b}")
        if a == b:
            raise InputError(f"--mix names run {a} twice; mix a network with a count model")
        if m.weight is not None:
            finite("weight", m.weight, low=0.0, high=1.0)
        if m.block_size != 0:
            raise InputError("--block-size of a mixture is the larger of its components'; drop it")

    def config_from_dict(self, d: Mapping[str, Any]) -> RunConfig:
        model = dict(d["model"])
        model["mix"] = tuple(model.get("mix", (0, 0)))
        return RunConfig(MixtureConfig(**model), None)

    def components(self, cfg: RunConfig) -> list[int]:
        return list(cfg.model.mix)

    def bind(self, cfg: RunConfig, components: Sequence[Component]) -> RunConfig:
        from ngramlm.models import family_of

        kinds = [_kind(c) for c in components]
        if sorted(kinds) != ["count", "network"]:
            what = ", ".join(f"run {c.run} is {family_of(c.config).name}" for c in components)
            raise InputError(f"a mixture needs one trained network and one count model; {what}")
        for c in components:
            if c.config.model.vocab_size != cfg.model.vocab_size:
                raise InputError(
                    f"run {c.run} has a vocabulary of {c.config.model.vocab_size} tokens, "
                    f"the dataset {cfg.model.vocab_size}; mix runs of this dataset"
                )
        block = max(int(c.config.model.block_size) for c in components)
        return cfg.with_values({"block_size": block})

    # --- fitting ----------------------------------------------------------------------

    def fit(
        self,
        cfg: MixtureConfig,
        X: torch.Tensor,
        Y: torch.Tensor,
        components: Sequence[Component] = (),
    ) -> MixtureModel:
        from ngramlm.models import family_of
        from ngramlm.models.mixture.model import MixtureModel

        if len(components) != 2:
            raise ValueError("a mixture is fitted from its two loaded components")
        neural = [_kind(c) for c in components].index("network")
        labels = []
        for c in components:
            fam = family_of(c.config)
            d = fam.describe(c.config, c.extra)
            labels.append(f"run {c.run} {d.short if fam.counted else d.label}")
        weight = 0.5 if cfg.weight is None else cfg.weight  # until ``tune`` chooses it
        parts = [c.model for c in components]
        return MixtureModel(cfg, parts, [c.config for c in components], neural, weight, labels)

    def tune(self, model: MixtureModel, Xdev: torch.Tensor, Ydev: torch.Tensor) -> dict[str, Any]:
        return self.tune_and_score(model, Xdev, Ydev)[0]

    def tune_and_score(
        self, model: MixtureModel, Xdev: torch.Tensor, Ydev: torch.Tensor
    ) -> tuple[dict[str, Any], float]:
        # The components' dev log-probabilities, once: λ is chosen from them, and the dev
        # loss the run records is theirs mixed at λ (the network's half is the costly one).
        from ngramlm.models.mixture.model import choose_weight, dev_loss

        net, count = model.component_log_probs(Xdev, Ydev)
        tried: list[tuple[float, float]] = []
        if Ydev.shape[0] and model.cfg.weight is None:
            model.weight, tried = choose_weight(net, count)
        out: dict[str, Any] = {
            "weight": model.weight,
            "smoothing_chosen_on_dev": model.cfg.weight is None,  # the generic flag
            "components": [
                {"run": run, "label": label}
                for run, label in zip(model.cfg.mix, model.labels, strict=True)
            ],
        }
        if Ydev.shape[0]:
            out["dev_loss_network"] = dev_loss(net, count, 1.0)
            out["dev_loss_count"] = dev_loss(net, count, 0.0)
            out["dev_loss_mixed"] = dev_loss(net, count, model.weight)
        out["weights_tried"] = [[round(w, 9), round(v, 9)] for w, v in tried]
        return out, out.get("dev_loss_mixed", 0.0)

    # --- checkpoints ------------------------------------------------------------------

    def to_tensors(self, model: MixtureModel) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        import torch

        from ngramlm.models import family

        tensors: dict[str, torch.Tensor] = {}
        meta: dict[str, str] = {"weight": repr(model.weight)}
        for prefix, run, part, pcfg in zip(
            PARTS, model.cfg.mix, model.parts, model.configs, strict=True
        ):
            fam = family(pcfg.family)
            if isinstance(fam, CountFamily):
                own, own_meta = fam.to_tensors(part)
            else:
                assert isinstance(part, torch.nn.Module)
                own = {k: v.detach().clone().contiguous() for k, v in part.state_dict().items()}
                own_meta = {}
            tensors.update({f"{prefix}.{k}": v for k, v in own.items()})
            meta[f"{prefix}.run"] = str(run)
            meta[f"{prefix}.config"] = pcfg.to_json()
            meta[f"{prefix}.meta"] = json.dumps(own_meta, sort_keys=True)
        return tensors, meta

    def from_tensors(
        self, cfg: MixtureConfig, tensors: dict[str, torch.Tensor], meta: dict[str, str]
    ) -> LanguageModel:
        import torch

        from ngramlm.models import config_from_dict, family_of
        from ngramlm.models.mixture.model import MixtureModel

        parts: list[Any] = []
        configs: list[RunConfig] = []
        try:
            weight = float(meta["weight"])
            for prefix in PARTS:
                pcfg = config_from_dict(json.loads(meta[f"{prefix}.config"]))
                own = {
                    k[len(prefix) + 1 :]: v
                    for k, v in tensors.items()
                    if k.startswith(prefix + ".")
                }
                fam = family_of(pcfg)
                configs.append(pcfg)
                if isinstance(fam, NeuralFamily):
                    net = fam.build(pcfg.model, torch.Generator().manual_seed(0))
                    net.load_state_dict(own)
                    parts.append(net.eval())
                else:
                    assert isinstance(fam, CountFamily)
                    own_meta = json.loads(meta[f"{prefix}.meta"])
                    parts.append(fam.from_tensors(pcfg.model, own, own_meta))
        except (KeyError, ValueError, RuntimeError, json.JSONDecodeError) as exc:
            raise InputError(
                f"the mixture checkpoint is incomplete or inconsistent ({exc})"
            ) from None
        if not 0.0 <= weight <= 1.0:
            raise InputError(f"the mixture checkpoint's weight {weight} is not in [0, 1]")
        kinds = [family_of(c).counted for c in configs]
        if sorted(kinds) != [False, True]:
            raise InputError("the mixture checkpoint does not hold a network and a count model")
        return MixtureModel(cfg, parts, configs, kinds.index(False), weight)

    # --- what reports show ------------------------------------------------------------

    def describe(self, cfg: RunConfig, extra: Mapping[str, Any]) -> Description:
        m: MixtureConfig = cfg.model
        labels = [c["label"] for c in extra.get("components", [])] or [f"run {r}" for r in m.mix]
        weight = extra.get("weight", m.weight)
        shown = "" if weight is None else f" λ={weight:.2g}"
        return Description(
            label=f"mix({', '.join(labels)}){shown}",
            short=f"mix {m.mix[0]}+{m.mix[1]}",
            n=m.block_size + 1,
            rank=3,
            smoothing="weight λ chosen on dev" if weight is None else f"weight λ={weight:.4g}",
        )

    def hyperparameters(self, cfg: RunConfig, extra: Mapping[str, Any]) -> dict[str, Any]:
        flat = cfg.hyperparameters()
        flat["mix"] = ",".join(map(str, cfg.model.mix))
        if "weight" in extra:
            flat["weight"] = extra["weight"]
            flat["weight_chosen_on_dev"] = extra.get("smoothing_chosen_on_dev", False)
        return flat


def _kind(c: Component) -> str:
    """network, count (a plain count model) or mixture."""
    from ngramlm.models import family_of

    fam = family_of(c.config)
    if not fam.counted:
        return "network"
    assert isinstance(fam, CountFamily)
    return "mixture" if fam.components(c.config) else "count"


FAMILY = MixtureFamily()
