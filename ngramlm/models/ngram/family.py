"""The count families: ``bigram``, ``kneser-ney`` and ``modified-kn`` as ``CountFamily``s
(validation, tuning on dev, what reports show, the checkpoint's tensors)."""

from __future__ import annotations

import json
import math
from abc import abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ngramlm.config import RunConfig
from ngramlm.errors import InputError
from ngramlm.models.base import Component, CountFamily, Description, LanguageModel
from ngramlm.models.ngram.configs import (
    LECTURE_ADD_K,
    MAX_ADD_K,
    MAX_ORDER,
    ArpaConfig,
    BigramConfig,
    KneserNeyConfig,
    ModifiedKneserNeyConfig,
    NgramConfig,
    parse_smoothing,
)

if TYPE_CHECKING:  # the tables and models need numpy and torch: imported when used, so
    # that `report`, `prepare` and `--help` can ask a family for its name and description
    # without loading torch (tests/test_imports.py)
    import torch

    from ngramlm.models.ngram.arpa import ArpaTables
    from ngramlm.models.ngram.backoff import BackoffModel
    from ngramlm.models.ngram.kneser_ney import CountModel

# --- the families ----------------------------------------------------------------------


class _NgramFamily(CountFamily):
    config_cls: ClassVar[type[NgramConfig]]
    rank: ClassVar[int] = 1  # Table 1's order (``Description.rank``): the bigram's is 0

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
        from ngramlm.models.ngram.kneser_ney import fit

        return fit(cfg, X, Y)

    def tune(self, model: CountModel, Xdev: torch.Tensor, Ydev: torch.Tensor) -> dict[str, Any]:
        from ngramlm.models.ngram.kneser_ney import choose_smoothing

        tried: list[tuple[float, float]] = []
        if model.cfg.smoothing is None:  # (a given one needs no look at dev)
            model.smoothing, tried = choose_smoothing(model, model.stats(Xdev, Ydev))
        return {
            "smoothing": model.smoothing,
            "smoothing_chosen_on_dev": model.cfg.smoothing is None,
            "smoothing_tried": [[round(x, 6), round(v, 6)] for x, v in tried],
            "n_ngrams": model.n_ngrams,
        }

    def to_tensors(self, model: CountModel) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """The order-N counts as two tensors (n-grams as token ids, their counts), in
        lexicographic order, so the same counts always give the same bytes and sha256."""
        import numpy as np
        import torch

        grams = torch.from_numpy(model.tables.grams(np.int32))
        counts = torch.from_numpy(np.asarray(model.counts, dtype=np.int64))
        return {"ngrams": grams, "counts": counts}, {"smoothing": repr(model.smoothing)}

    def from_tensors(
        self, cfg: NgramConfig, tensors: dict[str, torch.Tensor], meta: dict[str, str]
    ) -> LanguageModel:
        from ngramlm.models.ngram.counting import Tables
        from ngramlm.models.ngram.kneser_ney import CountModel

        grams, counts = tensors["ngrams"], tensors["counts"]
        if grams.dim() != 2 or grams.shape[1] != cfg.order or grams.shape[0] != counts.shape[0]:
            raise InputError("the n-gram checkpoint's tensors do not match its order")
        if grams.numel() and (int(grams.min()) < 0 or int(grams.max()) >= cfg.vocab_size):
            raise InputError("the n-gram checkpoint holds token ids outside its vocabulary")
        tables = Tables(grams.numpy(), counts.numpy(), cfg.vocab_size, cfg.interpolated)
        return CountModel(cfg, tables, float(meta["smoothing"]))

    def validate(self, cfg: RunConfig) -> None:
        m: NgramConfig = cfg.model
        self.check_order(m)
        self.check_smoothing(m.smoothing)

    def describe(self, cfg: RunConfig, extra: Any) -> Description:
        label, short, smoothing = self.labels(cfg.model, extra)
        return Description(label, short, n=cfg.model.order, rank=self.rank, smoothing=smoothing)

    @abstractmethod
    def labels(self, m: NgramConfig, extra: Any) -> tuple[str, str, str]:
        """The description's label, its short form and its smoothing, from the config and
        what tuning chose (``extra``)."""

    @abstractmethod
    def check_smoothing(self, smoothing: float | None) -> None:
        """``--smoothing``: None (chosen on dev, or estimated) or a value this family can use."""

    def check_order(self, m: NgramConfig) -> None:
        """``--order N``: given, and 2 to ``MAX_ORDER`` (the Kneser-Ney families)."""
        if m.order == 0:
            raise InputError(f"--model {self.name} needs --order N (2 to 8), e.g. --order 5")
        if isinstance(m.order, bool) or not 2 <= m.order <= MAX_ORDER:
            raise InputError(f"--order must be between 2 and {MAX_ORDER}, got {m.order}")

    def hyperparameters(self, cfg: RunConfig, extra: Any) -> dict[str, Any]:
        flat = cfg.hyperparameters()
        if "smoothing" in extra:
            flat["smoothing"] = extra["smoothing"]
            flat["smoothing_chosen_on_dev"] = extra.get("smoothing_chosen_on_dev", False)
        return flat


class BigramFamily(_NgramFamily):
    name = "bigram"
    rank = 0
    config_cls = BigramConfig
    help = "makemore part 1's bigram, add-k (--smoothing K, default 1)"

    def check_order(self, m: NgramConfig) -> None:
        if m.order != 2:
            raise InputError(
                f"--model bigram is order 2, got --order {m.order}; "
                "use --model kneser-ney for other orders"
            )

    def check_smoothing(self, k: float | None) -> None:
        if k is not None and not (math.isfinite(k) and 0 < k <= MAX_ADD_K):
            raise InputError(
                f"--smoothing (add-k) must be in (0, {MAX_ADD_K:g}] or 'auto' for --model "
                f"bigram, got {k}"
            )

    def labels(self, m: NgramConfig, extra: Any) -> tuple[str, str, str]:
        k = extra.get("smoothing", m.smoothing or LECTURE_ADD_K)
        return f"bigram add-{k:.3g}", "bigram", f"add-k {k:.4g}"


class KneserNeyFamily(_NgramFamily):
    name = "kneser-ney"
    config_cls = KneserNeyConfig
    legend = "kn-N: Kneser-Ney N-gram"
    help = "interpolated Kneser-Ney (--order N, 2 to 8; --discount D, default chosen on dev)"

    def check_smoothing(self, D: float | None) -> None:
        if D is not None and not (math.isfinite(D) and 0 < D <= 1):
            raise InputError(
                f"--smoothing (the Kneser-Ney discount) must be in (0, 1] or 'auto', got {D}"
            )

    def labels(self, m: NgramConfig, extra: Any) -> tuple[str, str, str]:
        D = extra.get("smoothing", m.smoothing or 0.0)
        return f"kneser-ney {m.order}-gram D={D:.3g}", f"kn-{m.order}", f"discount {D:.4g}"


class ModifiedKneserNeyFamily(_NgramFamily):
    name = "modified-kn"
    config_cls = ModifiedKneserNeyConfig
    legend = "mkn-N: modified Kneser-Ney"
    help = (
        "modified Kneser-Ney (Chen & Goodman; KenLM's): three discounts per order from "
        "counts of counts (--order N, 2 to 8)"
    )
    fixed_smoothing = "estimated from the train split's counts of counts"

    def tune(self, model: CountModel, Xdev: torch.Tensor, Ydev: torch.Tensor) -> dict[str, Any]:
        # the discounts come from counts of counts: nothing to choose on dev
        return {
            "discounts": [[round(d, 6) for d in ds] for ds in model.discounts],
            "n_ngrams": model.n_ngrams,
        }

    def check_smoothing(self, given: float | None) -> None:
        if given is not None:
            raise InputError(
                f"--model {self.name} estimates its discounts from counts of counts; drop "
                "--smoothing (or use --model kneser-ney for one discount)"
            )

    def labels(self, m: NgramConfig, extra: Any) -> tuple[str, str, str]:
        top = (extra.get("discounts") or [[]])[-1]
        shown = "/".join(f"{d:.3g}" for d in top) if top else "from counts of counts"
        return f"modified kneser-ney {m.order}-gram", f"mkn-{m.order}", f"discounts {shown}"

    def hyperparameters(self, cfg: RunConfig, extra: Any) -> dict[str, Any]:
        flat = cfg.hyperparameters()
        flat.pop("smoothing", None)
        if "discounts" in extra:
            flat["discounts"] = extra["discounts"]
        return flat


BIGRAM = BigramFamily()
KNESER_NEY = KneserNeyFamily()
MODIFIED_KNESER_NEY = ModifiedKneserNeyFamily()


# --- ARPA ------------------------------------------------------------------------------


class ArpaFamily(CountFamily):
    """A back-off model imported from an ARPA file: scored from its tables, never counted."""

    name = "arpa"
    chosen_by_model = False
    config_cls = ArpaConfig
    help = "an ARPA back-off model brought in by `ngramlm import FILE.arpa --dataset NAME`"
    what = "an imported ARPA model"
    category = "imported-arpa"
    legend = "arpa-N: an imported ARPA N-gram"
    in_sample = "is measured on text the imported model may have been built from"
    fixed_smoothing = "as the ARPA file gives it"

    def validate(self, cfg: RunConfig) -> None:
        raise InputError(
            "--model arpa is not trained: bring an ARPA file in with "
            "`ngramlm import FILE.arpa --dataset NAME`"
        )

    def fit(
        self,
        cfg: ArpaConfig,
        X: torch.Tensor,
        Y: torch.Tensor,
        components: Sequence[Component] = (),
    ) -> BackoffModel:
        raise InputError(
            f"an imported ARPA model ({cfg.source}) cannot be counted again; import the file "
            "again with `ngramlm import FILE.arpa --dataset NAME`"
        )

    def tune(self, model: BackoffModel, Xdev: torch.Tensor, Ydev: torch.Tensor) -> dict[str, Any]:
        return {"n_ngrams": [int(g.shape[0]) for g in model.arpa.grams]}

    def to_tensors(self, model: BackoffModel) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """Each order's n-grams (token ids, ``<s>`` as V), log10 probabilities and
        back-off weights, in the tables' order."""
        import numpy as np
        import torch

        a, out = model.arpa, {}
        for k in range(1, a.order + 1):
            out[f"grams_{k}"] = torch.from_numpy(a.grams[k - 1].astype(np.int32))
            out[f"logp_{k}"] = torch.from_numpy(a.logp[k - 1])
            out[f"bo_{k}"] = torch.from_numpy(a.bo[k - 1])
        return out, {"words": json.dumps(a.words)}

    def from_tensors(
        self, cfg: ArpaConfig, tensors: dict[str, torch.Tensor], meta: dict[str, str]
    ) -> LanguageModel:
        import numpy as np

        from ngramlm.models.ngram.arpa import ArpaTables
        from ngramlm.models.ngram.backoff import BackoffModel

        words = tuple(json.loads(meta["words"]))
        try:
            tables = ArpaTables(
                words,
                tuple(
                    tensors[f"grams_{k}"].numpy().astype(np.int64) for k in range(1, cfg.order + 1)
                ),
                tuple(tensors[f"logp_{k}"].numpy() for k in range(1, cfg.order + 1)),
                tuple(tensors[f"bo_{k}"].numpy() for k in range(1, cfg.order + 1)),
            )
        except KeyError as exc:
            raise InputError(f"the ARPA checkpoint lacks its tensor {exc}") from None
        if len(words) != cfg.vocab_size + 1:
            raise InputError("the ARPA checkpoint's vocabulary does not match its config")
        return BackoffModel(tables)

    def describe(self, cfg: RunConfig, extra: Any) -> Description:
        m: ArpaConfig = cfg.model
        return Description(
            label=f"arpa {m.order}-gram {m.source}",
            short=f"arpa-{m.order}",
            n=m.order,
            rank=1,
            smoothing=f"from {m.source}",
        )


ARPA = ArpaFamily()


def arpa_tables_of(model: object, itos: dict[int, str]) -> ArpaTables:
    """A count or imported model's ARPA tables; another model is refused."""
    from ngramlm.models.ngram.arpa import arpa_words
    from ngramlm.models.ngram.backoff import BackoffModel, arpa_tables
    from ngramlm.models.ngram.kneser_ney import CountModel

    if isinstance(model, BackoffModel):
        return model.arpa
    if isinstance(model, CountModel):
        return arpa_tables(model, arpa_words(itos))
    raise InputError(
        "only count models (bigram, kneser-ney, modified-kn, arpa) are back-off tables; "
        "a network has no ARPA form"
    )
