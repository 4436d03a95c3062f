"""Keras lowerings of the element-wise ops: one ``keras.ops`` call each, on the functional graph (no Lambda)."""

from __future__ import annotations

from ...ir.ops import Binary, Cast, Clip, Unary, Where
from ..lowering.ops import elementwise_inputs, number

UNARY = {
    "sqrt": "sqrt",
    "rsqrt": "rsqrt",
    "exp": "exp",
    "log": "log",
    "erf": "erf",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "sin": "sin",
    "cos": "cos",
    "reciprocal": "reciprocal",
    "floor": "floor",
    "ceil": "ceil",
    "trunc": "trunc",
    "abs": "absolute",
    "neg": "negative",
    "square": "square",
    "sign": "sign",
    "relu": "relu",
    "not": "logical_not",
}
BINARY = {
    "add": "add",
    "sub": "subtract",
    "mul": "multiply",
    "div": "divide",
    "floordiv": "floor_divide",
    "pow": "power",
    "max": "maximum",
    "min": "minimum",
    "eq": "equal",
    "ne": "not_equal",
    "lt": "less",
    "le": "less_equal",
    "gt": "greater",
    "ge": "greater_equal",
    "and": "logical_and",
    "or": "logical_or",
    "xor": "logical_xor",
}


def lower_unary(ctx, node, inputs):
    (x,) = inputs
    return ctx.let(node.name, f"keras.ops.{UNARY[node.layer.fn]}({x.var})", node.spec, x.phys, x.feat)


def lower_binary(ctx, node, inputs):
    op = node.layer
    xs, phys, feat = elementwise_inputs(ctx, node, inputs)
    args = [v.var for v in xs]
    if op.scalar is not None:
        s = number(op.scalar, inputs[0].spec.dtype)
        args = [s, *args] if op.scalar_first else [*args, s]
    return ctx.let(node.name, f"keras.ops.{BINARY[op.fn]}({', '.join(args)})", node.spec, phys, feat)


def lower_where(ctx, node, inputs):
    op = node.layer
    xs, phys, feat = elementwise_inputs(ctx, node, inputs)
    names = iter(v.var for v in xs)
    cond = next(names)
    dtype = node.spec.dtype
    x = next(names) if op.x is None else number(op.x, dtype)
    y = next(names) if op.y is None else number(op.y, dtype)
    return ctx.let(node.name, f"keras.ops.where({cond}, {x}, {y})", node.spec, phys, feat)


def lower_clip(ctx, node, inputs):
    (x,) = inputs
    op, dtype = node.layer, node.spec.dtype
    if op.low is not None and op.high is not None:
        expr = f"keras.ops.clip({x.var}, {number(op.low, dtype)}, {number(op.high, dtype)})"
    elif dtype == "float32":  # an infinite bound: keras.ops.clip still, so that from_keras reads a Clip back
        low, high = ('float("-inf")', number(op.high)) if op.low is None else (number(op.low), 'float("inf")')
        expr = f"keras.ops.clip({x.var}, {low}, {high})"
    elif op.low is not None:
        expr = f"keras.ops.maximum({x.var}, {number(op.low, dtype)})"
    else:
        expr = f"keras.ops.minimum({x.var}, {number(op.high, dtype)})"
    return ctx.let(node.name, expr, node.spec, x.phys, x.feat)


def lower_cast(ctx, node, inputs):
    (x,) = inputs
    return ctx.let(node.name, f"keras.ops.cast({x.var}, {node.layer.dtype!r})", node.spec, x.phys, x.feat)


TABLE = {Unary: lower_unary, Binary: lower_binary, Where: lower_where, Clip: lower_clip, Cast: lower_cast}
