"""Checkpoints as safetensors bytes: tensors plus string metadata, never pickle.

A trained model's checkpoint holds its weights, the optimizer's state, the generator's
state and the loop's counters (everything ``ngramlm.training.loop`` needs to resume); a counted
model's holds the tensors its family writes (``CountFamily.to_tensors``). Both carry the
run config (with its family) and the vocabulary in the metadata (with its unit when the
tokens are words), so a checkpoint alone can be sampled from.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
from dataclasses import dataclass

import torch
from safetensors.torch import load

from ngramlm.blob import Blob
from ngramlm.config import RunConfig
from ngramlm.data import Vocab
from ngramlm.errors import InputError
from ngramlm.models import CountFamily, LanguageModel, NeuralFamily, config_from_dict, family_of
from ngramlm.training.loop import TrainState

FORMAT = "ngramlm-checkpoint-1"  # a trained model: weights and training state
COUNTED_FORMAT = "ngramlm-ngram-1"  # a counted model: its family's tensors


@dataclass(frozen=True)
class LoadedCheckpoint:
    config: RunConfig
    vocab: Vocab
    state: TrainState


# safetensors' dtype names, in the order it writes tensors: by dtype (widest first, then
# this order within a width), then by name. Checked against safetensors' own bytes.
_DTYPE_NAMES = (
    ("uint64", "U64"),
    ("int64", "I64"),
    ("float64", "F64"),
    ("complex64", "C64"),
    ("float32", "F32"),
    ("uint32", "U32"),
    ("int32", "I32"),
    ("bfloat16", "BF16"),
    ("float16", "F16"),
    ("uint16", "U16"),
    ("int16", "I16"),
    ("float8_e4m3fn", "F8_E4M3"),
    ("float8_e5m2", "F8_E5M2"),
    ("int8", "I8"),
    ("uint8", "U8"),
    ("bool", "BOOL"),
)
# The dtypes this torch has (uint16/32/64 are torch >= 2.3; pyproject allows 2.2).
_DTYPES = {getattr(torch, name): code for name, code in _DTYPE_NAMES if hasattr(torch, name)}
_RANK = {dtype: i for i, dtype in enumerate(_DTYPES)}


def _flat(t: torch.Tensor) -> memoryview:
    """A tensor's bytes as a view of its memory (a CPU copy of one on another device)."""
    flat = t.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8)
    return memoryview(flat.numpy())  # type: ignore[arg-type]  # numpy arrays are buffers


def _blob(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Blob:
    """The safetensors bytes of ``tensors`` and ``metadata``, as a header and views of the
    tensors' memory (no copy of them). The header is canonical: its keys in sorted order
    (safetensors alone writes its metadata map in an order that changes from one process
    to the next, so the same tensors would give another sha256 in another process),
    padded with spaces to 8 bytes; the tensors in safetensors' own order. These are the
    bytes ``safetensors.torch.save`` writes with its header rewritten sorted."""
    assert sys.byteorder == "little"  # safetensors is little-endian; the views are raw
    header: dict[str, object] = {"__metadata__": metadata}
    views = []
    offset = 0
    for name in sorted(tensors, key=lambda k: (_RANK[tensors[k].dtype], k)):
        t = tensors[name]
        n = t.numel() * t.element_size()
        header[name] = {
            "dtype": _DTYPES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + n],
        }
        views.append(_flat(t))
        offset += n
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    raw = text.encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return Blob.of([struct.pack("<Q", len(raw)) + raw, *views])


def _vocab_meta(vocab: Vocab) -> dict[str, str]:
    """The vocabulary's metadata; ``unit`` only for words, so a character model's
    checkpoint is byte for byte what it always was."""
    meta = {"vocab": json.dumps(list(vocab.tokens), ensure_ascii=False)}
    if vocab.unit != "char":
        meta["unit"] = vocab.unit
    return meta


def _vocab_of(meta: dict[str, str]) -> Vocab:
    """The vocabulary of a checkpoint's metadata (no ``unit``: characters, see above)."""
    return Vocab(tuple(json.loads(meta["vocab"])), meta.get("unit", "char"))


def to_blob(state: TrainState, config: RunConfig, vocab: Vocab) -> Blob:
    """A trained model's checkpoint: its weights and training state."""
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
        **_vocab_meta(vocab),
        "step": str(state.step),
        "batch_loss_count": str(state.batch_loss_count),
        "elapsed_s": repr(state.elapsed_s),
    }
    return _blob(tensors, metadata)


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


def from_bytes(data: bytes, expected_sha256: str | None = None) -> LoadedCheckpoint:
    """A trained model's checkpoint (weights and training state)."""
    meta, tensors = _read(data, expected_sha256)
    if meta.get("format") == COUNTED_FORMAT:
        cfg = config_from_dict(json.loads(meta["config"]))
        raise InputError(f"this is a {cfg.family} model: it has counts, not weights")
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
    return LoadedCheckpoint(config_from_dict(json.loads(meta["config"])), _vocab_of(meta), state)


def build_model(loaded: LoadedCheckpoint) -> torch.nn.Module:
    """The checkpoint's model in eval mode, on the CPU."""
    fam = family_of(loaded.config)
    assert isinstance(fam, NeuralFamily)
    model = fam.build(loaded.config.model, torch.Generator().manual_seed(0))
    model.load_state_dict(loaded.state.model)
    return model.eval()


# --- counted models --------------------------------------------------------------------


def counted_blob(model: object, config: RunConfig, vocab: Vocab) -> Blob:
    """A counted model's tensors (deterministic: the same counts give the same sha256)."""
    fam = family_of(config)
    assert isinstance(fam, CountFamily)
    tensors, extra = fam.to_tensors(model)
    metadata = {
        "format": COUNTED_FORMAT,
        "config": config.to_json(),
        **_vocab_meta(vocab),
        **extra,
    }
    return _blob(tensors, metadata)


@dataclass(frozen=True)
class LoadedModel:
    model: LanguageModel
    vocab: Vocab
    config: RunConfig


def load_model(data: bytes, expected_sha256: str | None = None) -> LoadedModel:
    """Any run's checkpoint as a model to sample from or evaluate, on the CPU."""
    meta, tensors = _read(data, expected_sha256)
    if meta.get("format") == COUNTED_FORMAT:
        cfg = config_from_dict(json.loads(meta["config"]))
        fam = family_of(cfg)
        if not isinstance(fam, CountFamily):
            raise InputError(f"the checkpoint holds counts for a {fam.name} model")
        model = fam.from_tensors(cfg.model, tensors, meta)
        return LoadedModel(model, _vocab_of(meta), cfg)
    loaded = from_bytes(data, expected_sha256)
    return LoadedModel(build_model(loaded), loaded.vocab, loaded.config)  # type: ignore[arg-type]
