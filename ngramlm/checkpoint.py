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
from ngramlm.model import MLP

FORMAT = "ngramlm-checkpoint-1"


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


def from_bytes(data: bytes, expected_sha256: str | None = None) -> LoadedCheckpoint:
    if expected_sha256 is not None and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise InputError(
            "the checkpoint's sha256 does not match the one recorded for it: it was altered "
            "after it was written; it is refused (retrain the run)"
        )
    try:
        meta = _metadata(data)
        tensors = load(data)
    except Exception as exc:  # any malformed header or payload
        raise InputError(f"the checkpoint is not a readable safetensors file ({exc})") from None
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
