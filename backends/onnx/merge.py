"""ONNX lowerings of the merge layers: element-wise (numpy broadcasting, as the IR's size-1 axes), Concatenate
and Dot."""

from __future__ import annotations

import numpy as np

from ...ir.layers import Add, Average, Concatenate, Dot, Maximum, Multiply, Subtract
from ...ir.layout import resolve_axis
from .compile import Op

# Sum, Mean and Max take any number of inputs and broadcast multidirectionally (opset >= 8).
_VARIADIC = {Add: "Sum", Average: "Mean", Maximum: "Max"}
_BINARY = {Add: "Add", Subtract: "Sub", Multiply: "Mul", Maximum: "Max"}


def lower_elementwise(ctx, node, inputs):
    xs, phys, feat = ctx.aligned(inputs, node.spec)
    names = [v.var for v in xs]
    kind = type(node.layer)
    if len(names) == 2 and kind in _BINARY:
        return ctx.let(node.name, Op(_BINARY[kind], tuple(names)), node.spec, phys, feat)
    if kind in _VARIADIC:
        return ctx.let(node.name, Op(_VARIADIC[kind], tuple(names)), node.spec, phys, feat)
    # Multiply of three or more: a chain of Mul, left to right as Keras multiplies.
    y = names[0]
    for k, other in enumerate(names[1:-1]):
        y = ctx.op("Mul", y, other, base=f"{node.name}_{k}")
    return ctx.let(node.name, Op("Mul", (y, names[-1])), node.spec, phys, feat)


def lower_concatenate(ctx, node, inputs):
    letter = node.spec.layout[resolve_axis(node.layer.axis, node.spec.layout)]
    xs = inputs if letter == "C" else [ctx.plain(v) for v in inputs]
    phys = xs[0].phys
    xs = [ctx.require(v, phys) for v in xs]
    feat = None
    if any(v.feat is not None for v in xs):
        # Along C, permuted feature orders need not be undone: the result's order is theirs, end to end
        # (the next Dense or per-channel layer folds it, as for a Flatten).
        offsets = np.cumsum([0] + [v.spec.dim("C") for v in xs[:-1]])
        feat = np.concatenate(
            [(np.arange(v.spec.dim("C")) if v.feat is None else v.feat) + k for v, k in zip(xs, offsets)]
        )
    return ctx.let(
        node.name, Op("Concat", tuple(v.var for v in xs), {"axis": phys.index(letter)}), node.spec, phys, feat
    )


def _matrix(ctx, value, axis, contract_first: bool, base: str) -> str:
    """``value`` held (N, rows, cols) in declared order, transposed so the contracted axis is where MatMul
    contracts it (last for the left operand, first for the right)."""
    x = ctx.require(ctx.plain(value), "N" + value.spec.layout.replace("N", ""))
    pos = x.pos(x.spec.layout[resolve_axis(axis, x.spec.layout)])
    if (pos == 1) != contract_first:
        return ctx.op("Transpose", x.var, base=base, perm=[0, 2, 1])
    return x.var


def lower_dot(ctx, node, inputs):
    # Keras's Dot of rank-3 inputs is a batched matmul with adjoint flags: MatMul computes the same sums.
    a = _matrix(ctx, inputs[0], node.layer.axes[0], False, f"{node.name}_left")
    b = _matrix(ctx, inputs[1], node.layer.axes[1], True, f"{node.name}_right")
    return ctx.let(node.name, Op("MatMul", (a, b)), node.spec, "N" + node.spec.layout.replace("N", ""))


TABLE = {
    Dot: lower_dot,
    Add: lower_elementwise,
    Subtract: lower_elementwise,
    Multiply: lower_elementwise,
    Average: lower_elementwise,
    Maximum: lower_elementwise,
    Concatenate: lower_concatenate,
}
