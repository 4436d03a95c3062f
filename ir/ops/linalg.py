"""Linear algebra: ``MatMul`` of any rank."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LayoutError, ShapeError
from ..layout import check_layout, free_letters
from ..tensor import TensorSpec
from .base import FLOAT, Op, register_op


def batch_first(layout: str) -> str:
    return "N" + layout.replace("N", "")


@register_op
@dataclass(frozen=True)
class MatMul(Op):
    """Matrix product over the last two axes of each input, as declared with the batch axis first.

    ``a`` is ``(..., M, K)`` and ``b`` is ``(..., K, P)``: the leading axes
    (batch included) are the same letters in the same order on both (a size 1
    broadcasts), and ``K`` agrees in size (its letters may differ). The result
    is ``(..., M, P)``, named like ``a`` with ``K``'s letter replaced by ``P``'s
    (by the first free letter not in either input if ``P``'s is taken, as in
    the example), or as ``layout`` says (batch first).

    >>> from twinnet import ir
    >>> q, k = ir.Input((2, 5, 4), layout="NATC"), ir.Input((2, 4, 5), layout="NACT")
    >>> MatMul()([q, k]).layout
    'NATB'
    """

    layout: str | None = None
    arity = 2

    def __post_init__(self):
        super().__post_init__()
        if self.layout is not None:
            check_layout(self.layout, layer=self.label)

    def infer(self, inputs):
        self.check_dtypes(inputs, FLOAT)
        a, b = inputs
        la, lb = batch_first(a.layout), batch_first(b.layout)
        if len(la) < 3 or len(la) != len(lb):
            raise ShapeError(
                f"expects two inputs of one rank, at least 3 (batch and a matrix), got {a.layout!r} and {b.layout!r}",
                layer=self.label,
            )
        if la[:-2] != lb[:-2]:
            raise LayoutError(
                f"the leading axes must be the same letters in the same order, got {la[:-2]!r} and {lb[:-2]!r}",
                layer=self.label,
            )
        shape = []
        for letter in la[:-2]:
            s, t = a.dim(letter), b.dim(letter)
            if s != t and 1 not in (s, t) and None not in (s, t):
                raise ShapeError(f"axis {letter!r} differs: {s} vs {t}", layer=self.label)
            shape.append(t if s == 1 else s if t == 1 or t is None else t)
        k1, k2 = a.dim(la[-1]), b.dim(lb[-2])
        if k1 is not None and k2 is not None and k1 != k2:
            raise ShapeError(f"contracted sizes differ: {la[-1]!r} of {k1} vs {lb[-2]!r} of {k2}", layer=self.label)
        shape += [a.dim(la[-2]), b.dim(lb[-1])]
        last = lb[-1] if lb[-1] not in la[:-1] else free_letters(la + lb, 1)
        layout = la[:-1] + last
        if self.layout is not None:
            check_layout(self.layout, len(layout), layer=self.label)
            if self.layout[0] != "N":
                raise LayoutError(f"layout must put N first, got {self.layout!r}", layer=self.label)
            layout = self.layout
        return TensorSpec(tuple(shape), layout)
