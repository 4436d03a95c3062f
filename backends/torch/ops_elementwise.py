"""torch lowerings of the element-wise ops: torch functions and operators in the emitted ``forward``."""

from __future__ import annotations

from ...ir.ops import Binary, Cast, Clip, Unary, Where
from ..lowering.ops import elementwise_inputs, number
from .batchless import Bare, bare_fits, elementwise_bare, expanded, region, unit_sizes, viewed

UNARY = {
    "sqrt": "torch.sqrt",
    "rsqrt": "torch.rsqrt",
    "exp": "torch.exp",
    "log": "torch.log",
    "erf": "torch.erf",
    "tanh": "torch.tanh",
    "sigmoid": "torch.sigmoid",
    "sin": "torch.sin",
    "cos": "torch.cos",
    "reciprocal": "torch.reciprocal",
    "floor": "torch.floor",
    "ceil": "torch.ceil",
    "trunc": "torch.trunc",
    "abs": "torch.abs",
    "neg": "torch.neg",
    "square": "torch.square",
    "sign": "torch.sign",
    "relu": "torch.relu",
    "not": "torch.logical_not",
}
#: Python operators (they take a number on either side); the rest are torch functions of two tensors.
OPERATORS = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "div": "/",
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
}
FUNCTIONS = {
    "pow": "torch.pow",  # a function: the operator's spacing depends on its operands in ruff's style
    "max": "torch.maximum",
    "min": "torch.minimum",
    "and": "torch.logical_and",
    "or": "torch.logical_or",
    "xor": "torch.logical_xor",
}


@region(elementwise_bare(lambda node, v: f"{UNARY[node.layer.fn]}({v[0]})"))
def lower_unary(ctx, node, inputs):
    (x,) = inputs
    return ctx.let(node.name, f"{UNARY[node.layer.fn]}({x.var})", node.spec, x.phys, x.feat)


def binary_expr(node, args: list[str]) -> str:
    op = node.layer
    if op.scalar is not None:
        s = number(op.scalar, node.inputs[0].spec.dtype)
        if op.fn in ("max", "min"):  # torch.maximum takes tensors only; clamp takes the number
            return f"torch.clamp({args[0]}, {'min' if op.fn == 'max' else 'max'}={s})"
        args = [s, *args] if op.scalar_first else [*args, s]
    if op.fn == "floordiv":  # floats: floor of the true quotient, as Keras and ONNX (not torch's fmod-based //)
        return f"torch.floor({' / '.join(args)})" if node.spec.dtype == "float32" else " // ".join(args)
    if op.fn in OPERATORS:
        return f" {OPERATORS[op.fn]} ".join(args)
    return f"{FUNCTIONS[op.fn]}({', '.join(args)})"


@region(elementwise_bare(binary_expr))
def lower_binary(ctx, node, inputs):
    xs, phys, feat = _with_bare(ctx, node, inputs)
    return ctx.let(node.name, binary_expr(node, [v.var for v in xs]), node.spec, phys, feat)


def _with_bare(ctx, node, inputs):
    """:func:`elementwise_inputs`, a :class:`Bare` weight taken as it is where torch's broadcasting fits it
    (``self.weight * x``), else expanded over the batch first."""
    data = [v for v in inputs if not isinstance(v, Bare)]
    if len(data) == len(inputs):
        return elementwise_inputs(ctx, node, inputs)
    if data and all(len(v.spec.layout) == len(node.spec.layout) for v in data):
        held, phys, feat = elementwise_inputs(ctx, node, data)
        fits = [bare_fits(v, phys) or unit_sizes(v, phys) is not None for v in inputs if isinstance(v, Bare)]
        if feat is None and all(fits):  # as it is, or viewed with size-1 axes (a layer scale (C, 1, 1))
            it = iter(held)
            bare = [v if bare_fits(v, phys) else viewed(ctx, v, phys) for v in inputs if isinstance(v, Bare)]
            return [bare.pop(0) if isinstance(v, Bare) else next(it) for v in inputs], phys, feat
    return elementwise_inputs(ctx, node, [expanded(ctx, v) for v in inputs])


def where_expr(node, args: list[str]) -> str:
    op, dtype = node.layer, node.spec.dtype
    names = iter(args)
    cond = next(names)
    x = next(names) if op.x is None else number(op.x, dtype)
    y = next(names) if op.y is None else number(op.y, dtype)
    return f"torch.where({cond}, {x}, {y})"


@region(elementwise_bare(where_expr))
def lower_where(ctx, node, inputs):
    xs, phys, feat = elementwise_inputs(ctx, node, inputs)
    return ctx.let(node.name, where_expr(node, [v.var for v in xs]), node.spec, phys, feat)


def clip_expr(node, args: list[str]) -> str:
    op, dtype = node.layer, node.spec.dtype
    bounds = []
    if op.low is not None:
        bounds.append(f"min={number(op.low, dtype)}")
    if op.high is not None:
        bounds.append(f"max={number(op.high, dtype)}")
    return f"torch.clamp({args[0]}, {', '.join(bounds)})"


@region(elementwise_bare(clip_expr))
def lower_clip(ctx, node, inputs):
    (x,) = inputs
    return ctx.let(node.name, clip_expr(node, [x.var]), node.spec, x.phys, x.feat)


@region(elementwise_bare(lambda node, v: f"{v[0]}.to(torch.{node.layer.dtype})"))
def lower_cast(ctx, node, inputs):
    (x,) = inputs
    return ctx.let(node.name, f"{x.var}.to(torch.{node.layer.dtype})", node.spec, x.phys, x.feat)


TABLE = {Unary: lower_unary, Binary: lower_binary, Where: lower_where, Clip: lower_clip, Cast: lower_cast}
