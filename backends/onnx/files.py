"""An ONNX file written straight from the IR: the weights inside it, or, for a large model, in an external data file.

A protobuf message cannot exceed 2 GiB, so past :data:`EXTERNAL_DATA_THRESHOLD` bytes of weights the
initializers are stored as ONNX *external data*: one file ``<stem>.<sha256[:16]>.onnx.data`` beside the
``.onnx`` file, each tensor at an offset aligned to 4096 bytes (so onnxruntime can map it), the graph
naming the file, offset and length of each. The data file is written tensor by tensor straight from the
IR's arrays (memory-mapped views of a weights file stay unread until written), while it is hashed,
under a temporary name renamed to its content-addressed one when complete; the weights are never
gathered into a protobuf message. Tensors under 1 KiB stay inside the graph.

Only ``onnx`` is imported.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

import numpy as np

from ...ir.errors import ConfigError, show
from ...ir.graph import Model
from ...ir.pages import release_pages

#: weights (bytes, all initializers together) above which they go to an external data file
EXTERNAL_DATA_THRESHOLD = 1 << 30
#: initializers smaller than this stay inside the graph even when the others are external
SMALL = 1024
ALIGN = 4096


def write(
    model: Model, path: Path, *, stem: str | None = None, external_data_threshold: int | None = None, expose=False
) -> list:
    """Write ``model`` as ONNX to ``path``; returns the names of the external data files written beside it
    (none, or one named after ``stem``, default ``path``'s stem: the name the ``.onnx`` file will have).
    ``expose``: every layer's output is an output of the file (for localising a mismatch).

    ``path`` itself is written in place (the caller writes to a temporary name and renames it); the data
    file is complete under its final name before ``path`` is written."""
    import onnx
    from onnx import numpy_helper

    from . import TABLE, to_onnx
    from .compile import OnnxLowering, build

    threshold = checked_threshold(external_data_threshold)
    path = Path(path)
    if model.dtype != "float32":  # a half model's file is cast as a whole (to_onnx), its weights kept inside
        onnx.save(to_onnx(model, expose=expose), str(path))
        return []
    lowering = OnnxLowering(model, TABLE)
    program = lowering.lower(expose=expose)
    proto = build(lowering, program, model, expose=expose, weights=False)
    arrays = lowering.initializers
    external = {k for k, a in arrays.items() if a.nbytes >= SMALL} if _total(arrays) > threshold else set()
    written, name, places = [], "", {}
    try:
        if external:
            name, places = _write_data(path.parent, stem or path.stem, {k: arrays[k] for k in arrays if k in external})
            written.append(name)
        for key in list(arrays):
            array = arrays.pop(key)
            if key in external:
                proto.graph.initializer.append(_external_tensor(key, array, name, *places[key]))
            else:
                proto.graph.initializer.append(numpy_helper.from_array(array, key))
            del array
        onnx.save(proto, str(path))
    except BaseException:
        for f in written:
            (path.parent / f).unlink(missing_ok=True)
        raise
    return written


def checked_threshold(value) -> int:
    """``external_data_threshold`` checked: a number of bytes >= 0, or None for :data:`EXTERNAL_DATA_THRESHOLD`."""
    threshold = EXTERNAL_DATA_THRESHOLD if value is None else value
    if isinstance(threshold, bool) or not isinstance(threshold, (int, np.integer)) or threshold < 0:
        raise ConfigError(f"external_data_threshold must be a number of bytes >= 0, got {show(threshold)}")
    return int(threshold)


def _total(arrays: dict) -> int:
    return sum(a.nbytes for a in arrays.values())


def _external_tensor(key: str, array: np.ndarray, location: str, offset: int, length: int):
    from onnx import TensorProto, helper

    tensor = TensorProto()
    tensor.name = key
    tensor.data_type = helper.np_dtype_to_tensor_dtype(array.dtype)
    tensor.dims.extend(array.shape)
    tensor.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = k, v
    return tensor


def _write_data(folder: Path, stem: str, arrays: dict) -> tuple[str, dict]:
    """The tensors' raw little-endian bytes in one file, each at an aligned offset, written while hashed
    and renamed to ``<stem>.<sha256[:16]>.onnx.data``; returns (name, {tensor: (offset, length)})."""
    tmp = folder / f".{stem}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    places, digest, offset = {}, hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as f:
            for key, array in arrays.items():
                pad = b"\0" * (-offset % ALIGN)
                f.write(pad)
                digest.update(pad)
                offset += len(pad)
                data = np.ascontiguousarray(array)  # a copy only of a transposed view, one tensor at a time
                data = data.astype(data.dtype.newbyteorder("<"), copy=False).reshape(-1).view(np.uint8).data
                f.write(data)
                digest.update(data)
                places[key] = (offset, data.nbytes)
                offset += data.nbytes
                del data
                release_pages([array])  # written: a memory-mapped weight's pages need not stay resident
            f.flush()
            os.fsync(f.fileno())
        name = f"{stem}.{digest.hexdigest()[:16]}.onnx.data"
        os.replace(tmp, folder / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return name, places


def data_files_of(path: Path) -> list[str]:
    """The data files twinnet has written beside ``path`` (``<stem>.<16 hex digits>.onnx.data``): read from
    the folder, not from the ``.onnx`` file, which may be too large to parse only for this."""
    pattern = re.compile(rf"^{re.escape(path.stem)}\.[0-9a-f]{{16}}\.onnx\.data\Z")
    return sorted(p.name for p in path.parent.glob(f"{path.stem}.*.onnx.data") if pattern.match(p.name))


def external_files(path: Path) -> list[str]:
    """The external data files an existing ONNX file names (none when there is none or it cannot be read)."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:
        return []
    names = set()
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location" and "/" not in entry.value and not entry.value.startswith("."):
                names.add(entry.value)
    return sorted(names)
