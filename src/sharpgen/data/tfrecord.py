"""TFRecord files of ``tf.train.Example`` records, read without TensorFlow.

Framing (tensorflow/core/lib/io/record_writer.cc): each record is ``uint64 length``, ``uint32
masked_crc32c(length bytes)``, ``length`` bytes of data, ``uint32 masked_crc32c(data)``, all
little endian. Both checksums are verified (the data checksums of equally long records at once,
with numpy); read only the records you need with ``limit``.

A record is a serialized ``tf.train.Example`` (tensorflow/core/example/example.proto):
``Example{features = 1: Features{feature = 1: map<string, Feature>}}``, a ``Feature`` being
one of ``bytes_list = 1``, ``float_list = 2``, ``int64_list = 3``, each ``{value = 1}``
(packed or not). A bytes feature may hold a serialized ``TensorProto``
(``tf.io.serialize_tensor``; tensorflow/core/framework/tensor.proto), decoded by
:func:`parse_tensor`. The protobuf wire format is decoded by the small reader the TensorFlow
checkpoint reader uses (:mod:`sharpgen.networks.tfbundle`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from sharpgen.networks.tfbundle import CRC32C_TABLE, DTYPES, masked_crc32c, proto_fields, read_varint, tensor_shape

Feature = list[bytes] | np.ndarray


def crc32c_rows(rows: np.ndarray) -> np.ndarray:
    """Masked CRC-32C of every row of a ``(k, length)`` uint8 array at once: the byte-wise table
    recurrence, vectorised over rows (a Python loop over bytes runs at ~1 MB/s, too slow for
    data sets)."""
    crc = np.full(rows.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    for column in np.ascontiguousarray(rows.T):
        crc = _TABLE[(crc ^ column) & 0xFF] ^ (crc >> 8)
    crc ^= np.uint32(0xFFFFFFFF)
    return ((crc >> 15) | (crc << 17)) + np.uint32(0xA282EAD8)


_TABLE = np.array(CRC32C_TABLE, dtype=np.uint32)


def _frames(path: str | Path, limit: int | None) -> list[tuple[bytes, int]]:
    """(data, stored data checksum) of the first ``limit`` records, length checksums verified."""
    out = []
    with open(path, "rb") as f:
        while limit is None or len(out) < limit:
            index = len(out)
            header = f.read(12)
            if not header:
                break
            if len(header) < 12:
                raise ValueError(f"{path}: record {index} is truncated (header); the file is damaged, download it again")
            length, length_crc = struct.unpack("<QI", header)
            if masked_crc32c(header[:8]) != length_crc:
                raise ValueError(f"{path}: record {index} has a bad length checksum; the file is damaged or not a TFRecord file")
            data, footer = f.read(length), f.read(4)
            if len(data) < length or len(footer) < 4:
                raise ValueError(f"{path}: record {index} is truncated; the file is damaged, download it again")
            out.append((data, struct.unpack("<I", footer)[0]))
    return out


def records(path: str | Path, limit: int | None = None) -> Iterator[bytes]:
    """The data of each record of the TFRecord file at ``path`` (the first ``limit`` if given),
    checksums verified; a clear error names the file and the record otherwise."""
    frames = _frames(path, limit)
    by_length: dict[int, list[int]] = {}
    for index, (data, _) in enumerate(frames):
        by_length.setdefault(len(data), []).append(index)
    for indices in by_length.values():
        rows = np.frombuffer(b"".join(frames[i][0] for i in indices), dtype=np.uint8).reshape(len(indices), -1)
        computed = crc32c_rows(rows)
        for i, crc in zip(indices, computed, strict=True):
            if int(crc) != frames[i][1]:
                raise ValueError(f"{path}: record {i} has a bad data checksum; the file is damaged, download it again")
    for data, _ in frames:
        yield data


def _packed(value: int | bytes, wire_bytes: bool, fmt: str) -> list:
    """Values of a repeated scalar field: one unpacked value, or a packed run."""
    if not wire_bytes:
        return [value]
    if fmt == "varint":
        out, pos = [], 0
        while pos < len(value):
            v, pos = read_varint(value, pos)
            out.append(v)
        return out
    return list(struct.unpack(f"<{len(value) // 4}{fmt}", value))


def _feature(buf: bytes) -> Feature:
    """A ``Feature``: a list of bytes, or a float32 / int64 array."""
    for kind, inner in proto_fields(buf):
        values: list = []
        for field, value in proto_fields(bytes(inner)):
            if field != 1:
                continue
            if kind == 1:
                values.append(bytes(value))
            elif kind == 2:
                values += _packed(value if isinstance(value, bytes) else struct.pack("<I", value), True, "f")
            elif kind == 3:
                values += _packed(value, isinstance(value, bytes), "varint")
        if kind == 1:
            return values
        if kind == 2:
            return np.asarray(values, dtype=np.float32)
        if kind == 3:  # int64 values travel as two's-complement varints
            return np.asarray([v - (1 << 64) if v >= 1 << 63 else v for v in values], dtype=np.int64)
    return []


def parse_example(buf: bytes) -> dict[str, Feature]:
    """The features of a serialized ``tf.train.Example``, by name."""
    out: dict[str, Feature] = {}
    for field, features in proto_fields(buf):
        if field != 1:
            continue
        for entry_field, entry in proto_fields(bytes(features)):
            if entry_field != 1:
                continue
            key, value = "", b""
            for f, v in proto_fields(bytes(entry)):
                if f == 1:
                    key = bytes(v).decode("utf-8")
                elif f == 2:
                    value = bytes(v)
            out[key] = _feature(value)
    return out


def parse_tensor(buf: bytes) -> np.ndarray:
    """A serialized ``TensorProto`` with its bytes in ``tensor_content`` (what
    ``tf.io.serialize_tensor`` writes for numeric tensors) as a numpy array."""
    dtype, shape, content = 0, [], None
    for field, value in proto_fields(buf):
        if field == 1:
            dtype = int(value)
        elif field == 2:
            shape = tensor_shape(bytes(value))
        elif field == 4:
            content = bytes(value)
    if dtype not in DTYPES:
        raise ValueError(f"TensorProto of dtype {dtype} is not supported (supported: {sorted(DTYPES)})")
    if content is None:
        raise ValueError("TensorProto without tensor_content (typed value fields) is not supported")
    array = np.frombuffer(content, dtype=DTYPES[dtype])
    if array.size != int(np.prod(shape)):
        raise ValueError(f"TensorProto holds {array.size} values for shape {shape}")
    return array.reshape(shape)
