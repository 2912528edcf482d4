"""The count families: n-gram models, the other side of Bengio et al. 2003's Table 1.

* ``bigram``: makemore part 1's model, P(w | h) = (c(hw) + k) / (c(h) + k V), add-k
  smoothing (k = 1 in the lecture).
* ``kneser-ney``: interpolated Kneser-Ney of order N (Chen & Goodman 1998, section 3.5)
  with one absolute discount D for every order:

      P_N(w | h)  = max(c(hw) - D, 0) / c(h·) + D N1+(h·) / c(h·) · P_{N-1}(w | h')
      P_k(w | h') = max(N1+(·h'w) - D, 0) / N1+(·h'·) + D N1+(h'·) / N1+(·h'·) · P_{k-1}(w | h'')
      P_0(w)      = 1 / V

  where h' drops the oldest character of h, c counts n-grams in the train split, and a
  lower order counts *continuations*: N1+(·h'w) is the number of distinct characters
  seen before h'w. A context never seen at an order passes its lower order's
  distribution through unchanged (the interpolation weight is 1). Each level's terms
  sum to 1 for 0 < D ≤ 1, so every distribution sums to exactly 1 (tested).

Counts are taken from the MLP's own examples (``data.build_examples`` with ``block_size
= N - 1``: N-1 boundary tokens before the first character, one after the last), so an
order-N model sees exactly the contexts of an MLP with that block size, and its losses
(nats per character, boundary included) compare with the MLP's directly. Only the
order-N counts are stored (a sparse table in the checkpoint); every lower-order count is
derived from them, because each shorter n-gram occurrence is the suffix of an order-N
occurrence ending at the same position.

Counting and lookups use Python dicts keyed by strings of ``chr(token id)``: a word list
of a few hundred thousand characters counts in well under a second. Losses are computed
from per-position count arrays, so the discount can be chosen on dev by evaluating many
candidates at the cost of a few vector operations each.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ngramlm.config import RunConfig
from ngramlm.errors import InputError
from ngramlm.models.base import CountFamily, Description, LanguageModel, WithVocab

MAX_ORDER = 8
LECTURE_ADD_K = 1.0  # makemore part 1: "+1" fake counts
MAX_ADD_K = 1000.0
AUTO = "auto"


@dataclass(frozen=True)
class NgramConfig:
    """An n-gram model: its order and its smoothing (None: chosen on dev)."""

    family: ClassVar[str]
    interpolated: ClassVar[bool]  # Kneser-Ney's lower orders, or add-k on order N alone
    vocab_size: int = 27
    order: int = 0  # n-gram length: the context is order - 1 tokens (0: not given)
    smoothing: float | None = None  # add-k for the bigram, the discount D for Kneser-Ney

    @property
    def block_size(self) -> int:
        return self.order - 1


@dataclass(frozen=True)
class BigramConfig(NgramConfig):
    family: ClassVar[str] = "bigram"
    interpolated: ClassVar[bool] = False
    order: int = 2
    smoothing: float | None = LECTURE_ADD_K


@dataclass(frozen=True)
class KneserNeyConfig(NgramConfig):
    family: ClassVar[str] = "kneser-ney"
    interpolated: ClassVar[bool] = True


def parse_smoothing(text: str | float | None) -> float | None:
    """``--smoothing``: a number, or ``auto`` (None: choose it on dev)."""
    if text is None or isinstance(text, (int, float)):
        return None if text is None else float(text)
    if text.strip().lower() == AUTO:
        return None
    try:
        return float(text)
    except ValueError:
        raise InputError(f"--smoothing must be a number or 'auto', got {text!r}") from None


# --- counting --------------------------------------------------------------------------


def _text(ids: Sequence[int]) -> str:
    return "".join(map(chr, ids))


def _grams(X: torch.Tensor, Y: torch.Tensor) -> list[str]:
    """Each example as its n-gram, context then target (``chr`` of the token ids).

    The examples of ``data.build_examples`` with ``block_size = order - 1`` are exactly
    the order-N n-grams of the padded words, one per predicted token."""
    return [_text(r) for r in torch.cat([X, Y.view(-1, 1)], 1).tolist()]


@dataclass(frozen=True)
class Level:
    """One order's table: n-gram -> (continuation) count, context -> total and types."""

    num: dict[str, int]
    den: dict[str, int]
    types: dict[str, int]


def _level(num: dict[str, int]) -> Level:
    den: dict[str, int] = {}
    types: dict[str, int] = {}
    for g, c in num.items():
        h = g[:-1]
        den[h] = den.get(h, 0) + c
        types[h] = types.get(h, 0) + 1
    return Level(num, den, types)


class CountModel(WithVocab):
    """A fitted bigram or Kneser-Ney model: probabilities from its order-N counts."""

    def __init__(self, cfg: NgramConfig, counts: dict[str, int], smoothing: float) -> None:
        self.cfg = cfg
        self.order = cfg.order
        self.V = cfg.vocab_size
        self.counts = counts
        self.smoothing = float(smoothing)
        self.kneser_ney = cfg.interpolated  # else add-k on the order-N counts
        # levels[k - 1] is the order-k table (n-grams of k tokens), k = 1..N.
        self.levels: list[Level] = [Level({}, {}, {})] * self.order
        self.levels[-1] = _level(counts)
        if self.kneser_ney:
            grams = set(counts)
            for k in range(self.order - 1, 0, -1):
                cont: dict[str, int] = {}
                for g in {g[-(k + 1) :] for g in grams}:
                    cont[g[1:]] = cont.get(g[1:], 0) + 1
                self.levels[k - 1] = _level(cont)

    @property
    def block_size(self) -> int:
        return self.order - 1

    # --- losses through per-position statistics -------------------------------------------

    def stats(self, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """(3, order, n) float64: each position's num, den and types at every order
        (0 where the context was never seen), for ``nll`` at any smoothing."""
        n, N = Y.shape[0], self.order
        out = torch.zeros(3, N, n, dtype=torch.float64)
        if n == 0:
            return out
        rows = _grams(X, Y)
        levels = self.levels if self.kneser_ney else self.levels[-1:]
        first = N - len(levels)
        for j, lev in enumerate(levels):
            k = first + j + 1  # n-gram length at this level
            num, den, types = [], [], []
            for g in rows:
                g = g[len(g) - k :]
                h = g[:-1]
                num.append(lev.num.get(g, 0))
                den.append(lev.den.get(h, 0))
                types.append(lev.types.get(h, 0))
            out[0, k - 1] = torch.tensor(num, dtype=torch.float64)
            out[1, k - 1] = torch.tensor(den, dtype=torch.float64)
            out[2, k - 1] = torch.tensor(types, dtype=torch.float64)
        return out

    def probs_from_stats(self, stats: torch.Tensor, smoothing: float) -> torch.Tensor:
        num, den, types = stats[0], stats[1], stats[2]
        if not self.kneser_ney:
            k = smoothing
            return (num[-1] + k) / (den[-1] + k * self.V)
        p = torch.full((stats.shape[2],), 1.0 / self.V, dtype=torch.float64)
        D = smoothing
        for k in range(self.order):
            seen = den[k] > 0
            d = den[k].clamp(min=1)
            mixed = (num[k] - D).clamp(min=0) / d + D * types[k] / d * p
            p = torch.where(seen, mixed, p)
        return p

    def nll(self, stats: torch.Tensor, smoothing: float | None = None) -> float:
        """Mean negative log-likelihood (nats per character) of the positions."""
        if stats.shape[2] == 0:
            return 0.0
        p = self.probs_from_stats(stats, self.smoothing if smoothing is None else smoothing)
        return float(-p.log().mean().item())

    def mean_nll(self, X: torch.Tensor, Y: torch.Tensor) -> float:
        """Mean negative log-likelihood (nats per character) of Y after X."""
        return self.nll(self.stats(X, Y))

    # --- full distributions ---------------------------------------------------------------

    def prob(self, context: Sequence[int], w: int, unigram: Sequence[float] | None = None) -> float:
        """P(w | the last ``order - 1`` tokens of context), by the definition.

        ``unigram`` replaces the order-1 distribution the recursion ends in (Kneser-Ney
        only): the comparison with NLTK passes NLTK's, which differs from ours there and
        only there (see tests/test_ngram.py)."""
        h = _text(context)[-(self.order - 1) :] if self.order > 1 else ""
        g = h + chr(w)
        if not self.kneser_ney:
            lev, k = self.levels[-1], self.smoothing
            return (lev.num.get(g, 0) + k) / (lev.den.get(h, 0) + k * self.V)
        p, D = 1.0 / self.V, self.smoothing
        first = 1
        if unigram is not None:
            p, first = unigram[w], 2
        for k in range(first, self.order + 1):
            lev = self.levels[k - 1]
            gk = g[len(g) - k :]
            den = lev.den.get(gk[:-1], 0)
            if den:
                p = max(lev.num.get(gk, 0) - D, 0) / den + D * lev.types[gk[:-1]] / den * p
        return p

    def log_probs(self, contexts: torch.Tensor) -> torch.Tensor:
        """(n, V) log-probabilities of the next token after each context row."""
        # One distribution per distinct context: sampling many words repeats contexts.
        unique, inverse = torch.unique(contexts, dim=0, return_inverse=True)
        out = torch.tensor(
            [[self.prob(row, w) for w in range(self.V)] for row in unique.tolist()],
            dtype=torch.float64,
        ).reshape(-1, self.V)
        return out.log().float()[inverse]

    def logits(self, contexts: torch.Tensor) -> torch.Tensor:
        """For sampling: log-probabilities are logits whose softmax is the model."""
        return self.log_probs(contexts)


PROVISIONAL_SMOOTHING = 0.5  # until ``choose_smoothing`` sets it, when the config says "auto"


def fit(cfg: NgramConfig, X: torch.Tensor, Y: torch.Tensor) -> CountModel:
    """Count the train examples (``block_size = order - 1``). The smoothing is the
    configured one; with ``auto`` (None) it is provisional until ``choose_smoothing``
    picks it on dev."""
    if X.shape[1] != cfg.block_size:
        raise ValueError(f"examples of block size {X.shape[1]} for an order-{cfg.order} model")
    smoothing = PROVISIONAL_SMOOTHING if cfg.smoothing is None else cfg.smoothing
    return CountModel(cfg, dict(Counter(_grams(X, Y))), smoothing)


def choose_smoothing(
    model: CountModel, dev_stats: torch.Tensor
) -> tuple[float, list[tuple[float, float]]]:
    """The smoothing with the lowest dev loss: a log-spaced grid, then a golden-section
    search around the best grid point. Returns it and every (value, dev loss) tried."""
    log = not model.kneser_ney  # add-k ranges over decades; a discount over (0, 1]
    if log:
        lo, hi = 1e-3, MAX_ADD_K
        grid = [
            10 ** (math.log10(lo) + i * (math.log10(hi) - math.log10(lo)) / 24) for i in range(25)
        ]
    else:
        lo, hi = 0.01, 1.0
        grid = [0.01 + i * 0.99 / 24 for i in range(25)]
    tried: list[tuple[float, float]] = [(x, model.nll(dev_stats, x)) for x in grid]
    i = min(range(len(grid)), key=lambda j: tried[j][1])
    a, b = grid[max(0, i - 1)], grid[min(len(grid) - 1, i + 1)]
    f = (lambda t: 10**t) if log else (lambda t: t)
    a, b = (math.log10(a), math.log10(b)) if log else (a, b)
    r = (math.sqrt(5) - 1) / 2
    c, d = b - r * (b - a), a + r * (b - a)
    fc, fd = model.nll(dev_stats, f(c)), model.nll(dev_stats, f(d))
    tried += [(f(c), fc), (f(d), fd)]
    for _ in range(30):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - r * (b - a)
            fc = model.nll(dev_stats, f(c))
            tried.append((f(c), fc))
        else:
            a, c, fc = c, d, fd
            d = a + r * (b - a)
            fd = model.nll(dev_stats, f(d))
            tried.append((f(d), fd))
    best = min(tried, key=lambda t: t[1])
    return best[0], sorted(tried)


# --- the families ----------------------------------------------------------------------


class _NgramFamily(CountFamily):
    config_cls: ClassVar[type[NgramConfig]]

    def parse(self, values: dict[str, Any]) -> dict[str, Any]:
        if "smoothing" in values:
            values = {**values, "smoothing": parse_smoothing(values["smoothing"])}
        return values

    def fit(self, cfg: NgramConfig, X: torch.Tensor, Y: torch.Tensor) -> CountModel:
        return fit(cfg, X, Y)

    def tune(self, model: CountModel, Xdev: torch.Tensor, Ydev: torch.Tensor) -> dict[str, Any]:
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
        keys = sorted(model.counts)
        N = model.order
        grams = torch.tensor([[ord(c) for c in k] for k in keys], dtype=torch.int32)
        counts = torch.tensor([model.counts[k] for k in keys], dtype=torch.int64)
        tensors = {"ngrams": grams.reshape(-1, N), "counts": counts}
        return tensors, {"smoothing": repr(model.smoothing)}

    def from_tensors(
        self, cfg: NgramConfig, tensors: dict[str, torch.Tensor], meta: dict[str, str]
    ) -> LanguageModel:
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


BIGRAM = BigramFamily()
KNESER_NEY = KneserNeyFamily()
