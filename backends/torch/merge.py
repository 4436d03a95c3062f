"""torch lowerings of the merge layers."""
from __future__ import annotations

from ir.layers import Add, Average, Concatenate, Maximum, Multiply, Subtract
from ir.layout import resolve_axis

from ..program import same_feat


def _aligned(ctx, inputs):
    """All inputs held like the first one; a shared feature order is kept, mixed ones are undone."""
    if not same_feat(inputs):
        inputs = [ctx.plain(v) for v in inputs]
    phys = inputs[0].phys
    return [ctx.require(v, phys) for v in inputs], phys, inputs[0].feat


_OPS = {Add: " + ", Subtract: " - ", Multiply: " * "}


def lower_elementwise(ctx, node, inputs):
    xs, phys, feat = _aligned(ctx, inputs)
    names = [v.var for v in xs]
    kind = type(node.layer)
    if kind in _OPS:
        expr = _OPS[kind].join(names)
    elif kind is Average:
        expr = f"({' + '.join(names)}) / {len(names)}"
    else:  # Maximum
        expr = names[0]
        for other in names[1:]:
            expr = f"torch.maximum({expr}, {other})"
    return ctx.let(node.name, expr, node.spec, phys, feat)


def lower_concatenate(ctx, node, inputs):
    xs = [ctx.plain(v) for v in inputs]
    phys = xs[0].phys
    xs = [ctx.require(v, phys) for v in xs]
    letter = node.spec.layout[resolve_axis(node.layer.axis, node.spec.layout)]
    return ctx.let(node.name, f"torch.cat([{', '.join(v.var for v in xs)}], dim={phys.index(letter)})",
                   node.spec, phys)


TABLE = {Add: lower_elementwise, Subtract: lower_elementwise, Multiply: lower_elementwise,
         Average: lower_elementwise, Maximum: lower_elementwise, Concatenate: lower_concatenate}
