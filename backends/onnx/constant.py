"""ONNX lowering of LearnedConstant: an initializer of shape ``(1, *shape)`` expanded over the batch.

Expand broadcasts numpy-style, so the target shape is ``(N, 1, ..., 1)`` with
``N`` read from the reference input at run time (it is symbolic in the file);
the value is held as ONNX holds the output (channels first for an image),
transposed once at compile time.
"""

from __future__ import annotations

from ...ir.layers import LearnedConstant
from .compile import Op


def lower_learned_constant(ctx, node, inputs):
    (x,) = inputs
    base = node.name
    phys, value = ctx.held_weight(node, "value")
    table = ctx.const(f"{base}_value", value.reshape(1, *value.shape))
    n = x.pos("N")
    # Shape's start/end (opset 15) read just the batch size: any dtype, any layout of the reference.
    batch = ctx.op("Shape", x.var, base=f"{base}_batch", start=n, end=n + 1)
    shape = ctx.op("Concat", batch, ctx.ints(f"{base}_ones", [1] * value.ndim), base=f"{base}_shape", axis=0)
    return ctx.let(base, Op("Expand", (table, shape)), node.spec, phys)


TABLE = {LearnedConstant: lower_learned_constant}

#: weights back (backends/lowering/weights_back.py): every initializer element is a copy of an IR weight
BACK = {LearnedConstant: None}
