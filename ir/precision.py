"""Floating-point precision of a model: ``float32``, ``float16`` or ``bfloat16``.

A model's precision (``model.dtype``) is the dtype its floating tensors and
weights have once compiled: ``to_torch``, ``to_keras`` and ``to_onnx`` build
the model in it unless asked for another one. Inside the IR nothing changes
with it:

* tensor specs keep ``"float32"`` as the one floating dtype: it means
  "floating point, in the model's precision", so every layer's dtype rule
  and shape rule stays as it is;
* weights are held as ``float32`` numpy arrays. Every float16 and bfloat16
  value is exactly a float32 value, so an imported half model's weights are
  held without loss, and rounding them back (:func:`round_to`) gives the
  original bits. This keeps ``ir/`` free of any framework and of
  ``ml_dtypes``: numpy has ``float16`` but no ``bfloat16``, and bfloat16 is
  rounded here with integer arithmetic on the float32 bits (the upper 16
  bits of a float32, rounded to nearest even).

The cost is memory: a half model's weights take twice their half-precision
bytes while held by the IR (docs/limits.md).

>>> import numpy as np
>>> round_to(np.array([1.0009765625, 1.005], np.float32), "bfloat16").tolist()
[1.0, 1.0078125]
>>> round_to(np.array([1.0009765625], np.float32), "float16").tolist()
[1.0009765625]
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError, show

#: the precisions a model can have, widest first
PRECISIONS = ("float32", "float16", "bfloat16")
#: the half precisions (whose weights are rounded when compiled)
HALF = ("float16", "bfloat16")


def check_precision(dtype, what: str = "dtype") -> str:
    """``dtype`` as one of :data:`PRECISIONS` (a string or a numpy dtype), else a ConfigError."""
    name = getattr(dtype, "name", dtype) if not isinstance(dtype, str) else dtype
    if name not in PRECISIONS:
        raise ConfigError(f"{what} must be one of {', '.join(PRECISIONS)}, got {show(dtype)}")
    return name


def round_to(array: np.ndarray, dtype: str) -> np.ndarray:
    """``array`` (float32) rounded to the nearest value of ``dtype``, still held as float32.

    Non-floating arrays come back as they are. Rounding is to nearest, ties to even, as every framework
    casts; NaN stays NaN and infinities stay infinite.
    """
    dtype = check_precision(dtype)
    if dtype == "float32" or array.dtype.kind != "f":
        return array
    array = np.asarray(array, np.float32)
    if dtype == "float16":
        with np.errstate(over="ignore"):  # values past float16's range become inf, as in a framework's cast
            return array.astype(np.float16).astype(np.float32)
    bits = np.ascontiguousarray(array).view(np.uint32)
    # add 0x7FFF plus the lowest kept bit, then drop the low 16 bits: round to nearest, ties to even
    rounded = (bits + (np.uint32(0x7FFF) + ((bits >> 16) & 1))) & np.uint32(0xFFFF0000)
    rounded = np.where(np.isnan(array), bits | np.uint32(0x00400000), rounded)  # NaN stays a (quiet) NaN
    return rounded.astype(np.uint32).view(np.float32)


#: the safetensors code of each precision's float tensors (a bfloat16 tensor is stored as its uint16 bits)
CODES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}


def to_storage(array: np.ndarray, dtype: str) -> np.ndarray:
    """A float32 array as a file of precision ``dtype`` stores it: float16, or for bfloat16 the upper 16 bits
    of each rounded value as uint16 (``safetensors_io`` writes uint16 as ``BF16``); others unchanged."""
    if dtype == "float32" or array.dtype != np.float32:
        return array
    rounded = np.ascontiguousarray(round_to(array, dtype))
    if dtype == "float16":
        with np.errstate(over="ignore"):
            return rounded.astype(np.float16)
    return (rounded.view(np.uint32) >> 16).astype(np.uint16)


def from_storage(array: np.ndarray) -> np.ndarray:
    """The inverse of :func:`to_storage`: float16 or bfloat16 bits (uint16) as float32, exactly."""
    if array.dtype == np.float16:
        return array.astype(np.float32)
    if array.dtype == np.uint16:
        return (array.astype(np.uint32) << 16).view(np.float32)
    return array


def stored_as_float32(weights: dict) -> dict:
    """Weights read from a file as the IR holds them: a half model's float16/bfloat16 ones as float32."""
    return {key: from_storage(value) for key, value in weights.items()}


def widen(array) -> np.ndarray:
    """A float16 or bfloat16 array (numpy's float16, or ml_dtypes' bfloat16 as Keras and ONNX hand it out)
    as float32; other arrays unchanged. The conversion is exact."""
    array = np.asarray(array)
    if array.dtype == np.float16 or array.dtype.name == "bfloat16":
        return array.astype(np.float32)
    return array


def precision_of(array) -> str | None:
    """``"float16"``/``"bfloat16"`` for a half array, ``"float32"`` for other floats, None otherwise."""
    kind = np.asarray(array).dtype
    if kind == np.float16:
        return "float16"
    if kind.name == "bfloat16":
        return "bfloat16"
    return "float32" if kind.kind == "f" else None
