"""A small, strict reader and writer of the safetensors format.

Written here (rather than calling the safetensors package) so that a file is
checked completely *before* any tensor memory is allocated: header size,
dtypes, shapes, offsets that tile the data exactly, and the caller's limits.
Files written here are byte-for-byte deterministic and readable by the
safetensors package (and vice versa).

Format: 8-byte little-endian header length, a JSON header
``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}``
padded with spaces to a multiple of 8, then the raw little-endian data.
"""
from __future__ import annotations

import json
import math
import struct
from typing import BinaryIO

import numpy as np

from .errors import ResourceLimitError, SchemaError

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}
CODES = {np.dtype(v): k for k, v in DTYPES.items()}

MAX_HEADER = 100 * 1024 * 1024


def dumps(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    """Serialise arrays (in the given order) and string metadata."""
    header: dict = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset, chunks = 0, []
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        code = CODES.get(array.dtype)
        if code is None:
            raise SchemaError(f"cannot store dtype {array.dtype} of {name!r} in safetensors")
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    head = json.dumps(header, separators=(",", ":"), sort_keys=False).encode()
    head += b" " * (-len(head) % 8)
    return struct.pack("<Q", len(head)) + head + b"".join(chunks)


def read_header(f: BinaryIO, file_size: int, where: str) -> tuple[dict, dict, int]:
    """Parse and check the header; returns (tensor entries, metadata, data start)."""
    raw = f.read(8)
    if len(raw) != 8:
        raise SchemaError(f"{where}: not a safetensors file (shorter than 8 bytes)")
    (n,) = struct.unpack("<Q", raw)
    if n > MAX_HEADER or n > file_size - 8:
        raise SchemaError(f"{where}: safetensors header length {n} is larger than the file allows")
    try:
        header = json.loads(f.read(n).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SchemaError(f"{where}: safetensors header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise SchemaError(f"{where}: safetensors header must be a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise SchemaError(f"{where}: safetensors __metadata__ must map strings to strings")
    data_size = file_size - 8 - n
    spans = []
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise SchemaError(f"{where}: tensor {name!r} has a malformed header entry")
        dtype, shape, offs = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPES:
            raise SchemaError(f"{where}: tensor {name!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
            raise SchemaError(f"{where}: tensor {name!r} has a malformed shape {shape!r}")
        if (not isinstance(offs, list) or len(offs) != 2 or
                not all(isinstance(o, int) and not isinstance(o, bool) for o in offs) or not 0 <= offs[0] <= offs[1]):
            raise SchemaError(f"{where}: tensor {name!r} has malformed data_offsets {offs!r}")
        nbytes = math.prod(shape) * np.dtype(DTYPES[dtype]).itemsize
        if offs[1] - offs[0] != nbytes:
            raise SchemaError(f"{where}: tensor {name!r} declares shape {shape} ({nbytes} bytes) but spans "
                              f"{offs[1] - offs[0]} bytes")
        if offs[1] > data_size:
            raise SchemaError(f"{where}: tensor {name!r} runs past the end of the file (truncated?)")
        spans.append(tuple(offs))
    spans.sort()
    pos = 0
    for begin, end in spans:
        if begin != pos:
            raise SchemaError(f"{where}: tensor data overlaps or leaves gaps")
        pos = end
    if pos != data_size:
        raise SchemaError(f"{where}: {data_size - pos} stray bytes after the tensor data")
    return header, metadata, 8 + n


def read_tensors(f: BinaryIO, header: dict, start: int, max_bytes: int, where: str) -> dict[str, np.ndarray]:
    total = sum(e["data_offsets"][1] - e["data_offsets"][0] for e in header.values())
    if total > max_bytes:
        raise ResourceLimitError(f"{where}: weights need {total:,} bytes, more than the limit of {max_bytes:,}")
    out = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        f.seek(start + begin)
        data = f.read(end - begin)
        if len(data) != end - begin:
            raise SchemaError(f"{where}: tensor {name!r} is truncated")
        dtype = np.dtype(DTYPES[entry["dtype"]]).newbyteorder("<")
        out[name] = np.frombuffer(data, dtype=dtype).reshape(entry["shape"]).astype(dtype.newbyteorder("="))
    return out
