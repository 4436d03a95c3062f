"""Arithmetic: a tensor and a constant number -> IR ``Rescaling(scale, offset)``; ``a @ b`` -> IR ``Dot``.

``x * c``, ``x + c``, ``c + x``, ``x - c``, ``c - x``, ``x / c`` and ``-x``
are ``x * scale + offset`` with one number each. Every form but division is
exact in float32: the IR computes ``x * scale + offset`` and one of the two
is the identity (``* 1.0``, ``+ 0.0``). ``x / c`` becomes ``x * (1 / c)``,
which can differ from torch's division by one rounding of ``1 / c`` and one
of the product: about 1.2e-7 relative, far inside the float32 tolerance
(rtol 1e-4); ``c / x`` (a reciprocal) has no IR layer and is refused.

A constant is a Python number, or a one-element tensor that ``symbolic_trace``
captured as a constant (``torch.tensor(0.5)`` in ``forward``) or that the
module keeps as a buffer; a one-element ``nn.Parameter`` is not folded (it
is a trained weight the IR would turn into configuration).

``a @ b`` (``matmul``, ``bmm``) of two rank-3 batch-first activations is
``Dot(axes=(2, 1))``: a batch of matrix products, as in a hand-written
single-head attention ``softmax(q @ k.transpose(-2, -1) * scale) @ v``
(the transpose is an IR Permute, which moves no data in the IR).
"""

from __future__ import annotations

import math
import operator

import torch
from torch import nn

from .... import ir
from ....ir import layers as L
from ....ir.errors import UnsupportedError
from ..common.spellings import number_affine
from .capture import guess_layout, layout_for
from .recurrent import Lazy

__all__ = ["ARITH_FUNCTIONS", "ARITH_METHODS", "constant_of", "with_constant"]


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def constant_of(value) -> float | None:
    """A get_attr target's value as a number, where it is a one-element float buffer or traced constant."""
    if (
        isinstance(value, torch.Tensor)
        and not isinstance(value, nn.Parameter)
        and value.numel() == 1
        and value.is_floating_point()
    ):
        return float(value.reshape(()))
    return None


_FN = {operator.add: "add", operator.sub: "sub", operator.mul: "mul", operator.truediv: "div"}


def with_constant(ctx, call, op, a, b):
    """``a op b`` where exactly one of ``a``, ``b`` is a number: a Rescaling of the other."""
    c = b if is_number(b) else a
    if not math.isfinite(c):
        raise UnsupportedError(f"the constant {c!r} is not finite")
    tensor_first = is_number(b)
    x = ctx.tensor(a if tensor_first else b)
    if x.spec.dtype != "float32":
        raise UnsupportedError(f"arithmetic on a {x.spec.dtype} tensor is not supported (Rescaling is float32)")
    if op is operator.truediv and tensor_first and c == 0:
        raise UnsupportedError("division by the constant 0 is not supported")
    if op not in _FN:
        raise UnsupportedError(f"{getattr(op, '__name__', op)} of a tensor and a constant has no IR layer")
    affine = number_affine(_FN[op], c, scalar_first=not tensor_first)
    if affine is None:
        raise UnsupportedError("a constant divided by a tensor (a reciprocal) has no IR layer")
    scale, offset = affine  # x / c: within ~1e-7 relative of torch's (module docstring)
    return ctx.add(call, L.Rescaling(scale, offset), [x])


def divide(ctx, call):
    a, b = call.arg(0, "input"), call.arg(1, "other")
    if not isinstance(a, (ir.Tensor, Lazy)) and not isinstance(b, (ir.Tensor, Lazy)):
        return a / b  # arithmetic on sizes
    if call.kwargs.get("rounding_mode") is not None:
        raise UnsupportedError("rounding_mode= (floor or trunc division) is not supported")
    if not (is_number(a) or is_number(b)):
        raise UnsupportedError("division of two tensors has no IR layer")
    return with_constant(ctx, call, operator.truediv, a, b)


def negate(ctx, call):
    return ctx.add(call, L.Rescaling(-1.0), [ctx.tensor(call.arg(0, "input"))])


def matmul(ctx, call):
    """``a @ b`` / ``torch.matmul`` / ``torch.bmm`` of two rank-3 batch-first activations -> IR ``Dot``."""
    a, b = (
        ctx.tensor(call.arg(i, key))
        for i, key in ((0, "input"), (1, "other" if call.kwargs.get("other") is not None else "mat2"))
    )
    if a.spec.rank != 3 or b.spec.rank != 3:
        raise UnsupportedError(
            f"only a product of two rank-3 tensors (a batch of matrices) is supported, got ranks "
            f"{a.spec.rank} and {b.spec.rank} (multi-head products batch over more axes)"
        )
    if a.layout[0] != "N" or b.layout[0] != "N" or ctx.n_pos(call.node) != 0:
        raise UnsupportedError(f"needs the batch axis first in both operands ({a.layout}, {b.layout})")
    layout = guess_layout(ctx.gm, call.node, 3, False)
    if layout.index("N") != 0:
        layout = layout_for(3, 0, 1)
    return ctx.add(call, L.Dot(axes=(2, 1), layout=layout), [a, b])


ARITH_FUNCTIONS = {
    operator.truediv: divide,
    torch.div: divide,
    torch.true_divide: divide,
    operator.neg: negate,
    torch.neg: negate,
    operator.matmul: matmul,
    torch.matmul: matmul,
    torch.bmm: matmul,
}
ARITH_METHODS = {
    torch.Tensor.div: divide,
    torch.Tensor.true_divide: divide,
    torch.Tensor.neg: negate,
    torch.Tensor.matmul: matmul,
    torch.Tensor.bmm: matmul,
}
