"""``ngramlm sample``: generate words from a run's last checkpoint."""

from __future__ import annotations

from typing import Annotated

import typer

from ngramlm.cli.common import console, print_json, run_id, store
from ngramlm.errors import InputError, NotFoundError
from ngramlm.store import Store


def register(app: typer.Typer) -> None:
    app.command(name="sample")(sample_cmd)


def sample_cmd(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run id (see `ngramlm report`), or last.")],
    *,
    n: Annotated[int, typer.Option("-n", "--num", help="How many words.")] = 20,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 42,
    temperature: Annotated[float, typer.Option(help="Softmax temperature; 0 is greedy.")] = 1.0,
    top_k: Annotated[int | None, typer.Option(help="Sample only from the k likeliest.")] = None,
    prefix: Annotated[
        str,
        typer.Option(help="Start every word with this text (a word dataset: these words)."),
    ] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Generate words (sentences of a word dataset) from a run, each marked train, dev or
    new."""
    s = store(ctx)
    rid = run_id(s, run)
    if n < 1 or n > 100_000:
        raise InputError(f"-n must be between 1 and 100000, got {n}")
    if seed < 0:
        raise InputError(f"--seed must be >= 0, got {seed}")
    marked, step = marked_samples(
        s, rid, n, seed, temperature=temperature, top_k=top_k, prefix=prefix
    )
    if as_json:
        print_json(
            {
                "run": rid,
                "step": step,
                "seed": seed,
                "temperature": temperature,
                "words": [{"word": w, "in": where} for w, where in marked],
            }
        )
        return
    for w, where in marked:
        style = {"train": "dim", "dev": "cyan", "new": "bold green"}[where]
        console.print(f"{w}  [{style}]{where}[/]", highlight=False)


def marked_samples(
    s: Store,
    rid: int,
    n: int,
    seed: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    prefix: str = "",
) -> tuple[list[tuple[str, str]], int]:
    """Words (or sentences) from the run's last checkpoint, each marked train, dev or new
    (a sentence as the model sees it: rare words as <unk>); and its step."""
    import torch

    from ngramlm import checkpoint
    from ngramlm.sampling import sample

    record = s.run(rid)
    ckpt = s.checkpoint(rid)
    if ckpt is None:
        raise NotFoundError(f"run {rid} has no checkpoint yet; sample once it has trained")
    loaded = checkpoint.load_model(ckpt.data, ckpt.sha256)
    g = torch.Generator().manual_seed(seed)
    vocab = loaded.tokens
    words = sample(
        loaded.model,
        vocab,
        n,
        g,
        temperature=temperature,
        top_k=top_k,
        prefix=prefix,
    )
    # Mark only what training could see: a word in the test split reads as "new".
    seen = {vocab.normalize(w): "train" for w in s.words(record.dataset_id, "train")}
    for w in s.words(record.dataset_id, "dev"):
        seen.setdefault(vocab.normalize(w), "dev")
    return [(w, seen.get(w, "new")) for w in words], ckpt.step
