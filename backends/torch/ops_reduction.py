"""torch lowerings of the reductions and softmax, over the held positions of the named axes."""

from __future__ import annotations

from ...ir.ops import Reduce, Softmax

_REDUCE = {"mean": "torch.mean", "sum": "torch.sum", "max": "torch.amax", "min": "torch.amin", "var": "torch.var"}


def lower_reduce(ctx, node, inputs):
    op = node.layer
    x = ctx.plain(inputs[0])
    dims = tuple(sorted(x.pos(a) for a in op.axes))
    phys = x.phys if op.keepdims else "".join(a for a in x.phys if a not in op.axes)
    extra = ""
    if op.fn == "var":
        extra = f", correction={op.correction}"
    elif op.fn == "sum" and x.spec.dtype != "float32":
        extra = f", dtype=torch.{x.spec.dtype}"  # torch sums integers as int64
    expr = f"{_REDUCE[op.fn]}({x.var}, dim={dims!r}, keepdim={op.keepdims}{extra})"
    return ctx.let(node.name, expr, node.spec, phys)


def lower_softmax(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    fn = "torch.log_softmax" if node.layer.log else "torch.softmax"
    return ctx.let(node.name, f"{fn}({x.var}, dim={x.pos(node.layer.axis)})", node.spec, x.phys)


TABLE = {Reduce: lower_reduce, Softmax: lower_softmax}
