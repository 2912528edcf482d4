"""Checkpoints as safetensors bytes: tensors plus string metadata, never pickle.

A checkpoint holds the model's weights, the optimizer's state, the generator's state and
the loop's counters (everything ``engine.train`` needs to resume), with the run config
and the vocabulary in the metadata so a checkpoint alone can be sampled from.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass

import torch
from safetensors.torch import load, save

from ngramlm.config import RunConfig
from ngramlm.engine import TrainState
from ngramlm.errors import InputError
from ngramlm.lm import LanguageModel
from ngramlm.model import MLP
from ngramlm.ngram import CountModel, NgramConfig

FORMAT = "ngramlm-checkpoint-1"
NGRAM_FORMAT = "ngramlm-ngram-1"  # a count model: its sparse order-N counts


@dataclass(frozen=True)
class LoadedCheckpoint:
    config: RunConfig
    vocab: tuple[str, ...]
    state: TrainState


def to_bytes(state: TrainState, config: RunConfig, vocab: tuple[str, ...]) -> tuple[bytes, str]:
    tensors: dict[str, torch.Tensor] = {}
    for k, v in state.model.items():
        tensors[f"model.{k}"] = v.contiguous()
    for k, v in state.optimizer.items():
        tensors[f"optim.{k}"] = v.contiguous()
    tensors["rng"] = state.rng.contiguous()
    tensors["batch_loss_sum"] = torch.tensor(state.batch_loss_sum, dtype=torch.float64)
    metadata = {
        "format": FORMAT,
        "config": config.to_json(),
        "vocab": json.dumps(list(vocab), ensure_ascii=False),
        "step": str(state.step),
        "batch_loss_count": str(state.batch_loss_count),
        "elapsed_s": repr(state.elapsed_s),
    }
    data = save(tensors, metadata=metadata)
    return data, hashlib.sha256(data).hexdigest()


def _metadata(data: bytes) -> dict[str, str]:
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    return dict(header.get("__metadata__") or {})


def _read(
    data: bytes, expected_sha256: str | None
) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise InputError(
            "the checkpoint's sha256 does not match the one recorded for it: it was altered "
            "after it was written; it is refused (retrain the run)"
        )
    try:
        return _metadata(data), load(data)
    except Exception as exc:  # any malformed header or payload
        raise InputError(f"the checkpoint is not a readable safetensors file ({exc})") from None


def is_ngram(data: bytes) -> bool:
    try:
        return _metadata(data).get("format") == NGRAM_FORMAT
    except Exception:
        return False


def from_bytes(data: bytes, expected_sha256: str | None = None) -> LoadedCheckpoint:
    """An MLP checkpoint (weights and training state)."""
    meta, tensors = _read(data, expected_sha256)
    if meta.get("format") == NGRAM_FORMAT:
        raise InputError(
            f"this is a {json.loads(meta['config'])['ngram']['model']} model: it has counts, "
            "not weights"
        )
    if meta.get("format") != FORMAT:
        raise InputError(f"the checkpoint format {meta.get('format')!r} is not {FORMAT!r}")
    model = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    optim = {k[6:]: v for k, v in tensors.items() if k.startswith("optim.")}
    state = TrainState(
        step=int(meta["step"]),
        model=model,
        optimizer=optim,
        rng=tensors["rng"],
        batch_loss_sum=float(tensors["batch_loss_sum"].item()),
        batch_loss_count=int(meta["batch_loss_count"]),
        elapsed_s=float(meta["elapsed_s"]),
    )
    return LoadedCheckpoint(
        RunConfig.from_dict(json.loads(meta["config"])), tuple(json.loads(meta["vocab"])), state
    )


def build_model(loaded: LoadedCheckpoint) -> MLP:
    """The checkpoint's model in eval mode, on the CPU."""
    model = MLP(loaded.config.model, torch.Generator().manual_seed(0))
    model.load_state_dict(loaded.state.model)
    return model.eval()


# --- count models ----------------------------------------------------------------------


def ngram_to_bytes(model: CountModel, vocab: tuple[str, ...]) -> tuple[bytes, str]:
    """The order-N counts as two tensors (n-grams as token ids, their counts), sorted so
    the same counts always give the same bytes and sha256."""
    keys = sorted(model.counts)
    N = model.order
    grams = torch.tensor([[ord(c) for c in k] for k in keys], dtype=torch.int32).reshape(-1, N)
    counts = torch.tensor([model.counts[k] for k in keys], dtype=torch.int64)
    metadata = {
        "format": NGRAM_FORMAT,
        "config": json.dumps(model.cfg.to_dict(), sort_keys=True),
        "smoothing": repr(model.smoothing),
        "vocab": json.dumps(list(vocab), ensure_ascii=False),
    }
    data = save({"ngrams": grams, "counts": counts}, metadata=metadata)
    return data, hashlib.sha256(data).hexdigest()


def ngram_from_bytes(
    data: bytes, expected_sha256: str | None = None
) -> tuple[CountModel, tuple[str, ...]]:
    meta, tensors = _read(data, expected_sha256)
    if meta.get("format") != NGRAM_FORMAT:
        raise InputError(f"the checkpoint format {meta.get('format')!r} is not {NGRAM_FORMAT!r}")
    cfg = NgramConfig.from_dict(json.loads(meta["config"]))
    grams, counts = tensors["ngrams"], tensors["counts"]
    if grams.dim() != 2 or grams.shape[1] != cfg.order or grams.shape[0] != counts.shape[0]:
        raise InputError("the n-gram checkpoint's tensors do not match its order")
    if grams.numel() and (int(grams.min()) < 0 or int(grams.max()) >= cfg.vocab_size):
        raise InputError("the n-gram checkpoint holds token ids outside its vocabulary")
    table = {
        "".join(map(chr, g)): int(c) for g, c in zip(grams.tolist(), counts.tolist(), strict=True)
    }
    return CountModel(cfg, table, float(meta["smoothing"])), tuple(json.loads(meta["vocab"]))


@dataclass(frozen=True)
class LoadedModel:
    model: LanguageModel
    vocab: tuple[str, ...]


def load_model(data: bytes, expected_sha256: str | None = None) -> LoadedModel:
    """Any run's checkpoint as a model to sample from or evaluate, on the CPU."""
    if is_ngram(data):
        model, vocab = ngram_from_bytes(data, expected_sha256)
        return LoadedModel(model, vocab)
    loaded = from_bytes(data, expected_sha256)
    return LoadedModel(build_model(loaded), loaded.vocab)
