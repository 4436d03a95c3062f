"""The ONNX backend: an IR model straight to an ONNX graph, no framework in between.

``to_onnx(model)`` returns an ``onnx.ModelProto``; ``twinnet.export_onnx(model, path, via="ir")`` writes it.
"""

from __future__ import annotations

from ...ir.graph import Model
from ...ir.precision import check_precision
from ..lowering.driver import ir_model
from ..tables import join_tables
from . import (
    activations,
    attention,
    constant,
    conv,
    conv_variants,
    core,
    merge,
    norm,
    ops_elementwise,
    ops_linalg,
    ops_movement,
    ops_norm,
    ops_reduction,
    ops_shape,
    ops_tensors,
    pooling,
    preprocessing,
    recurrent,
    slicing,
    spatial,
)
from .compile import OPSET, OnnxLowering, build
from .precision import cast_model

#: IR layer class -> lowering function; one entry per layer kind.
TABLE = join_tables(
    activations.TABLE,
    core.TABLE,
    conv.TABLE,
    conv_variants.TABLE,
    pooling.TABLE,
    norm.TABLE,
    merge.TABLE,
    recurrent.TABLE,
    spatial.TABLE,
    preprocessing.TABLE,
    attention.TABLE,
    slicing.TABLE,
    constant.TABLE,
    ops_elementwise.TABLE,
    ops_reduction.TABLE,
    ops_linalg.TABLE,
    ops_shape.TABLE,
    ops_movement.TABLE,
    ops_tensors.TABLE,
    ops_norm.TABLE,
)

__all__ = ["OPSET", "TABLE", "to_onnx"]


def to_onnx(model: Model, *, native_io: bool = False, expose: bool = False, dtype=None):
    """Lower an IR model to an ``onnx.ModelProto`` (opset :data:`OPSET`) with the model's weights.

    Args:
        model: an initialised ``twinnet.Model``.
        native_io: take inputs / return outputs channels-first (as ONNX's
            operators hold them) instead of in the declared layout.
        expose: return every layer's output (for localising a mismatch).
        dtype: the precision of the file's float tensors, ``"float32"``, ``"float16"`` or ``"bfloat16"``
            (default: the model's, ``model.dtype``; :mod:`twinnet.backends.onnx.precision`).

    >>> from twinnet import ir
    >>> m = ir.Sequential([ir.layers.Dense(2)], input=ir.Input((3,))).initialize(0)
    >>> [o.name for o in to_onnx(m).graph.output]
    ['dense']
    """
    dtype = check_precision(dtype or ir_model(model, "onnx").dtype)
    lowering = OnnxLowering(model, TABLE, native_io=native_io)
    program = lowering.lower(expose=expose)
    return cast_model(build(lowering, program, model, expose=expose), dtype)
