"""Reductions over named axes: ``Reduce`` (mean, sum, max, min, var), and ``Softmax`` / log-softmax over one axis."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ShapeError
from ..layers.base import as_bool, as_choice, as_int
from ..tensor import TensorSpec
from .base import FLOAT, NUMERIC, Op, as_letter, as_letters, has_letters, register_op

REDUCTIONS = {"mean": FLOAT, "sum": NUMERIC, "max": NUMERIC, "min": NUMERIC, "var": FLOAT}


@register_op
@dataclass(frozen=True)
class Reduce(Op):
    """``fn`` over the axes ``axes`` (letters), each dropped from the result unless ``keepdims``.

    ``var`` is the variance with ``correction`` subtracted from the count
    (0: the population variance, Keras's; 1: the sample variance, torch's default).

    >>> from twinnet import ir
    >>> Reduce("mean", "T")(ir.Input((6, 4))).layout
    'NC'
    """

    fn: str
    axes: str
    keepdims: bool = False
    correction: int = 0

    def __post_init__(self):
        super().__post_init__()
        as_choice(self, "fn", self.fn, tuple(REDUCTIONS))
        self._set("axes", as_letters(self, "axes", self.axes))
        as_bool(self, "keepdims", self.keepdims)
        self._set("correction", as_int(self, "correction", self.correction, minimum=0))
        if self.correction and self.fn != "var":
            self._fail("correction applies to var only")

    def infer(self, inputs):
        spec = inputs[0]
        dtype = self.check_dtypes(inputs, REDUCTIONS[self.fn])
        has_letters(self, spec, self.axes)
        if self.correction:
            count = 1
            for a in self.axes:
                if spec.dim(a) is None:
                    raise ShapeError(f"var with a correction needs the size of axis {a!r}", layer=self.label)
                count *= spec.dim(a)
            if count <= self.correction:
                raise ShapeError(f"{count} entries are too few for correction={self.correction}", layer=self.label)
        if self.keepdims:
            return TensorSpec(
                tuple(1 if a in self.axes else s for a, s in zip(spec.layout, spec.shape)), spec.layout, dtype
            )
        kept = [(a, s) for a, s in zip(spec.layout, spec.shape) if a not in self.axes]
        return TensorSpec(tuple(s for _, s in kept), "".join(a for a, _ in kept), dtype)


@register_op
@dataclass(frozen=True)
class Softmax(Op):
    """Softmax over axis ``axis`` (a letter); ``log=True`` gives its logarithm (log-softmax), computed stably."""

    axis: str
    log: bool = False

    def __post_init__(self):
        super().__post_init__()
        self._set("axis", as_letter(self, "axis", self.axis))
        as_bool(self, "log", self.log)

    def infer(self, inputs):
        self.check_dtypes(inputs, FLOAT)
        has_letters(self, inputs[0], self.axis)
        return inputs[0]
