"""``ATEN_ELEMENTWISE``: element-wise ATen ops -> IR ``Unary``, ``Binary``, ``Where``, ``Clip``, ``Cast``.

Inputs broadcast as torch broadcasts them (``aten_values.operands`` names
them by letter) and are cast first to the dtype torch computes in (``1 /
int_tensor`` is float32); a Python number, or a one-entry tensor computed
without the inputs, is the op's ``scalar``. Arithmetic on sizes alone
(``s0 // 2``) is done on the numbers of the example run. ``aten.py`` tries
the layer converters first where they exist (``x * 0.5`` -> ``Rescaling``,
``relu`` -> ``Activation``) and uses these for what they refuse.
"""

from __future__ import annotations

import math
import operator
from typing import Callable

import torch

from ....ir import ops as O
from ....ir.errors import UnsupportedError
from .aten_values import Held, cast, operands, put

aten = torch.ops.aten

_PY = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "floordiv": operator.floordiv,
    "pow": operator.pow,
    "max": max,
    "min": min,
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
    "and": lambda a, b: a and b,
    "or": lambda a, b: a or b,
    "xor": operator.xor,
}
_COMPARE = ("eq", "ne", "lt", "le", "gt", "ge")
_LOGIC = ("and", "or", "xor")


def number(v):
    """``v`` as a Python number when it is one, or a one-entry tensor computed without the inputs; else None."""
    if isinstance(v, Held) and v.value.numel() == 1 and v.value.dim() == 0:
        return v.value.item()
    if isinstance(v, (bool, int, float)):
        return v
    return None


def _dtype_of(ctx, v, node) -> torch.dtype | None:
    if isinstance(v, Held):
        return v.value.dtype
    info = ctx.run1.get(node) if isinstance(node, torch.fx.Node) else None
    return getattr(torch, info.dtype) if info is not None and hasattr(info, "dtype") else None


def _compute_dtype(ctx, call, a, b, na, nb) -> str:
    """The dtype torch computes ``a op b`` in (the inputs' promoted dtype; a number counts by its kind)."""
    sides = []
    for v, n in ((a, na), (b, nb)):
        num = number(v)
        if num is not None and not (isinstance(v, Held) and v.value.dim()):
            sides.append(num)
        else:
            sides.append(torch.empty(0, dtype=_dtype_of(ctx, v, n)))
    if not isinstance(sides[0], torch.Tensor):
        sides.reverse()
    return str(torch.result_type(*sides)).replace("torch.", "")


def binary(fn: str, *, swap: bool = False) -> Callable:
    """``fn(self, other)`` (``swap``: ``fn(other, self)``, as ``rsub``), ``alpha`` scaling ``other``."""

    def convert(ctx, call):
        node_args = list(call.node.args) + [None] * 2
        a, b = call.arg(0, "self"), call.arg(1, "other")
        na, nb = node_args[0], node_args[1]
        alpha = call.kwargs.get("alpha", 1)
        if swap:
            a, b, na, nb = b, a, nb, na
        ca, cb = number(a), number(b)
        if ca is not None and cb is not None:
            return _PY[fn](ca, cb * alpha if fn in ("add", "sub") else cb)
        if alpha != 1:
            if cb is None:
                raise UnsupportedError("alpha != 1 with a tensor operand is not supported")
            cb *= alpha
        dtype = call.info.dtype
        work = _compute_dtype(ctx, call, a, b, na, nb) if fn in _COMPARE else ("bool" if fn in _LOGIC else dtype)
        if ca is not None or cb is not None:
            c = ca if ca is not None else cb
            if not math.isfinite(c) and fn not in ("max", "min") + _COMPARE:
                raise UnsupportedError(f"the constant {c!r} is not finite")
            (x,) = operands(ctx, call, [b if ca is not None else a], [nb if ca is not None else na], work)
            if fn == "pow" and cb == 2:
                return put(ctx, call, O.Unary("square"), [x])
            return put(ctx, call, O.Binary(fn, scalar=float(c), scalar_first=ca is not None), [x])
        return put(ctx, call, O.Binary(fn), operands(ctx, call, [a, b], [na, nb], work))

    convert.__name__ = f"binary_{fn}"
    return convert


def rounded_division(ctx, call):
    """``div(a, b, rounding_mode=)`` and ``floor_divide``: ``"floor"`` is ``Binary("floordiv")``; ``"trunc"`` is
    ``trunc(a / b)`` for floats and ``sign(a) * sign(b) * (|a| // |b|)`` for integers."""
    floor = call.node.target in (aten.floor_divide.default, aten.floor_divide.Scalar)
    mode = "floor" if floor else call.kwargs.get("rounding_mode")
    if mode is None:
        return _B["div"](ctx, call)
    if mode == "floor":
        return binary("floordiv")(ctx, call)
    a, b = call.arg(0, "self"), call.arg(1, "other")
    ca, cb = number(a), number(b)
    if ca is not None and cb is not None:
        return math.trunc(ca / cb) if isinstance(ca + cb, int) else float(math.trunc(ca / cb))
    dtype = call.info.dtype
    tensors = [(v, n) for v, n in ((a, call.node.args[0]), (b, call.node.args[1])) if number(v) is None]
    xs = iter(operands(ctx, call, [v for v, _ in tensors], [n for _, n in tensors], dtype))
    x, y = (next(xs) if ca is None else None), (next(xs) if cb is None else None)

    def op(o, *inputs, last=False):
        return put(ctx, call, o, list(inputs), last=last)

    if dtype == "float32":
        quotient = (
            op(O.Binary("div"), x, y)
            if x is not None and y is not None
            else op(O.Binary("div", scalar=float(ca if x is None else cb), scalar_first=x is None), x or y)
        )
        return op(O.Unary("trunc"), quotient, last=True)
    size = [op(O.Unary("abs"), t) if t is not None else None for t in (x, y)]
    sign = [op(O.Unary("sign"), t) if t is not None else None for t in (x, y)]
    if x is not None and y is not None:
        whole = op(O.Binary("floordiv"), *size)
        return op(O.Binary("mul"), op(O.Binary("mul"), *sign), whole, last=True)
    c = ca if x is None else cb
    whole = op(O.Binary("floordiv", scalar=abs(c), scalar_first=x is None), size[0] or size[1])
    signs = op(O.Binary("mul", scalar=(c > 0) - (c < 0)), sign[0] or sign[1])
    return op(O.Binary("mul"), signs, whole, last=True)


def unary(fn: str) -> Callable:
    def convert(ctx, call):
        (x,) = operands(ctx, call, [call.arg(0, "self")], [call.node.args[0]], call.info.dtype)
        return put(ctx, call, O.Unary(fn), [x])

    convert.__name__ = f"unary_{fn}"
    return convert


def gelu(ctx, call):
    """``x * Φ(x)`` as ops: ``0.5 * x * (1 + erf(x / √2))`` (``approximate='tanh'``: its tanh form)."""
    (x,) = operands(ctx, call, [call.arg(0, "self")], [call.node.args[0]], "float32")
    if call.arg(1, "approximate", "none") == "tanh":
        cube = put(ctx, call, O.Binary("mul"), [put(ctx, call, O.Unary("square"), [x], last=False), x], last=False)
        inner = put(ctx, call, O.Binary("mul", scalar=0.044715), [cube], last=False)
        inner = put(ctx, call, O.Binary("add"), [x, inner], last=False)
        inner = put(ctx, call, O.Binary("mul", scalar=math.sqrt(2 / math.pi)), [inner], last=False)
        curve = put(ctx, call, O.Unary("tanh"), [inner], last=False)
    else:
        curve = put(ctx, call, O.Binary("mul", scalar=1 / math.sqrt(2)), [x], last=False)
        curve = put(ctx, call, O.Unary("erf"), [curve], last=False)
    half = put(ctx, call, O.Binary("add", scalar=1.0), [curve], last=False)
    half = put(ctx, call, O.Binary("mul", scalar=0.5), [half], last=False)
    return put(ctx, call, O.Binary("mul"), [x, half])


def silu(ctx, call):
    (x,) = operands(ctx, call, [call.arg(0, "self")], [call.node.args[0]], "float32")
    return put(ctx, call, O.Binary("mul"), [x, put(ctx, call, O.Unary("sigmoid"), [x], last=False)])


def hard_sigmoid_of(ctx, call, x):
    shifted = put(ctx, call, O.Binary("add", scalar=3.0), [x], last=False)
    clipped = put(ctx, call, O.Clip(0.0, 6.0), [shifted], last=False)
    return clipped


def hardswish(ctx, call):
    """``x * relu6(x + 3) / 6``."""
    (x,) = operands(ctx, call, [call.arg(0, "self")], [call.node.args[0]], "float32")
    scaled = put(ctx, call, O.Binary("div", scalar=6.0), [hard_sigmoid_of(ctx, call, x)], last=False)
    return put(ctx, call, O.Binary("mul"), [x, scaled])


def hardsigmoid(ctx, call):
    (x,) = operands(ctx, call, [call.arg(0, "self")], [call.node.args[0]], "float32")
    return put(ctx, call, O.Binary("div", scalar=6.0), [hard_sigmoid_of(ctx, call, x)])


def where(ctx, call):
    """``where(condition, x, y)``; either value may be a number (``masked_fill``'s fill)."""
    args = [call.arg(0, "condition"), call.arg(1, "self"), call.arg(2, "other")]
    nodes = list(call.node.args[:3])
    return _where(ctx, call, args, nodes)


def _where(ctx, call, args, nodes):
    cond, x, y = args
    cx, cy = number(x), number(y)
    tensors = [(v, n) for v, n in zip(args[1:], nodes[1:]) if number(v) is None]
    values = operands(ctx, call, [cond] + [v for v, _ in tensors], [nodes[0]] + [n for _, n in tensors], None)
    c, rest = cast(ctx, call, values[0], "bool"), [cast(ctx, call, v, call.info.dtype) for v in values[1:]]
    op = O.Where(x=None if cx is None else float(cx), y=None if cy is None else float(cy))
    return put(ctx, call, op, [c, *rest])


def masked_fill(ctx, call):
    """``x.masked_fill(mask, value)`` = ``where(mask, value, x)``."""
    nodes = [call.node.args[1], None, call.node.args[0]]
    return _where(ctx, call, [call.arg(1, "mask"), call.arg(2, "value"), call.arg(0, "self")], nodes)


def clip(ctx, call):
    low, high = number(call.arg(1, "min")), number(call.arg(2, "max"))
    (x,) = operands(ctx, call, [call.arg(0, "self")], [call.node.args[0]], call.info.dtype)
    return put(ctx, call, O.Clip(low, high), [x])


def clip_one(side: str) -> Callable:
    def convert(ctx, call):
        (x,) = operands(ctx, call, [call.arg(0, "self")], [call.node.args[0]], call.info.dtype)
        bound = number(call.arg(1, side))
        return put(ctx, call, O.Clip(bound, None) if side == "min" else O.Clip(None, bound), [x])

    return convert


def to_dtype(ctx, call):
    """``x.to(dtype)`` / ``x.float()`` / ``type_as``: a ``Cast`` to the dtype torch gives (none if it is kept)."""
    value = call.arg(0, "self")
    if isinstance(value, Held):
        return value
    (x,) = operands(ctx, call, [value], [call.node.args[0]], None)
    if x.dtype == call.info.dtype:
        return x
    return put(ctx, call, O.Cast(call.info.dtype), [x])


_B = {fn: binary(fn) for fn in _PY}

#: ATen op -> op-tier converter (element-wise)
ATEN_ELEMENTWISE: dict[Callable, Callable] = {
    aten.add.Tensor: _B["add"],
    aten.add.Scalar: _B["add"],
    aten.sub.Tensor: _B["sub"],
    aten.sub.Scalar: _B["sub"],
    aten.rsub.Scalar: binary("sub", swap=True),
    aten.rsub.Tensor: binary("sub", swap=True),
    aten.mul.Tensor: _B["mul"],
    aten.mul.Scalar: _B["mul"],
    aten.div.Tensor: _B["div"],
    aten.div.Scalar: _B["div"],
    aten.div.Tensor_mode: rounded_division,
    aten.div.Scalar_mode: rounded_division,
    aten.floor_divide.default: rounded_division,
    aten.floor_divide.Scalar: rounded_division,
    aten.pow.Tensor_Scalar: _B["pow"],
    aten.pow.Tensor_Tensor: _B["pow"],
    aten.pow.Scalar: binary("pow"),
    aten.maximum.default: _B["max"],
    aten.minimum.default: _B["min"],
    **{getattr(aten, fn).Tensor: _B[fn] for fn in _COMPARE},
    **{getattr(aten, fn).Scalar: _B[fn] for fn in _COMPARE},
    aten.logical_and.default: _B["and"],
    aten.logical_or.default: _B["or"],
    aten.logical_xor.default: _B["xor"],
    aten.logical_not.default: unary("not"),
    aten.__and__.Tensor: _B["and"],
    aten.__or__.Tensor: _B["or"],
    aten.__xor__.Tensor: _B["xor"],
    aten.bitwise_and.Tensor: _B["and"],
    aten.bitwise_or.Tensor: _B["or"],
    aten.bitwise_xor.Tensor: _B["xor"],
    aten.bitwise_not.default: unary("not"),
    **{
        getattr(aten, fn).default: unary(fn)
        for fn in (
            "sqrt",
            "rsqrt",
            "exp",
            "log",
            "erf",
            "tanh",
            "sigmoid",
            "sin",
            "cos",
            "reciprocal",
            "floor",
            "trunc",
        )
    },
    aten.ceil.default: unary("ceil"),
    aten.abs.default: unary("abs"),
    aten.neg.default: unary("neg"),
    aten.sign.default: unary("sign"),
    aten.relu.default: unary("relu"),
    aten.square.default: unary("square"),
    aten.gelu.default: gelu,
    aten.silu.default: silu,
    aten.hardswish.default: hardswish,
    aten.hardsigmoid.default: hardsigmoid,
    aten.where.self: where,
    aten.where.ScalarOther: where,
    aten.where.ScalarSelf: where,
    aten.where.Scalar: where,
    aten.masked_fill.Scalar: masked_fill,
    aten.masked_fill.Tensor: masked_fill,
    aten.clamp.default: clip,
    aten.clamp_min.default: clip_one("min"),
    aten.clamp_max.default: clip_one("max"),
    aten.to.dtype: to_dtype,
    aten.to.dtype_layout: to_dtype,
    aten._to_copy.default: to_dtype,
    aten.type_as.default: to_dtype,
}
