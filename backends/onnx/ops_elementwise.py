"""ONNX lowerings of the element-wise ops: standard-domain nodes (numpy broadcasting, as the held layouts)."""

from __future__ import annotations

import numpy as np

from ...ir.ops import Binary, Cast, Clip, Unary, Where
from ..lowering.ops import elementwise_inputs
from .compile import _ELEM, Op

_DOUBLE = 11  # TensorProto.DOUBLE

UNARY = {
    "sqrt": "Sqrt",
    "exp": "Exp",
    "log": "Log",
    "erf": "Erf",
    "tanh": "Tanh",
    "sigmoid": "Sigmoid",
    "sin": "Sin",
    "cos": "Cos",
    "reciprocal": "Reciprocal",
    "floor": "Floor",
    "ceil": "Ceil",
    "abs": "Abs",
    "neg": "Neg",
    "sign": "Sign",
    "relu": "Relu",
    "not": "Not",
}
BINARY = {
    "add": "Add",
    "sub": "Sub",
    "mul": "Mul",
    "div": "Div",
    "pow": "Pow",
    "max": "Max",
    "min": "Min",
    "eq": "Equal",
    "lt": "Less",
    "le": "LessOrEqual",
    "gt": "Greater",
    "ge": "GreaterOrEqual",
    "and": "And",
    "or": "Or",
    "xor": "Xor",
}


def number(ctx, base: str, value: float, dtype: str) -> str:
    """A 0-d initializer holding ``value`` in ``dtype``."""
    return ctx.const(base, np.array(value, dtype=dtype))


def lower_unary(ctx, node, inputs):
    (x,) = inputs
    fn = node.layer.fn
    if fn == "rsqrt":
        return ctx.let(
            node.name, Op("Reciprocal", (ctx.op("Sqrt", x.var, base=f"{node.name}_sqrt"),)), node.spec, x.phys, x.feat
        )
    if fn == "square":
        return ctx.let(node.name, Op("Mul", (x.var, x.var)), node.spec, x.phys, x.feat)
    if fn == "trunc":  # no Trunc node: Ceil below zero, Floor above
        below = ctx.op("Less", x.var, number(ctx, f"{node.name}_zero", 0.0, "float32"), base=f"{node.name}_below")
        up, down = (ctx.op(k, x.var, base=f"{node.name}_{k.lower()}") for k in ("Ceil", "Floor"))
        return ctx.let(node.name, Op("Where", (below, up, down)), node.spec, x.phys, x.feat)
    return ctx.let(node.name, Op(UNARY[fn], (x.var,)), node.spec, x.phys, x.feat)


def lower_binary(ctx, node, inputs):
    op = node.layer
    xs, phys, feat = elementwise_inputs(ctx, node, inputs)
    args = [v.var for v in xs]
    if op.scalar is not None:
        s = number(ctx, f"{node.name}_scalar", op.scalar, inputs[0].spec.dtype)
        args = [s, *args] if op.scalar_first else [*args, s]
    if op.fn == "floordiv":
        return _floor_divide(ctx, node, args, phys, feat)
    if op.fn == "ne":
        return ctx.let(node.name, Op("Not", (ctx.op("Equal", *args, base=f"{node.name}_eq"),)), node.spec, phys, feat)
    return ctx.let(node.name, Op(BINARY[op.fn], tuple(args)), node.spec, phys, feat)


def _floor_divide(ctx, node, args, phys, feat):
    """``Floor(Div)``; integers through float64 (exact below 2**53: the rounded quotient never reaches the
    next integer), as ONNX's integer ``Div`` truncates."""
    base, dtype = node.name, node.spec.dtype
    if dtype == "float32":
        return ctx.let(base, Op("Floor", (ctx.op("Div", *args, base=f"{base}_div"),)), node.spec, phys, feat)
    wide = [ctx.op("Cast", a, base=f"{base}_f{i}", to=_DOUBLE) for i, a in enumerate(args)]
    quotient = ctx.op("Floor", ctx.op("Div", *wide, base=f"{base}_div"), base=f"{base}_floor")
    return ctx.let(base, Op("Cast", (quotient,), {"to": _ELEM[dtype]}), node.spec, phys, feat)


def lower_where(ctx, node, inputs):
    op = node.layer
    xs, phys, feat = elementwise_inputs(ctx, node, inputs)
    names = iter(v.var for v in xs)
    cond = next(names)
    dtype = node.spec.dtype
    x = next(names) if op.x is None else number(ctx, f"{node.name}_x", op.x, dtype)
    y = next(names) if op.y is None else number(ctx, f"{node.name}_y", op.y, dtype)
    return ctx.let(node.name, Op("Where", (cond, x, y)), node.spec, phys, feat)


def lower_clip(ctx, node, inputs):
    (x,) = inputs
    op, dtype = node.layer, node.spec.dtype
    low = "" if op.low is None else number(ctx, f"{node.name}_low", op.low, dtype)
    high = "" if op.high is None else number(ctx, f"{node.name}_high", op.high, dtype)
    return ctx.let(node.name, Op("Clip", (x.var, low, high)), node.spec, x.phys, x.feat)


def lower_cast(ctx, node, inputs):
    (x,) = inputs
    return ctx.let(node.name, Op("Cast", (x.var,), {"to": _ELEM[node.layer.dtype]}), node.spec, x.phys, x.feat)


TABLE = {Unary: lower_unary, Binary: lower_binary, Where: lower_where, Clip: lower_clip, Cast: lower_cast}
