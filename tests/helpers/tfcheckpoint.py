"""Write TensorFlow TensorBundle V2 checkpoints (``.index`` table + ``.data`` shard) without TensorFlow.

Follows tensorflow/core/util/tensor_bundle (BundleHeaderProto under key "", BundleEntryProto per
tensor, sorted keys) and the LevelDB table format of tensorflow/core/lib/io (prefix-compressed
blocks with restart points, 5-byte block trailers with masked CRC32C, 48-byte footer).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from sharpgen.networks.tfbundle import DTYPES, TABLE_MAGIC, masked_crc32c

_CODES = {v: k for k, v in DTYPES.items()}


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_varint(field: int, value: int) -> bytes:
    return varint(field << 3) + varint(value)


def _field_bytes(field: int, value: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(value)) + value


def entry_proto(array: np.ndarray, offset: int) -> bytes:
    """Serialized BundleEntryProto for ``array`` stored at ``offset`` of shard 0."""
    dims = b"".join(_field_bytes(2, _field_varint(1, d)) for d in array.shape)
    crc = struct.pack("<I", masked_crc32c(array.tobytes()))
    return (_field_varint(1, _CODES[array.dtype])
            + _field_bytes(2, dims) + _field_varint(4, offset) + _field_varint(5, array.nbytes)
            + varint(6 << 3 | 5) + crc)


def header_proto() -> bytes:
    """BundleHeaderProto: one shard, little endian, version {producer: 1}."""
    return _field_varint(1, 1) + _field_bytes(3, _field_varint(1, 1))


def block(entries: list[tuple[bytes, bytes]], restart_interval: int = 16) -> bytes:
    """A table block with prefix-compressed keys and restart points every ``restart_interval``."""
    out, restarts, last = bytearray(), [], b""
    for i, (key, value) in enumerate(entries):
        shared = 0
        if i % restart_interval == 0:
            restarts.append(len(out))
        else:
            while shared < min(len(key), len(last)) and key[shared] == last[shared]:
                shared += 1
        out += varint(shared) + varint(len(key) - shared) + varint(len(value)) + key[shared:] + value
        last = key
    restarts = restarts or [0]
    return bytes(out) + b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))


def _append_block(buf: bytearray, contents: bytes) -> bytes:
    """Append ``contents`` + trailer to ``buf``; return the encoded BlockHandle."""
    handle = varint(len(buf)) + varint(len(contents))
    buf += contents + b"\x00" + struct.pack("<I", masked_crc32c(contents + b"\x00"))
    return handle


def write_table(path: Path, items: list[tuple[bytes, bytes]], block_size: int = 256) -> None:
    """Write sorted (key, value) pairs as a LevelDB table, splitting data blocks at ``block_size``."""
    buf, index, current = bytearray(), [], []
    for key, value in items:
        current.append((key, value))
        if sum(len(k) + len(v) for k, v in current) >= block_size:
            index.append((key, _append_block(buf, block(current))))
            current = []
    if current:
        index.append((current[-1][0], _append_block(buf, block(current))))
    meta_handle = _append_block(buf, block([]))
    index_handle = _append_block(buf, block(index, restart_interval=1))
    footer = (meta_handle + index_handle).ljust(40, b"\x00") + struct.pack("<Q", TABLE_MAGIC)
    Path(path).write_bytes(bytes(buf) + footer)


def write_checkpoint(prefix: Path, tensors: dict[str, np.ndarray]) -> None:
    """Write ``tensors`` as checkpoint ``prefix`` (.index + .data-00000-of-00001)."""
    data, items = bytearray(), [(b"", header_proto())]
    for name in sorted(tensors):
        array = np.array(tensors[name], order="C")  # keeps 0-d scalars 0-d
        items.append((name.encode(), entry_proto(array, len(data))))
        data += array.tobytes()
    prefix = Path(prefix)
    prefix.with_name(prefix.name + ".data-00000-of-00001").write_bytes(bytes(data))
    write_table(prefix.with_name(prefix.name + ".index"), items)
