"""Checkpoints in parts: the lean safetensors build (the very bytes safetensors writes,
without copies of the tensors), a store's rows of parts, replacing them in one
transaction, and stores from before parts (revision 0007) upgrading with their
checkpoints loadable."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import torch
from alembic import command
from safetensors.torch import save

from ngramlm import checkpoint
from ngramlm.blob import PACK_BYTES, Blob, Buffer
from ngramlm.store import Store
from ngramlm.store.schema import alembic_config

from .conftest import count_rows
from .helpers import cli_tiny_run

# --- the lean build ---------------------------------------------------------------------


def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """What checkpoint.py wrote before the lean build: safetensors' own bytes, the header
    written again with sorted keys."""
    data = save(tensors, metadata=metadata)
    (n,) = struct.unpack("<Q", data[:8])
    text = json.dumps(json.loads(data[8 : 8 + n]), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False)  # fmt: skip
    raw = text.encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data[8 + n :]


def test_the_lean_build_writes_the_bytes_safetensors_writes() -> None:
    """Every dtype safetensors orders (widest first, then by name), 0-d and empty tensors,
    non-ASCII names and metadata: byte for byte, and the same sha256."""
    g = torch.Generator().manual_seed(0)
    tensors = {}
    for i, dtype in enumerate(checkpoint._DTYPES):
        x = torch.randint(0, 100, (3, 5), generator=g).to(dtype)
        tensors[f"ü{i:02d}"] = x
        tensors[f"b.{i}"] = x[0, 0].clone()  # 0-d
        tensors[f"e{i}"] = torch.zeros(0, 4, dtype=dtype)
    metadata = {"z": "é", "a": json.dumps([1, "x"]), "format": "f"}
    expected = safetensors_bytes(tensors, metadata)
    blob = checkpoint._blob(tensors, metadata)
    assert blob.join() == expected and blob.size == len(expected)
    assert blob.sha256 == hashlib.sha256(expected).hexdigest()


def test_the_lean_build_views_the_tensors_memory() -> None:
    """No copy of a tensor: its piece is a view of its memory."""
    w = torch.arange(1000.0)
    blob = checkpoint._blob({"w": w}, {"format": "f"})
    assert len(blob.pieces) == 2  # the header, then w's memory itself
    w[0] = 7.0
    assert bytes(blob.pieces[1][:4]) == struct.pack("<f", 7.0)


@pytest.mark.slow  # checkpoints of hundreds of MB
def test_parts_are_the_bytes_in_order_at_most_the_part_size_each() -> None:
    pieces = [b"header--", bytes(range(200)), b"", bytes(37), b"x", bytes(3 * PACK_BYTES + 5)]
    whole = b"".join(pieces)
    blob = Blob.of(pieces)
    assert blob.sha256 == hashlib.sha256(whole).hexdigest() and blob.size == len(whole)
    for size in (1, 3, 8, 100, 200, 245, 246, 10_000, PACK_BYTES, 2 * PACK_BYTES, 10**8):
        parts = list(blob.parts(size))
        assert b"".join(parts) == whole and len(parts) == blob.part_count(size)
        assert all(0 < len(p) <= size for p in parts)
    # the small pieces packed into one part; the large one cut into views of its memory
    parts = list(blob.parts(2 * PACK_BYTES))
    assert [len(p) for p in parts] == [246, 2 * PACK_BYTES, PACK_BYTES + 5]
    assert all(isinstance(p, memoryview) and p.obj is blob.pieces[-1].obj for p in parts[1:])
    with pytest.raises(ValueError, match="part_bytes"):
        next(blob.parts(0))


# --- the store ----------------------------------------------------------------------------


@pytest.fixture
def run(cli, db_url: str, words_file: Path) -> int:
    """A trained run (a small MLP) in the store at ``db_url``."""
    return int(cli_tiny_run(cli, db_url, words_file, "--steps", "20", "--n-hidden", "8")["run"])


def parts_of(url: str, run_id: int) -> list[int]:
    """The lengths of a run's checkpoint parts, in order."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        q = "SELECT length(data) FROM checkpoint_parts WHERE run_id = :r ORDER BY part"
        lengths = list(conn.execute(sa.text(q), {"r": run_id}).scalars())
    engine.dispose()
    return lengths


def test_a_checkpoint_longer_than_a_part_round_trips(db_url: str, run: int) -> None:
    with Store(db_url) as store:
        ckpt = store.checkpoint(run)
        assert ckpt is not None and len(parts_of(db_url, run)) == 1  # 256 MiB parts
        loaded = checkpoint.from_bytes(ckpt.data, ckpt.sha256)
        blob = checkpoint.to_blob(loaded.state, loaded.config, loaded.vocab)
        assert blob.sha256 == ckpt.sha256  # the lean build writes the stored bytes again
        store.save_checkpoint(run, 7, blob, part_bytes=1000)
        again = store.checkpoint(run)
    assert again is not None and (again.step, again.sha256) == (7, ckpt.sha256)
    assert again.data == ckpt.data
    lengths = parts_of(db_url, run)
    assert len(lengths) >= -(-len(ckpt.data) // 1000) > 2
    assert all(0 < n <= 1000 for n in lengths)
    model = checkpoint.load_model(again.data, again.sha256).model
    assert model is not None


def test_replacing_a_checkpoint_leaves_none_of_its_parts(db_url: str, run: int) -> None:
    with Store(db_url) as store:
        ckpt = store.checkpoint(run)
        assert ckpt is not None
        store.save_checkpoint(run, 1, Blob.of([ckpt.data]), part_bytes=100)
        assert len(parts_of(db_url, run)) > 10
        small = Blob.of([b"a few bytes"])
        store.save_checkpoint(run, 2, small, part_bytes=100)
        again = store.checkpoint(run)
    assert again is not None and (again.step, again.data) == (2, b"a few bytes")
    assert parts_of(db_url, run) == [11] and count_rows(db_url, "checkpoint_parts") == 1


class Failing(Blob):
    """A blob whose third part cannot be read: a save that fails half-way."""

    def parts(self, part_bytes: int) -> Iterator[Buffer]:
        for i, part in enumerate(super().parts(part_bytes)):
            if i == 2:
                raise OSError("the third part is lost")
            yield part


def test_a_save_that_fails_half_way_keeps_the_checkpoint_before(db_url: str, run: int) -> None:
    """One transaction: a reader sees the old checkpoint or the new one, never a mix."""
    with Store(db_url) as store:
        ckpt = store.checkpoint(run)
        assert ckpt is not None
        other = Blob.of([bytes(5000)])
        with pytest.raises(OSError, match="third part"):
            store.save_checkpoint(run, 9, Failing(other.pieces, other.size, other.sha256),
                                  part_bytes=1000)  # fmt: skip
        again = store.checkpoint(run)
    assert again == ckpt and len(parts_of(db_url, run)) == 1


def downgrade(url: str, rev: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), rev)
    engine.dispose()


def test_a_store_from_before_parts_upgrades_with_its_checkpoint_loadable(
    cli, db_url: str, run: int
) -> None:
    """Revision 0007 kept a checkpoint as one value: going back there joins the parts,
    and `db upgrade` makes that value part 0 again, the same bytes and sha256."""
    with Store(db_url) as store:
        ckpt = store.checkpoint(run)
        assert ckpt is not None
        store.save_checkpoint(run, ckpt.step, Blob.of([ckpt.data]), part_bytes=700)
    downgrade(db_url, "0007")
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        (data,) = conn.execute(sa.text("SELECT data FROM checkpoints")).scalars()
    engine.dispose()
    assert bytes(data) == ckpt.data  # one value again, joined
    r = cli("--db", db_url, "sample", str(run))
    assert r.code != 0 and "ngramlm db upgrade" in r.err
    assert cli("--db", db_url, "db", "upgrade").code == 0
    with Store(db_url) as store:
        again = store.checkpoint(run)
    assert again is not None and (again.data, again.sha256) == (ckpt.data, ckpt.sha256)
    assert parts_of(db_url, run) == [len(ckpt.data)]
    r = cli("--db", db_url, "sample", str(run), "-n", "3", "--json")
    assert r.code == 0, r.err
    assert len(json.loads(r.out)["words"]) == 3
