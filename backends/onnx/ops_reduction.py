"""ONNX lowerings of the reductions (Reduce* with the axes as an input, opset 18) and softmax."""

from __future__ import annotations

import math

from ...ir.ops import Reduce, Softmax
from .compile import Op

_REDUCE = {"mean": "ReduceMean", "sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin"}


def lower_reduce(ctx, node, inputs):
    op = node.layer
    x = ctx.plain(inputs[0])
    axes = ctx.ints(f"{node.name}_axes", sorted(x.pos(a) for a in op.axes))
    phys = x.phys if op.keepdims else "".join(a for a in x.phys if a not in op.axes)
    keep = int(op.keepdims)
    if op.fn != "var":
        return ctx.let(node.name, Op(_REDUCE[op.fn], (x.var, axes), {"keepdims": keep}), node.spec, phys)
    # var: the mean of the squared deviations from the mean (what Keras computes), scaled for a correction
    base = node.name
    mean = ctx.op("ReduceMean", x.var, axes, base=f"{base}_mean", keepdims=1)
    dev = ctx.op("Sub", x.var, mean, base=f"{base}_dev")
    square = ctx.op("Mul", dev, dev, base=f"{base}_square")
    if not op.correction:
        return ctx.let(base, Op("ReduceMean", (square, axes), {"keepdims": keep}), node.spec, phys)
    var = ctx.op("ReduceMean", square, axes, base=f"{base}_population", keepdims=keep)
    count = math.prod(x.spec.dim(a) for a in op.axes)
    factor = ctx.scalar(f"{base}_factor", count / (count - op.correction))
    return ctx.let(base, Op("Mul", (var, factor)), node.spec, phys)


def lower_softmax(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    kind = "LogSoftmax" if node.layer.log else "Softmax"
    return ctx.let(node.name, Op(kind, (x.var,), {"axis": x.pos(node.layer.axis)}), node.spec, x.phys)


TABLE = {Reduce: lower_reduce, Softmax: lower_softmax}
