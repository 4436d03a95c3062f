"""Element-wise ops: ``Unary``, ``Binary`` (arithmetic, comparisons, logic), ``Where``, ``Clip``, ``Cast``.

Inputs broadcast by axis letter (:func:`.base.broadcast`): ``scores`` of
layout ``NATS`` plus a ``mask`` of layout ``NS`` (``S`` a free letter) gives
``NATS``; the order each input is declared in does not matter. A binary op
may take one tensor and a Python number (``scalar``): ``x * 0.5`` is
``Binary("mul", scalar=0.5)``, ``1 - x`` is ``Binary("sub", scalar=1.0,
scalar_first=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ShapeError, show
from ..layers.base import as_bool, as_choice, as_float
from ..tensor import TensorSpec
from .base import FLOAT, NUMERIC, Op, as_dtype, broadcast, register_op

#: Unary functions and the dtypes each takes (the result keeps the dtype).
UNARY = {
    **{fn: FLOAT for fn in ("sqrt", "rsqrt", "exp", "log", "erf", "tanh", "sigmoid", "sin", "cos", "reciprocal")},
    **{fn: FLOAT for fn in ("floor", "ceil", "trunc")},
    **{fn: NUMERIC for fn in ("abs", "neg", "square", "sign", "relu")},
    "not": ("bool",),
}
#: Binary functions: arithmetic keeps the dtype; comparisons give bool; logic takes and gives bool.
ARITHMETIC = {
    "add": NUMERIC,
    "sub": NUMERIC,
    "mul": NUMERIC,
    "div": FLOAT,
    "floordiv": NUMERIC,  # floor(a / b): float division then floor; integers exactly (toward minus infinity)
    "pow": FLOAT,
    "max": NUMERIC,
    "min": NUMERIC,
}
COMPARISON = ("eq", "ne", "lt", "le", "gt", "ge")
LOGIC = ("and", "or", "xor")
BINARY = (*ARITHMETIC, *COMPARISON, *LOGIC)


def _scalar(op: Op, field: str, value, dtype: str) -> None:
    """A scalar operand must fit its tensor's dtype (an integer for integer tensors, no scalar for bool)."""
    if dtype == "bool":
        op._fail(f"{field} cannot be used with a bool tensor", ShapeError)
    if dtype != "float32" and not float(value).is_integer():
        op._fail(f"{field} must be a whole number for a {dtype} tensor, got {value}", ShapeError)


@register_op
@dataclass(frozen=True)
class Unary(Op):
    """``fn`` applied to every entry (``"sqrt"``, ``"exp"``, ``"erf"``, ``"abs"``, ... see :data:`UNARY`).

    >>> from twinnet import ir
    >>> Unary("rsqrt")(ir.Input((4,))).shape
    (None, 4)
    """

    fn: str

    def __post_init__(self):
        super().__post_init__()
        as_choice(self, "fn", self.fn, tuple(UNARY))

    def infer(self, inputs):
        self.check_dtypes(inputs, UNARY[self.fn])
        return inputs[0]


@register_op
@dataclass(frozen=True)
class Binary(Op):
    """``fn(a, b)`` entry by entry, broadcasting by letter (see :data:`BINARY`).

    Two tensors, or one tensor and ``scalar`` (``scalar_first``: the scalar is
    the left operand, as in ``1 / x``). Comparisons give ``bool``.

    >>> from twinnet import ir
    >>> a, b = ir.Input((5, 4)), ir.Input((1, 4))
    >>> Binary("gt")([a, b]).dtype
    'bool'
    """

    fn: str
    scalar: float | None = None
    scalar_first: bool = False

    def __post_init__(self):
        super().__post_init__()
        as_choice(self, "fn", self.fn, BINARY)
        if self.scalar is not None:
            self._set("scalar", as_float(self, "scalar", self.scalar))
        as_bool(self, "scalar_first", self.scalar_first)
        if self.scalar_first and self.scalar is None:
            self._fail("scalar_first=True needs a scalar")

    def _check_arity(self, inputs):
        want = 1 if self.scalar is not None else 2
        if len(inputs) != want:
            raise ShapeError(f"expects {want} input(s) with scalar={self.scalar}, got {len(inputs)}", layer=self.label)

    def infer(self, inputs):
        allowed = ARITHMETIC.get(self.fn, ("bool",) if self.fn in LOGIC else NUMERIC)
        dtype = self.check_dtypes(inputs, allowed)
        if self.scalar is not None:
            _scalar(self, "scalar", self.scalar, dtype)
        layout, shape = broadcast(self, inputs)
        return TensorSpec(shape, layout, "bool" if self.fn in COMPARISON else dtype)


@register_op
@dataclass(frozen=True)
class Where(Op):
    """``x`` where ``condition`` holds, else ``y``: inputs ``[condition, x, y]`` (bool, then one dtype).

    ``x`` or ``y`` may be a number instead of a tensor (``masked_fill``:
    ``Where(y=-1e9)``); the inputs are then ``[condition, x]`` or
    ``[condition, y]``, in that order.
    """

    x: float | None = None
    y: float | None = None

    arity = None

    def __post_init__(self):
        super().__post_init__()
        for field in ("x", "y"):
            if getattr(self, field) is not None:
                self._set(field, as_float(self, field, getattr(self, field)))

    def _check_arity(self, inputs):
        want = 3 - (self.x is not None) - (self.y is not None)
        if len(inputs) != want:
            raise ShapeError(f"expects {want} inputs (the condition first), got {len(inputs)}", layer=self.label)

    def infer(self, inputs):
        self.check_dtypes(inputs[:1], ("bool",), "the condition")
        if len(inputs) > 1:
            dtype = self.check_dtypes(inputs[1:], NUMERIC, "the values")
            for field in ("x", "y"):
                if getattr(self, field) is not None:
                    _scalar(self, field, getattr(self, field), dtype)
        else:
            dtype = "float32"
        layout, shape = broadcast(self, inputs)
        return TensorSpec(shape, layout, dtype)


@register_op
@dataclass(frozen=True)
class Clip(Op):
    """Entries limited to ``[low, high]`` (either bound may be None; at least one is given)."""

    low: float | None = None
    high: float | None = None

    def __post_init__(self):
        super().__post_init__()
        for field in ("low", "high"):
            if getattr(self, field) is not None:
                self._set(field, as_float(self, field, getattr(self, field)))
        if self.low is None and self.high is None:
            self._fail("needs low, high or both")
        if self.low is not None and self.high is not None and self.low > self.high:
            self._fail(f"low must be <= high, got {show(self.low)} > {show(self.high)}")

    def infer(self, inputs):
        dtype = self.check_dtypes(inputs, NUMERIC)
        for field in ("low", "high"):
            if getattr(self, field) is not None:
                _scalar(self, field, getattr(self, field), dtype)
        return inputs[0]


@register_op
@dataclass(frozen=True)
class Cast(Op):
    """The input converted to ``dtype`` (floats to integers round toward zero; nonzero to bool is True)."""

    dtype: str

    def __post_init__(self):
        super().__post_init__()
        as_dtype(self, "dtype", self.dtype)

    def infer(self, inputs):
        spec = inputs[0]
        return TensorSpec(spec.shape, spec.layout, self.dtype)
