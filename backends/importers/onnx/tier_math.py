"""Element-wise ONNX ops as IR ops: unary math, arithmetic and comparisons, variadic Min/Max/Sum/Mean,
``Where``, ``Clip``, ``Cast``, and ``Identity`` of any dtype.

Each entry returns ``(tensor, {})``, built with :meth:`Ctx.call` (see ``tier.py``
for how constants and letters are lined up).
"""

from __future__ import annotations

from typing import Callable

from onnx import TensorProto

from ....ir import ops as O
from ....ir.errors import UnsupportedError
from .ctx import Converted, Ctx
from .tier import as_dtype, broadcast_operands, operand, stored, unchanged

#: ONNX op type -> the IR's Unary function.
UNARY = {
    "Sqrt": "sqrt",
    "Reciprocal": "reciprocal",
    "Exp": "exp",
    "Log": "log",
    "Erf": "erf",
    "Tanh": "tanh",
    "Sigmoid": "sigmoid",
    "Abs": "abs",
    "Neg": "neg",
    "Floor": "floor",
    "Ceil": "ceil",
    "Sin": "sin",
    "Cos": "cos",
    "Sign": "sign",
    "Relu": "relu",
    "Not": "not",
}
#: ONNX op type -> the IR's Binary function.
BINARY = {
    "Add": "add",
    "Sub": "sub",
    "Mul": "mul",
    "Div": "div",
    "Pow": "pow",
    "Equal": "eq",
    "Less": "lt",
    "Greater": "gt",
    "LessOrEqual": "le",
    "GreaterOrEqual": "ge",
    "And": "and",
    "Or": "or",
    "Xor": "xor",
}
#: ONNX element types the IR's Cast makes.
CAST_TO = {
    TensorProto.FLOAT: "float32",
    TensorProto.INT32: "int32",
    TensorProto.INT64: "int64",
    TensorProto.BOOL: "bool",
}


def _number(v) -> bool:
    return isinstance(v, (int, float, bool))


def unary(fn: str) -> Callable:
    def convert(ctx: Ctx) -> Converted:
        return ctx.call(O.Unary(fn), ctx.x()), {}

    convert.__name__ = f"unary_{fn}"
    return convert


def _first_tensor(ctx: Ctx):
    like = next((ctx.value(i) for i in range(len(ctx.op.inputs)) if ctx.value(i) is not None), None)
    if like is None:
        raise UnsupportedError("every operand is a constant")
    return like


def combine(ctx: Ctx, fn: str, a, b):
    """``fn(a, b)`` of two tensors, or of a tensor and a number (either side)."""
    if fn == "pow":  # ONNX lets the exponent be an integer tensor; the IR's pow is float
        b = b if _number(b) else as_dtype(ctx, b, "float32")
    a, b = broadcast_operands(ctx, [a, b])
    if _number(a):
        return ctx.call(O.Binary(fn, scalar=a, scalar_first=True), b)
    if _number(b):
        return ctx.call(O.Binary(fn, scalar=b), a)
    return ctx.call(O.Binary(fn), a, b)


def binary(fn: str) -> Callable:
    def convert(ctx: Ctx) -> Converted:
        like = _first_tensor(ctx)
        return combine(ctx, fn, operand(ctx, 0, like), operand(ctx, 1, like)), {}

    convert.__name__ = f"binary_{fn}"
    return convert


def variadic(fn: str, mean: bool = False) -> Callable:
    """Max/Min/Sum/Mean of one or more operands, folded pairwise (Mean: the sum divided by the count)."""

    def convert(ctx: Ctx) -> Converted:
        like = _first_tensor(ctx)
        terms = [operand(ctx, i, like) for i, name in enumerate(ctx.op.inputs) if name]
        out = terms[0]
        for term in terms[1:]:
            out = combine(ctx, fn, out, term) if not _number(out) else combine(ctx, fn, term, out)
        if mean and len(terms) > 1:
            out = ctx.call(O.Binary("div", scalar=float(len(terms))), out)
        if out is like and len(terms) == 1:
            out = identity_op(ctx)[0]
        return out, {}

    convert.__name__ = f"variadic_{fn}"
    return convert


def where(ctx: Ctx) -> Converted:
    like = _first_tensor(ctx)
    cond, x, y = (operand(ctx, i, like) for i in range(3))
    if _number(cond):
        raise UnsupportedError("the condition is a constant")
    cond, x, y = broadcast_operands(ctx, [as_dtype(ctx, cond, "bool"), x, y])
    if _number(x) and _number(y):
        raise UnsupportedError("both values are constants and the IR's Where takes at most one number")
    layer = O.Where(x=x if _number(x) else None, y=y if _number(y) else None)
    return ctx.call(layer, *[t for t in (cond, x, y) if not _number(t)]), {}


def clip(ctx: Ctx) -> Converted:
    x = ctx.x()
    if ctx.graph.opset < 11:
        low, high = ctx.attr("min"), ctx.attr("max")
    else:
        low, high = (stored(ctx, i, w) for i, w in ((1, "min"), (2, "max")))
        low, high = (None if v is None else v.reshape(()).item() for v in (low, high))
    if low is None and high is None:
        return identity_op(ctx)
    if low is not None and high is not None and low > high:
        low = high  # ONNX clamps to min, then to max: max everywhere
    return ctx.call(O.Clip(low, high), x), {}


def cast(ctx: Ctx) -> Converted:
    x = ctx.x()
    to = CAST_TO.get(ctx.attr("to"))
    if to is None:
        name = TensorProto.DataType.Name(ctx.attr("to"))
        raise UnsupportedError(f"casts to {name}; the IR's dtypes are {', '.join(CAST_TO.values())}")
    return ctx.call(O.Cast(to), x), {}


def identity_op(ctx: Ctx) -> Converted:
    """The input unchanged: an Identity layer for floats, a Cast to its own dtype for other dtypes."""
    return unchanged(ctx, ctx.x() if len(ctx.inputs) == 1 else _first_tensor(ctx)), {}


def hard_sigmoid(ctx: Ctx) -> Converted:
    """``max(0, min(1, alpha * x + beta))`` for any alpha and beta (the IR's layer has alpha 1/6)."""
    x = ctx.call(O.Binary("mul", scalar=float(ctx.attr("alpha", 0.2))), ctx.x())
    return ctx.call(O.Clip(0.0, 1.0), ctx.call(O.Binary("add", scalar=float(ctx.attr("beta", 0.5))), x)), {}


def selu(ctx: Ctx) -> Converted:
    """``gamma * (x if x > 0 else alpha * (exp(x) - 1))`` for any alpha and gamma."""
    x = ctx.x()
    alpha, gamma = (
        float(ctx.attr("alpha", 1.67326319217681884765625)),
        float(ctx.attr("gamma", 1.05070102214813232421875)),
    )
    below = ctx.call(O.Binary("mul", scalar=alpha), ctx.call(O.Binary("sub", scalar=1.0), ctx.call(O.Unary("exp"), x)))
    y = ctx.call(O.Where(), ctx.call(O.Binary("gt", scalar=0.0), x), x, below)
    return ctx.call(O.Binary("mul", scalar=gamma), y), {}


def dropout(ctx: Ctx) -> Converted:
    """Dropout at inference (or training with ratio 0): the input, and where the mask is read, all True."""
    x = ctx.x()
    training = stored(ctx, 2, "training_mode") if len(ctx.op.inputs) > 2 and ctx.op.inputs[2] else None
    ratio = stored(ctx, 1, "ratio") if len(ctx.op.inputs) > 1 and ctx.op.inputs[1] else None
    if training is not None and bool(training.reshape(())) and (ratio is None or float(ratio.reshape(())) != 0):
        raise UnsupportedError("drops entries at random (training_mode true); the IR compares inference")
    y = unchanged(ctx, x)
    if len(ctx.op.outputs) < 2 or not ctx.op.outputs[1]:
        return y, {}
    same, differs = ctx.call(O.Binary("eq"), x, x), ctx.call(O.Binary("ne"), x, x)  # True everywhere, NaN too
    return (y, ctx.call(O.Binary("or"), same, differs)), {}
