"""keras lowerings of the tensors the graph makes itself: Learned (as LearnedConstant, the same weight repeated
over the batch) and Positions."""

from __future__ import annotations

from ...ir.ops import Learned, Positions
from .constant import lower_learned_constant


def lower_positions(ctx, node, inputs):
    # keras.ops.arange needs a known length: count instead. Zeros shaped like the reference (its values are
    # never read), summed over its other axes, give (N, n) zeros; the running sum of ones is 1..n.
    x = ctx.plain(inputs[0])
    op = node.layer
    others = tuple(i for i, a in enumerate(x.phys) if a not in ("N", op.axis))
    zeros = f"keras.ops.zeros_like({x.var}, dtype='int32')"
    if others:
        zeros = f"keras.ops.sum({zeros}, axis={others!r})"
    order = "N" + op.axis if x.pos("N") < x.pos(op.axis) else op.axis + "N"
    count = ctx.let(
        f"{node.name}_count",
        f"keras.ops.cumsum(keras.ops.add({zeros}, 1), axis={order.index(op.axis)})",
        node.spec,
        "N" + op.letter,
    )
    return ctx.let(
        node.name, f"keras.ops.cast(keras.ops.subtract({count.var}, 1), {op.dtype!r})", node.spec, "N" + op.letter
    )


def lower_learned(ctx, node, inputs):
    return lower_learned_constant(ctx, node, inputs, op=True)


TABLE = {Learned: lower_learned, Positions: lower_positions}

#: weights back (backends/lowering/weights_back.py): a Learned tensor is lowered as a LearnedConstant, copied back alike
BACK = {Learned: None}
