"""Keras lowerings of the merge layers."""

from __future__ import annotations

from ...ir.layers import Add, Average, Concatenate, Dot, Maximum, Multiply, Subtract
from ...ir.layout import resolve_axis
from ..lowering.code import call
from .compile import batch_first

_KIND = {Add: "Add", Subtract: "Subtract", Multiply: "Multiply", Average: "Average", Maximum: "Maximum"}


def _aligned(ctx, node, inputs):
    """All inputs held in one layout (each may arrive in its own): channels last where one input already
    is, else the first input's (``merge_layout``, as the other backends choose)."""
    phys = ctx.merge_layout(inputs, node.spec)
    return [ctx.require(v, phys) for v in inputs], phys


def lower_elementwise(ctx, node, inputs):
    xs, phys = _aligned(ctx, node, inputs)
    args = "[" + ", ".join(v.var for v in xs) + "]"
    return ctx.layer(node.name, f"layers.{_KIND[type(node.layer)]}()", args, node.spec, phys)


def lower_concatenate(ctx, node, inputs):
    xs, phys = _aligned(ctx, node, inputs)
    letter = node.spec.layout[resolve_axis(node.layer.axis, node.spec.layout)]
    args = "[" + ", ".join(v.var for v in xs) + "]"
    return ctx.layer(node.name, call("layers.Concatenate", axis=phys.index(letter)), args, node.spec, phys)


def lower_dot(ctx, node, inputs):
    # Both inputs held batch first in declared order: the IR's axes are then Keras's positions.
    xs = [ctx.require(v, batch_first(v.spec.layout)) for v in inputs]
    axes = tuple(x.pos(x.spec.layout[resolve_axis(a, x.spec.layout)]) for x, a in zip(xs, node.layer.axes))
    args = "[" + ", ".join(v.var for v in xs) + "]"
    return ctx.layer(node.name, call("layers.Dot", axes=axes), args, node.spec, batch_first(node.spec.layout))


TABLE = {
    Dot: lower_dot,
    Add: lower_elementwise,
    Subtract: lower_elementwise,
    Multiply: lower_elementwise,
    Average: lower_elementwise,
    Maximum: lower_elementwise,
    Concatenate: lower_concatenate,
}
