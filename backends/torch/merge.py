"""torch lowerings of the merge layers."""

from __future__ import annotations

from ...ir.layers import Add, Average, Concatenate, Dot, Maximum, Multiply, Subtract
from ...ir.layout import resolve_axis

_OPS = {Add: " + ", Subtract: " - ", Multiply: " * "}


def lower_elementwise(ctx, node, inputs):
    xs, phys, feat = ctx.aligned(inputs, node.spec)
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
    phys = next((v.phys for v in xs if not v.constant), xs[0].phys)  # a class token joins the tokens' layout
    xs = [ctx.require(v, phys) for v in xs]
    letter = node.spec.layout[resolve_axis(node.layer.axis, node.spec.layout)]
    return ctx.let(node.name, f"torch.cat([{', '.join(v.var for v in xs)}], dim={phys.index(letter)})", node.spec, phys)


def _matrix(ctx, value, axis, contract_first: bool) -> str:
    """``value`` held (N, rows, cols) in declared order, transposed so the contracted axis is where matmul
    contracts it (last for the left operand, first for the right)."""
    x = ctx.require(ctx.plain(value), "N" + value.spec.layout.replace("N", ""))
    pos = x.pos(x.spec.layout[resolve_axis(axis, x.spec.layout)])
    return f"{x.var}.transpose(1, 2)" if (pos == 1) != contract_first else x.var


def lower_dot(ctx, node, inputs):
    # Keras's Dot of rank-3 inputs is tf.matmul with adjoint flags: torch.matmul computes the same sums.
    a = _matrix(ctx, inputs[0], node.layer.axes[0], False)
    b = _matrix(ctx, inputs[1], node.layer.axes[1], True)
    phys = "N" + node.spec.layout.replace("N", "")
    return ctx.let(node.name, f"torch.matmul({a}, {b})", node.spec, phys)


TABLE = {
    Dot: lower_dot,
    Add: lower_elementwise,
    Subtract: lower_elementwise,
    Multiply: lower_elementwise,
    Average: lower_elementwise,
    Maximum: lower_elementwise,
    Concatenate: lower_concatenate,
}
