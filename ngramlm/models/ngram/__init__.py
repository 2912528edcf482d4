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

* ``modified-kn``: modified Kneser-Ney (Chen & Goodman 1998, section 3.5; what KenLM
  and SRILM build), interpolated like ``kneser-ney`` but with three discounts per order,
  D(c) = D1, D2 or D3+ for a count of 1, 2 or 3 and more, and the lower-order weight
  (D1 N1(h·) + D2 N2(h·) + D3+ N3+(h·)) / c(h·). Each order's discounts come from the
  counts of counts of the counts used at that order (raw at order N, continuation counts
  below): Y = n1 / (n1 + 2 n2), D1 = 1 - 2Y n2/n1, D2 = 2 - 3Y n3/n2, D3+ = 3 - 4Y n4/n3,
  each clamped to [MIN_DISCOUNT, r] (a term whose n_r is 0 counts as 0), so nothing is
  chosen on dev. Both are one formula, KenLM's: each order has a ``Discount(D1, D2, D3)``,
  and ``kneser-ney``'s is ``Discount(D, D, D)`` (its weight D N1+(h·) / c(h·) is then
  (D N1 + D N2 + D N3+) / c(h·)).

Counts are taken from the MLP's own examples (``data.build_examples`` with ``block_size
= N - 1``: N-1 boundary tokens before the first character, one after the last), so an
order-N model sees exactly the contexts of an MLP with that block size, and its losses
(nats per character, boundary included) compare with the MLP's directly. Only the
order-N counts are stored (a sparse table in the checkpoint); every lower-order count is
derived from them, because each shorter n-gram occurrence is the suffix of an order-N
occurrence ending at the same position.

The package: ``configs`` (the configs), ``counting`` (n-grams as packed integer keys in
sorted arrays: sort, then count; lookups by binary search), ``discount`` (the discounts
and the one interpolated step), ``kneser_ney`` (the probabilities, losses over a whole
split in bounded chunks, the discount chosen on dev by ``models.golden``'s search),
``family`` (the ``CountFamily``s), ``arpa`` (the ARPA text format) and ``backoff`` (a
backoff model: a count model's ARPA tables, and a model scored from imported ones).

Importing the package imports no torch or numpy (``report`` and ``--help`` ask the
families for names and descriptions): the tables and models below come from their
modules on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ngramlm.models.ngram.configs import (
    MAX_ORDER,
    MIN_DISCOUNT,
    ArpaConfig,
    BigramConfig,
    KneserNeyConfig,
    ModifiedKneserNeyConfig,
    NgramConfig,
)
from ngramlm.models.ngram.family import (
    ARPA,
    BIGRAM,
    KNESER_NEY,
    MODIFIED_KNESER_NEY,
    arpa_tables_of,
)

if TYPE_CHECKING:
    from ngramlm.models.ngram.backoff import BackoffModel
    from ngramlm.models.ngram.discount import Discount, modified_discounts
    from ngramlm.models.ngram.kneser_ney import CountModel, choose_smoothing, fit

_LAZY = {
    "BackoffModel": "backoff",
    "Discount": "discount",
    "modified_discounts": "discount",
    "CountModel": "kneser_ney",
    "choose_smoothing": "kneser_ney",
    "fit": "kneser_ney",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# What the rest of ngramlm, the tests and the benchmarks use; the rest is imported from
# its module (``configs``, ``family``, ``counting``, ...).
__all__ = [
    "ARPA",
    "BIGRAM",
    "KNESER_NEY",
    "MAX_ORDER",
    "MIN_DISCOUNT",
    "MODIFIED_KNESER_NEY",
    "ArpaConfig",
    "BackoffModel",
    "BigramConfig",
    "CountModel",
    "Discount",
    "KneserNeyConfig",
    "ModifiedKneserNeyConfig",
    "NgramConfig",
    "arpa_tables_of",
    "choose_smoothing",
    "fit",
    "modified_discounts",
]
