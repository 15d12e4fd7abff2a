"""Pure-Python reader for TensorFlow checkpoints (TensorBundle V2), no TensorFlow needed.

A checkpoint ``<prefix>`` is ``<prefix>.index`` plus ``<prefix>.data-SSSSS-of-NNNNN``. The
index is a LevelDB-style table (tensorflow/core/lib/io/table_builder.cc): uncompressed blocks
of prefix-compressed entries, each block followed by a 1-byte type and a masked CRC32C, then a
48-byte footer (metaindex handle, index handle, zero padding, magic). Key ``""`` holds a
``BundleHeaderProto``; every other key is a tensor name whose value is a ``BundleEntryProto``
(dtype, shape, shard_id, offset, size). Tensor bytes are raw little-endian in the data shard.
Block checksums are verified; per-tensor CRC32C is not (too slow in Python for GB files);
tensor byte counts are.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
# tensorflow/core/framework/types.proto
DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"), 2: np.dtype("<f8"), 3: np.dtype("<i4"), 4: np.dtype("u1"),
    5: np.dtype("<i2"), 6: np.dtype("i1"), 9: np.dtype("<i8"), 10: np.dtype("?"),
    17: np.dtype("<u2"), 19: np.dtype("<f2"), 22: np.dtype("<u4"), 23: np.dtype("<u8"),
}


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """LevelDB's masked CRC-32C as stored in block trailers."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; return (value, next position)."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def proto_fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Yield (field number, value) of a serialized protobuf message (wire types 0, 1, 2, 5)."""
    pos = 0
    while pos < len(buf):
        tag, pos = read_varint(buf, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = read_varint(buf, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 2:
            length, pos = read_varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, value


@dataclass(frozen=True)
class BundleEntry:
    """Where one tensor lives in the data shards."""

    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int


def tensor_shape(buf: bytes) -> list[int]:
    """The sizes of a serialized ``TensorShapeProto`` (its ``dim`` fields, each a ``size``)."""
    return [next((int(v) for g, v in proto_fields(bytes(dim)) if g == 1), 0) for f, dim in proto_fields(buf) if f == 2]


def parse_entry(buf: bytes) -> BundleEntry:
    """Decode a ``BundleEntryProto`` (partitioned tensors, field 7, are rejected)."""
    dtype = shard = offset = size = 0
    shape: list[int] = []
    for field, value in proto_fields(buf):
        if field == 1:
            dtype = int(value)
        elif field == 2:
            shape = tensor_shape(bytes(value))
        elif field == 3:
            shard = int(value)
        elif field == 4:
            offset = int(value)
        elif field == 5:
            size = int(value)
        elif field == 7:
            raise ValueError("partitioned (sliced) tensors are not supported")
    return BundleEntry(dtype, tuple(shape), shard, offset, size)


def _read_block(data: bytes, offset: int, size: int, path: Path) -> bytes:
    """Return the contents of the block at (offset, size), checking its trailer."""
    block = data[offset:offset + size]
    trailer = data[offset + size:offset + size + 5]
    if len(block) != size or len(trailer) != 5:
        raise ValueError(f"{path}: block at offset {offset} runs past the end of the file (truncated?)")
    if trailer[0] != 0:
        raise ValueError(f"{path}: compressed table blocks (type {trailer[0]}) are not supported")
    if struct.unpack("<I", trailer[1:])[0] != masked_crc32c(block + trailer[:1]):
        raise ValueError(f"{path}: checksum mismatch in block at offset {offset} (corrupt file)")
    return block


def block_entries(block: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Yield (key, value) pairs of a table block, undoing prefix compression."""
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 * (num_restarts + 1)
    pos, key = 0, b""
    while pos < end:
        shared, pos = read_varint(block, pos)
        unshared, pos = read_varint(block, pos)
        value_len, pos = read_varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        yield key, block[pos:pos + value_len]
        pos += value_len


def read_table(path: Path) -> dict[bytes, bytes]:
    """All (key, value) pairs of a LevelDB-format table file."""
    data = Path(path).read_bytes()
    if len(data) < FOOTER_SIZE or struct.unpack("<Q", data[-8:])[0] != TABLE_MAGIC:
        raise ValueError(f"{path} is not a TensorFlow checkpoint index (bad table magic)")
    footer = data[-FOOTER_SIZE:]
    _, pos = read_varint(footer, 0)
    _, pos = read_varint(footer, pos)  # metaindex handle (unused)
    index_offset, pos = read_varint(footer, pos)
    index_size, _ = read_varint(footer, pos)
    out: dict[bytes, bytes] = {}
    for _, handle in block_entries(_read_block(data, index_offset, index_size, path)):
        offset, p = read_varint(handle, 0)
        size, _ = read_varint(handle, p)
        out.update(block_entries(_read_block(data, offset, size, path)))
    return out


def checkpoint_prefix(directory: Path) -> Path:
    """The single checkpoint prefix (``.../model.ckpt-N``) found under ``directory``."""
    indexes = sorted(Path(directory).rglob("*.index"))
    if len(indexes) != 1:
        raise FileNotFoundError(
            f"expected exactly one TensorFlow checkpoint (*.index) under {directory}, "
            f"found {[str(p) for p in indexes]}"
        )
    return indexes[0].with_suffix("")


def read_checkpoint(prefix: Path, keep: Callable[[str], bool] | None = None) -> dict[str, np.ndarray]:
    """Read tensors of the checkpoint ``prefix`` (all, or those whose name ``keep`` accepts) as numpy arrays."""
    prefix = Path(prefix)
    table = read_table(prefix.with_name(prefix.name + ".index"))
    header = dict(proto_fields(table.pop(b"", b"")))
    num_shards = int(header.get(1, 1))
    if int(header.get(2, 0)) != 0:
        raise ValueError(f"{prefix}: big-endian checkpoints are not supported")
    out: dict[str, np.ndarray] = {}
    handles: dict[int, BinaryIO] = {}
    try:
        for raw_key, value in table.items():
            name = raw_key.decode()
            if keep is not None and not keep(name):
                continue
            entry = parse_entry(value)
            if entry.dtype not in DTYPES:
                raise ValueError(f"{prefix}: tensor {name!r} has unsupported dtype code {entry.dtype}")
            dtype = DTYPES[entry.dtype]
            count = int(np.prod(entry.shape, dtype=np.int64))
            if count * dtype.itemsize != entry.size:
                raise ValueError(f"{prefix}: tensor {name!r} has {entry.size} bytes for shape {entry.shape}")
            shard = prefix.with_name(f"{prefix.name}.data-{entry.shard_id:05d}-of-{num_shards:05d}")
            if entry.shard_id not in handles:
                handles[entry.shard_id] = open(shard, "rb")
            fh = handles[entry.shard_id]
            fh.seek(entry.offset)
            raw = fh.read(entry.size)
            if len(raw) != entry.size:
                raise ValueError(f"{shard}: tensor {name!r} is truncated (corrupt or partial download)")
            out[name] = np.frombuffer(raw, dtype=dtype).reshape(entry.shape).copy()
    finally:
        for fh in handles.values():
            fh.close()
    return out
