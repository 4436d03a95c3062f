"""Giving memory back between the stages of a conversion.

A conversion holds several copies of a model's weights one after another (the source model, the
emitted file loaded, the ONNX session), and the peak resident memory is what it holds at the worst
moment. Letting go of a model is not enough: Keras layers and their model refer to each other, so
only the cycle collector frees them, and glibc's ``malloc`` keeps freed blocks of the sizes a
network's activations and weights come in (its threshold for returning them rises with each large
free) instead of returning them to the system. :func:`release_memory` does both; the verifier calls
it after each path has run and been let go. Measured on ResNet50 (224 px): after an onnxruntime
session was deleted, 268 MiB more than before it stayed resident, until ``malloc_trim`` gave it back.

>>> release_memory()  # doctest: +SKIP
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from functools import cache


@cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None elsewhere (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):
        return None


#: weights below this many bytes are not worth a release: a full collection costs 0.2-0.5 s in a process
#: holding the frameworks (more in a long-lived one, such as a test run), far more than a small model's memory
WORTH_RELEASING = 32 * 1024**2


def weight_bytes(model) -> int:
    """The bytes of an IR model's weights (what a release can give back, per copy)."""
    return sum(getattr(w, "nbytes", 0) for w in model.weights.values())


def release_memory(collect: bool = True, size: int | None = None) -> None:
    """Collect unreachable cycles (unless ``collect`` is False: a torch module or an onnxruntime session is
    freed without one), then return the freed heap memory to the system where glibc allows. ``size``: the
    bytes of the weights just let go; under :data:`WORTH_RELEASING` nothing is done."""
    if size is not None and size < WORTH_RELEASING:
        return
    if collect:
        gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def onnx_session(model, providers=("CPUExecutionProvider",)):
    """An onnxruntime session on ``model`` (a path, or the bytes of a file) that runs the file's own nodes.

    Graph optimisations are off: onnxruntime's fused nodes carry their own copies of the weights (on
    ResNet50, 267 MiB resident with them, 99 MiB without, for the same CPU time over session and
    two runs), and the file is checked as it was written rather than as onnxruntime rewrote it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model, options, providers=list(providers))
