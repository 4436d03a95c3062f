"""Keras importer entries for element-wise ``keras.ops`` calls: math and activations (``Unary``,
``Activation``), arithmetic and comparisons with tensors or numbers (``Binary``), ``where``, ``clip``, ``cast``.

Each entry takes ``(node, inputs)`` (see ``ops_helpers.py``). Two tensor
operands are paired by position as Keras pairs them (``aligned``); a number
operand becomes the op's ``scalar``, on the side Keras had it (``1 - x``).
"""

from __future__ import annotations

import math

from keras.src.ops import core as kcore
from keras.src.ops import math as kmath
from keras.src.ops import nn as knn
from keras.src.ops import numpy as knp

from ....ir import layers as L
from ....ir import ops as O
from ....ir.errors import IRError, UnsupportedError
from .ops_helpers import Composite, aligned, number, option


def unary(fn: str):
    def convert(node, inputs):
        return O.Unary(fn), {}

    return convert


def activation(name: str, **fixed):
    """A ``keras.ops.nn`` activation the IR has as an ``Activation`` (its options read from the call)."""

    def convert(node, inputs):
        options = {field: option(node, attr) for field, attr in fixed.items()}
        return L.Activation(name, **options), {}

    return convert


def relu6(node, inputs):
    return O.Clip(0.0, 6.0), {}


def _with_tensors(op_factory, node, inputs):
    """``op_factory(scalars)`` applied to ``inputs`` paired by position; a composite when they need relabelling."""

    def build(tensors, name, fresh):
        tensors = aligned(list(tensors), fresh)
        return op_factory().replace(name=name)(*tensors), {}

    if len(inputs) > 1 and len({x.layout for x in inputs}) > 1:
        return Composite(build)
    return op_factory(), {}


#: the merge layer a ``Binary`` of two tensors in one layout is, as the torch and ONNX importers read ``x + y``
_MERGES = {"add": L.Add, "sub": L.Subtract, "mul": L.Multiply, "max": L.Maximum}


def _merge(fn: str, inputs):
    """``fn``'s merge layer where both tensors are float32 in one layout and it takes them (size-1 axes
    broadcast), else None: ``x + y`` imports as ``Add`` from every framework. A learned tensor read directly
    stays a ``Binary`` operand, as the torch importer reads a parameter."""
    if fn not in _MERGES or len(inputs) != 2 or any(x is None for x in inputs):
        return None
    if any(isinstance(x.node.layer, (O.Learned, L.LearnedConstant)) for x in inputs):
        return None
    if len({x.layout for x in inputs}) != 1 or any(x.dtype != "float32" for x in inputs):
        return None
    layer = _MERGES[fn]()
    try:
        layer.infer([x.spec for x in inputs])
    except IRError:
        return None
    return layer


#: a ``Binary`` with a number that is a ``Clip`` with one bound -> that bound (``keras.ops.minimum(x, 7)``, which
#: to_keras writes for an integer Clip with one bound, is ``Clip(high=7)``, as from_torch reads ``clamp(max=7)``)
_BOUNDS = {"min": "high", "max": "low"}


def binary(fn: str):
    def convert(node, inputs):
        args = node.arguments.args
        if len(args) != 2:
            raise UnsupportedError(f"expected two operands, got {len(args)}")
        a, b = (number(v, "an operand") for v in args)
        if a is not None and b is not None:
            raise UnsupportedError("both operands are numbers")
        if a is None and b is None:
            merge = _merge(fn, inputs)
            if merge is not None:
                return merge, {}
            return _with_tensors(lambda: O.Binary(fn), node, inputs)
        n = a if b is None else b
        if fn in _BOUNDS:  # min or max with a number is a bound: the Clip torch's clamp reads as
            return O.Clip(**{_BOUNDS[fn]: n}), {}
        return O.Binary(fn, scalar=n, scalar_first=b is None), {}

    return convert


def where(node, inputs):
    args = node.arguments.args
    if len(args) != 3:
        raise UnsupportedError("keras.ops.where with only a condition (the indices form) is not supported")
    cond = number(args[0], "the condition")
    if cond is not None:
        raise UnsupportedError("the condition is a constant")
    x, y = (number(v, "a value") for v in args[1:])
    return _with_tensors(lambda: O.Where(x=x, y=y), node, inputs)


def clip(node, inputs):
    low, high = (number(option(node, k), k) for k in ("x_min", "x_max"))
    # an infinite bound is no bound (how the Keras backend writes a Clip with one bound)
    return O.Clip(None if low == -math.inf else low, None if high == math.inf else high), {}


def cast(node, inputs):
    dtype = str(option(node, "dtype"))
    if dtype not in ("float32", "int32", "int64", "bool"):
        raise UnsupportedError(f"cast to {dtype}: the IR's dtypes are float32, int32, int64 and bool")
    return O.Cast(dtype), {}


_UNARY = {
    knp.Sqrt: "sqrt",
    kmath.Rsqrt: "rsqrt",
    knp.Exp: "exp",
    knp.Log: "log",
    kmath.Erf: "erf",
    knp.Tanh: "tanh",
    knn.Sigmoid: "sigmoid",
    knp.Sin: "sin",
    knp.Cos: "cos",
    knp.Reciprocal: "reciprocal",
    knp.Floor: "floor",
    knp.Ceil: "ceil",
    knp.Trunc: "trunc",
    knp.Absolute: "abs",
    knp.Negative: "neg",
    knp.Square: "square",
    knp.Sign: "sign",
    knn.Relu: "relu",
    knp.LogicalNot: "not",
}
_BINARY = {
    knp.Add: "add",
    knp.Subtract: "sub",
    knp.Multiply: "mul",
    knp.TrueDivide: "div",
    knp.Divide: "div",
    knp.FloorDivide: "floordiv",
    knp.Power: "pow",
    knp.Maximum: "max",
    knp.Minimum: "min",
    knp.Equal: "eq",
    knp.NotEqual: "ne",
    knp.Less: "lt",
    knp.LessEqual: "le",
    knp.Greater: "gt",
    knp.GreaterEqual: "ge",
    knp.LogicalAnd: "and",
    knp.LogicalOr: "or",
    knp.LogicalXor: "xor",
}

TABLE = {
    **{cls: unary(fn) for cls, fn in _UNARY.items()},
    **{cls: binary(fn) for cls, fn in _BINARY.items()},
    knn.Silu: activation("silu"),
    knn.Gelu: activation("gelu", approximate="approximate"),
    knn.Elu: activation("elu", alpha="alpha"),
    knn.Selu: activation("selu"),
    knn.Softplus: activation("softplus"),
    knn.HardSigmoid: activation("hard_sigmoid"),
    knn.HardSilu: activation("hard_swish"),
    knn.LeakyRelu: activation("leaky_relu", negative_slope="negative_slope"),
    knn.Relu6: relu6,
    knp.Where: where,
    knp.Clip: clip,
    kcore.Cast: cast,
}
