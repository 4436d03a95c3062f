"""A small, strict reader and writer of the safetensors format.

Written here (rather than calling the safetensors package) so that a file is
checked completely *before* any tensor memory is allocated: header size,
dtypes, shapes, offsets that tile the data exactly, and the caller's limits.
Files written here are byte-for-byte deterministic and readable by the
safetensors package (and vice versa).

Format: 8-byte little-endian header length, a JSON header
``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}``
padded with spaces to a multiple of 8, then the raw little-endian data.

Files are written tensor by tensor (:func:`write`) and read as read-only views of
a memory map of the file (:func:`read_tensors`), so a model's weights are not
copied to be saved or loaded.

Also here: :func:`atomic_write`, which both of twinnet's file forms save with.
"""

from __future__ import annotations

import io
import json
import math
import mmap
import os
import secrets
import stat
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .errors import ResourceLimitError, SchemaError, show
from .pages import release_pages

DTYPES = {
    "F32": np.float32,
    "F64": np.float64,
    "F16": np.float16,
    # numpy has no bfloat16: a BF16 tensor is held as its raw bits, uint16 (ir/precision.py); twinnet has no
    # uint16 tensors otherwise
    "BF16": np.uint16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
CODES = {np.dtype(v): k for k, v in DTYPES.items()}

MAX_HEADER = 100 * 1024 * 1024
#: bounds on what a header may declare, so that size arithmetic stays on small ints
MAX_RANK = 16
MAX_SIZE = 2**62


def dumps(tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> bytes:
    """Serialise arrays (in the given order) and string metadata."""
    out = io.BytesIO()
    write_to(out, tensors, metadata)
    return out.getvalue()


def write(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Write a safetensors file atomically (see :func:`atomic_write`), tensor by tensor, with no copy
    of the whole file in memory: what :func:`dumps` returns, written straight to ``path``."""
    atomic_write(path, lambda f: write_to(f, tensors, metadata))


def write_to(f: BinaryIO, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Write the header, then each array's bytes straight from its own memory (a copy only where an
    array is not contiguous or not little-endian); the pages of a memory-mapped array are let go once
    it is written (:func:`twinnet.ir.pages.release_pages`)."""
    header: dict = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, array in tensors.items():
        code = CODES.get(np.dtype(array.dtype))
        if code is None:
            raise SchemaError(f"cannot store dtype {array.dtype} of {name!r} in safetensors")
        header[name] = {"dtype": code, "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    head = json.dumps(header, separators=(",", ":"), sort_keys=False).encode()
    head += b" " * (-len(head) % 8)
    f.write(struct.pack("<Q", len(head)) + head)
    for given in tensors.values():
        array = np.ascontiguousarray(given)
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        f.write(array.reshape(-1).view(np.uint8).data)
        del array
        release_pages([given])  # a memory-mapped tensor, once written, need not stay resident (ir/pages.py)


def read_header(f: BinaryIO, file_size: int, where: str) -> tuple[dict, dict, int]:
    """Parse and check the header; returns (tensor entries, metadata, data start)."""
    raw = f.read(8)
    if len(raw) != 8:
        raise SchemaError(f"{where}: not a safetensors file (shorter than 8 bytes)")
    (n,) = struct.unpack("<Q", raw)
    if n > MAX_HEADER:  # checked before reading it: the length field alone must not make us allocate
        raise ResourceLimitError(f"{where}: safetensors header length {n:,} is over the limit of {MAX_HEADER:,}")
    if n > file_size - 8:
        raise SchemaError(f"{where}: safetensors header length {n:,} is larger than the file allows (truncated?)")
    try:
        header = json.loads(f.read(n).decode("utf-8"))
    except (ValueError, RecursionError) as e:  # bad UTF-8 or JSON, ints over 4300 digits, deep nesting
        raise SchemaError(f"{where}: safetensors header is not valid JSON ({str(e)[:200]})") from None
    if not isinstance(header, dict):
        raise SchemaError(f"{where}: safetensors header must be a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise SchemaError(f"{where}: safetensors __metadata__ must map strings to strings")
    data_size = file_size - 8 - n
    spans = []
    for name, entry in header.items():
        name_ = _short(name)
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise SchemaError(f"{where}: tensor {name_} has a malformed header entry")
        dtype, shape, offs = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in DTYPES:  # a list here would be unhashable
            raise SchemaError(f"{where}: tensor {name_} has unknown dtype {_short(dtype)}")
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_RANK
            or not all(_is_int(s) and 0 <= s <= MAX_SIZE for s in shape)
        ):
            raise SchemaError(f"{where}: tensor {name_} has a malformed shape {_short(shape)}")
        if (
            not isinstance(offs, list)
            or len(offs) != 2
            or not all(_is_int(o) for o in offs)
            or not 0 <= offs[0] <= offs[1] <= MAX_SIZE
        ):
            raise SchemaError(f"{where}: tensor {name_} has malformed data_offsets {_short(offs)}")
        nbytes = math.prod(shape) * np.dtype(DTYPES[dtype]).itemsize
        if offs[1] - offs[0] != nbytes:
            raise SchemaError(
                f"{where}: tensor {name_} declares shape {shape} ({nbytes} bytes) but spans {offs[1] - offs[0]} bytes"
            )
        if offs[1] > data_size:
            raise SchemaError(f"{where}: tensor {name_} runs past the end of the file (truncated?)")
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


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value) -> str:
    return show(value)  # never fails, even on an int Python refuses to print


def read_tensors(f: BinaryIO, header: dict, start: int, max_bytes: int, where: str) -> dict[str, np.ndarray]:
    """The tensors of a checked header. From a file on disk (POSIX), read-only views of one memory map of it,
    so nothing is read until used and nothing is copied; from any other stream, arrays read from it."""
    total = sum(e["data_offsets"][1] - e["data_offsets"][0] for e in header.values())
    if total > max_bytes:
        raise ResourceLimitError(f"{where}: weights need {total:,} bytes, more than the limit of {max_bytes:,}")
    mapped = _map(f)
    if mapped is not None:
        if len(mapped) < start + total:  # the file changed since its header was checked
            raise SchemaError(f"{where}: tensor data is truncated")
        return {name: _view(mapped, start, entry) for name, entry in header.items()}
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


def _map(f: BinaryIO):
    """A read-only memory map of the whole file behind ``f``, or None (not a plain file, not POSIX, empty).

    POSIX only: there a map outlives its file's replacement by a rename (what :func:`atomic_write` does),
    while Windows would refuse to replace a mapped file."""
    if os.name != "posix":
        return None
    try:
        fileno = f.fileno()
        if not stat.S_ISREG(os.fstat(fileno).st_mode) or os.fstat(fileno).st_size == 0:
            return None
        return mmap.mmap(fileno, 0, access=mmap.ACCESS_READ)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def _view(mapped, start: int, entry: dict) -> np.ndarray:
    begin, end = entry["data_offsets"]
    dtype = np.dtype(DTYPES[entry["dtype"]]).newbyteorder("<")
    array = np.frombuffer(mapped, dtype=dtype, count=(end - begin) // dtype.itemsize, offset=start + begin)
    array = array.reshape(entry["shape"])
    if dtype != dtype.newbyteorder("=") or not array.flags.aligned:  # a big-endian machine, a packed offset
        array = array.astype(dtype.newbyteorder("="))
        array.flags.writeable = False
    return array


def atomic_write(path: Path, data) -> None:
    """Replace ``path`` by ``data`` so that a reader, or a crash, sees the old file or the new one, never a mix.

    ``data``: the bytes, or a function writing them to the open file (so a large file need not be
    held in memory whole).

    The data goes to ``.<name>.<random>.tmp`` in the same folder (the same
    filesystem, so the rename is atomic), is synced to disk, and is renamed
    over ``path``; then the folder is synced so the rename itself is durable.
    """
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:  # mode 0o666 & ~umask like any new file (mkstemp would make it private)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod") and path.is_file():  # a re-save keeps the file's permissions
                os.fchmod(f.fileno(), stat.S_IMODE(path.stat().st_mode))
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if os.name == "posix":
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        except OSError:  # some filesystems cannot sync a folder; the rename is still atomic
            pass
        finally:
            os.close(dfd)
