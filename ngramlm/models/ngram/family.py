"""The n-gram families' interfaces: validation, descriptions for reports, and the
counting (``counts``, torch) when a model is fitted, tuned or loaded."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ngramlm.config import RunConfig
from ngramlm.errors import InputError
from ngramlm.models.base import Component, CountFamily, Description, LanguageModel
from ngramlm.models.ngram.config import (
    LECTURE_ADD_K,
    MAX_ADD_K,
    MAX_ORDER,
    BigramConfig,
    KneserNeyConfig,
    ModifiedKneserNeyConfig,
    NgramConfig,
    parse_smoothing,
)

if TYPE_CHECKING:
    import torch

    from ngramlm.models.ngram.counts import CountModel


class _NgramFamily(CountFamily):
    config_cls: ClassVar[type[NgramConfig]]

    def parse(self, values: dict[str, Any]) -> dict[str, Any]:
        if "smoothing" in values:
            values = {**values, "smoothing": parse_smoothing(values["smoothing"])}
        return values

    def fit(
        self,
        cfg: NgramConfig,
        X: torch.Tensor,
        Y: torch.Tensor,
        components: Sequence[Component] = (),
    ) -> CountModel:
        from ngramlm.models.ngram.counts import fit

        return fit(cfg, X, Y)

    def tune(self, model: CountModel, Xdev: torch.Tensor, Ydev: torch.Tensor) -> dict[str, Any]:
        from ngramlm.models.ngram.counts import choose_smoothing

        if model.modified:  # the discounts come from counts of counts: nothing to choose
            return {
                "discounts": [[round(d, 6) for d in ds] for ds in model.discounts],
                "n_ngrams": len(model.counts),
            }
        dev_stats = model.stats(Xdev, Ydev)
        tried: list[tuple[float, float]] = []
        if model.cfg.smoothing is None:
            model.smoothing, tried = choose_smoothing(model, dev_stats)
        return {
            "smoothing": model.smoothing,
            "smoothing_chosen_on_dev": model.cfg.smoothing is None,
            "smoothing_tried": [[round(x, 6), round(v, 6)] for x, v in tried],
            "n_ngrams": len(model.counts),
        }

    def to_tensors(self, model: CountModel) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """The order-N counts as two tensors (n-grams as token ids, their counts), sorted
        so the same counts always give the same bytes and sha256."""
        import torch

        keys = sorted(model.counts)
        N = model.order
        grams = torch.tensor([[ord(c) for c in k] for k in keys], dtype=torch.int32)
        counts = torch.tensor([model.counts[k] for k in keys], dtype=torch.int64)
        tensors = {"ngrams": grams.reshape(-1, N), "counts": counts}
        return tensors, {"smoothing": repr(model.smoothing)}

    def from_tensors(
        self, cfg: NgramConfig, tensors: dict[str, torch.Tensor], meta: dict[str, str]
    ) -> LanguageModel:
        from ngramlm.models.ngram.counts import CountModel

        grams, counts = tensors["ngrams"], tensors["counts"]
        if grams.dim() != 2 or grams.shape[1] != cfg.order or grams.shape[0] != counts.shape[0]:
            raise InputError("the n-gram checkpoint's tensors do not match its order")
        if grams.numel() and (int(grams.min()) < 0 or int(grams.max()) >= cfg.vocab_size):
            raise InputError("the n-gram checkpoint holds token ids outside its vocabulary")
        table = {
            "".join(map(chr, g)): int(c)
            for g, c in zip(grams.tolist(), counts.tolist(), strict=True)
        }
        return CountModel(cfg, table, float(meta["smoothing"]))

    def hyperparameters(self, cfg: RunConfig, extra: Any) -> dict[str, Any]:
        flat = cfg.hyperparameters()
        if "smoothing" in extra:
            flat["smoothing"] = extra["smoothing"]
            flat["smoothing_chosen_on_dev"] = extra.get("smoothing_chosen_on_dev", False)
        return flat


class BigramFamily(_NgramFamily):
    name = "bigram"
    config_cls = BigramConfig
    help = "makemore part 1's bigram, add-k (--smoothing K, default 1)"

    def validate(self, cfg: RunConfig) -> None:
        m: NgramConfig = cfg.model
        if m.order != 2:
            raise InputError(
                f"--model bigram is order 2, got --order {m.order}; "
                "use --model kneser-ney for other orders"
            )
        k = m.smoothing
        if k is not None and not (math.isfinite(k) and 0 < k <= MAX_ADD_K):
            raise InputError(
                f"--smoothing (add-k) must be in (0, {MAX_ADD_K:g}] or 'auto' for --model "
                f"bigram, got {k}"
            )

    def describe(self, cfg: RunConfig, extra: Any) -> Description:
        k = extra.get("smoothing", cfg.model.smoothing or LECTURE_ADD_K)
        return Description(
            label=f"bigram add-{k:.3g}", short="bigram", n=2, rank=0, smoothing=f"add-k {k:.4g}"
        )


class KneserNeyFamily(_NgramFamily):
    name = "kneser-ney"
    config_cls = KneserNeyConfig
    help = "interpolated Kneser-Ney (--order N, 2 to 8; --discount D, default chosen on dev)"

    def validate(self, cfg: RunConfig) -> None:
        m: NgramConfig = cfg.model
        if m.order == 0:
            raise InputError("--model kneser-ney needs --order N (2 to 8), e.g. --order 5")
        if isinstance(m.order, bool) or not 2 <= m.order <= MAX_ORDER:
            raise InputError(f"--order must be between 2 and {MAX_ORDER}, got {m.order}")
        D = m.smoothing
        if D is not None and not (math.isfinite(D) and 0 < D <= 1):
            raise InputError(
                f"--smoothing (the Kneser-Ney discount) must be in (0, 1] or 'auto', got {D}"
            )

    def describe(self, cfg: RunConfig, extra: Any) -> Description:
        N = cfg.model.order
        D = extra.get("smoothing", cfg.model.smoothing or 0.0)
        return Description(
            label=f"kneser-ney {N}-gram D={D:.3g}",
            short=f"kn-{N}",
            n=N,
            rank=1,
            smoothing=f"discount {D:.4g}",
        )


class ModifiedKneserNeyFamily(_NgramFamily):
    name = "modified-kn"
    config_cls = ModifiedKneserNeyConfig
    help = (
        "modified Kneser-Ney (Chen & Goodman; KenLM's): three discounts per order from "
        "counts of counts (--order N, 2 to 8)"
    )
    fixed_smoothing = "estimated from the train split's counts of counts"

    def validate(self, cfg: RunConfig) -> None:
        m: NgramConfig = cfg.model
        if m.order == 0:
            raise InputError(f"--model {self.name} needs --order N (2 to 8), e.g. --order 5")
        if isinstance(m.order, bool) or not 2 <= m.order <= MAX_ORDER:
            raise InputError(f"--order must be between 2 and {MAX_ORDER}, got {m.order}")
        if m.smoothing is not None:
            raise InputError(
                f"--model {self.name} estimates its discounts from counts of counts; drop "
                "--smoothing (or use --model kneser-ney for one discount)"
            )

    def describe(self, cfg: RunConfig, extra: Any) -> Description:
        N = cfg.model.order
        top = (extra.get("discounts") or [[]])[-1]
        shown = "/".join(f"{d:.3g}" for d in top) if top else "from counts of counts"
        return Description(
            label=f"modified kneser-ney {N}-gram",
            short=f"mkn-{N}",
            n=N,
            rank=1,
            smoothing=f"discounts {shown}",
        )

    def hyperparameters(self, cfg: RunConfig, extra: Any) -> dict[str, Any]:
        flat = cfg.hyperparameters()
        flat.pop("smoothing", None)
        if "discounts" in extra:
            flat["discounts"] = extra["discounts"]
        return flat


BIGRAM = BigramFamily()
KNESER_NEY = KneserNeyFamily()
MODIFIED_KNESER_NEY = ModifiedKneserNeyFamily()
