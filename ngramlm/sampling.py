"""Generating words (or sentences) from a trained model (makemore part 2's sampling
loop, batched).

Each line starts from the boundary context (or a prefix), draws the next token from
softmax(logits / temperature) with an explicit generator, and ends at the boundary token
or at a length cap. Temperature 0 is greedy decoding; ``top_k`` keeps the k likeliest.
A word model's prefix is words, and its sentences are its tokens joined by spaces.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ngramlm.data import MAX_LINE_TOKENS, MAX_WORD_CHARS, Vocab
from ngramlm.errors import InputError
from ngramlm.models import LanguageModel

MAX_NEW_CHARS = 64
MAX_NEW_WORDS = 100


@torch.no_grad()
def sample(
    model: LanguageModel,
    vocab: Vocab,
    n: int,
    generator: torch.Generator,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    prefix: str = "",
    max_new: int | None = None,
) -> list[str]:
    if n < 1:
        raise InputError(f"-n must be at least 1, got {n}")
    if not temperature >= 0 or temperature == float("inf"):
        raise InputError(f"--temperature must be a finite number >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {top_k}")
    words = vocab.unit == "word"
    if max_new is None:
        max_new = MAX_NEW_WORDS if words else MAX_NEW_CHARS
    if words and len(prefix.split()) >= MAX_LINE_TOKENS:
        raise InputError(
            f"--prefix is {len(prefix.split())} words; keep it under {MAX_LINE_TOKENS}"
        )
    if not words and len(prefix) >= MAX_WORD_CHARS:
        raise InputError(f"--prefix is {len(prefix)} characters; keep it under {MAX_WORD_CHARS}")
    try:
        prefix_ids = vocab.encode(prefix, strict=True)
    except InputError as exc:
        raise InputError(f"--prefix: {exc}") from None
    T = model.block_size
    context = torch.zeros(n, T, dtype=torch.long)
    for i in prefix_ids:
        context = torch.cat([context[:, 1:], torch.full((n, 1), i)], dim=1)
    out = torch.zeros(n, max_new, dtype=torch.long)
    alive = torch.ones(n, dtype=torch.bool)
    for t in range(max_new):
        logits = model.logits(context)  # (n, V)
        if temperature == 0:
            nxt = logits.argmax(dim=1)
        else:
            logits = logits / temperature
            if top_k is not None and top_k < logits.shape[1]:
                kth = torch.topk(logits, top_k, dim=1).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            probs = F.softmax(logits, dim=1)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        nxt = torch.where(alive, nxt, torch.zeros_like(nxt))
        out[:, t] = nxt
        alive &= nxt != 0
        if not alive.any():
            break
        context = torch.cat([context[:, 1:], nxt.unsqueeze(1)], dim=1)
    lines = []
    for row in out.tolist():
        ids = row[: row.index(0)] if 0 in row else row
        lines.append(vocab.decode(prefix_ids + ids))
    return lines
