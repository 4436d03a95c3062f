"""Keras lowerings of the reductions and softmax: ``keras.ops`` over the held positions of the named axes."""

from __future__ import annotations

import math

from ...ir.ops import Reduce, Softmax
from ..lowering.ops import number

_REDUCE = {"mean": "mean", "sum": "sum", "max": "max", "min": "min", "var": "var"}


def lower_reduce(ctx, node, inputs):
    op = node.layer
    x = ctx.plain(inputs[0])
    axes = tuple(sorted(x.pos(a) for a in op.axes))
    phys = x.phys if op.keepdims else "".join(a for a in x.phys if a not in op.axes)
    expr = f"keras.ops.{_REDUCE[op.fn]}({x.var}, axis={axes!r}, keepdims={op.keepdims})"
    if op.correction:
        count = math.prod(x.spec.dim(a) for a in op.axes)
        expr = f"keras.ops.multiply({expr}, {number(count / (count - op.correction))})"
    return ctx.let(node.name, expr, node.spec, phys)


def lower_softmax(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    fn = "log_softmax" if node.layer.log else "softmax"
    return ctx.let(node.name, f"keras.ops.{fn}({x.var}, axis={x.pos(node.layer.axis)})", node.spec, x.phys)


TABLE = {Reduce: lower_reduce, Softmax: lower_softmax}
