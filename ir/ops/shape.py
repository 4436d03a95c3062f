"""Ops that move entries without arithmetic: ``Transpose``, ``View`` (reshape), ``Concat``, ``Narrow`` (slice).

``Transpose`` only renames the order of the letters: what each axis means
stays, and a backend moves data only where a later op needs positions
(``View``, ``MatMul``), once. ``View`` reads the non-batch axes row-major in
declared order with the batch axis first, as ``x.reshape(n, ...)`` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import LayoutError, ShapeError, show
from ..layers.base import as_int
from ..layout import check_layout, free_letters
from ..tensor import MAX_DIM, TensorSpec
from .base import Op, as_letter, has_letters, register_op


@register_op
@dataclass(frozen=True)
class Transpose(Op):
    """The input's axes in the order ``layout`` lists them (its letters, permuted; ``N`` anywhere)."""

    layout: str

    def __post_init__(self):
        super().__post_init__()
        check_layout(self.layout, layer=self.label)

    def infer(self, inputs):
        spec = inputs[0]
        if sorted(self.layout) != sorted(spec.layout):
            raise LayoutError(f"layout {self.layout!r} is not a permutation of {spec.layout!r}", layer=self.label)
        return TensorSpec(tuple(spec.dim(a) for a in self.layout), self.layout, spec.dtype)


@register_op
@dataclass(frozen=True)
class View(Op):
    """The non-batch entries, read row-major in declared order (batch first), as ``shape`` (one may be -1).

    ``layout`` names the result's axes, ``N`` first (default ``N`` then free
    letters). An unknown input size (a symbolic length) needs the -1.

    ``merge`` and ``split`` let the reshape cross the batch axis, as
    ``x.reshape(-1, *shape)`` does on the whole tensor: with ``merge=k`` each
    sample's entries make ``k`` result samples (a window partition: ``(N, 4,
    2, 2, C)`` -> ``(N * 4, 2, 2, C)``), with ``split=k`` each run of ``k``
    consecutive samples makes one (its reverse). The result's batch axis still
    has the letter ``N``, and its size stays symbolic: it counts ``N * k`` or
    ``N / k`` items. Both need every size known; at most one of them is not 1.

    >>> from twinnet import ir
    >>> View((6, 2, 2), "NTAC")(ir.Input((6, 4))).shape
    (None, 6, 2, 2)
    >>> View((2, 4), "NTC", merge=3)(ir.Input((6, 4))).shape
    (None, 2, 4)
    """

    shape: tuple[int, ...]
    layout: str | None = None
    merge: int = 1
    split: int = 1

    def __post_init__(self):
        super().__post_init__()
        shape = self.shape
        if not isinstance(shape, (list, tuple)) or not shape:
            self._fail(f"shape must be a non-empty tuple of sizes (after the batch axis), got {show(shape)}")
        shape = tuple(-1 if s == -1 else as_int(self, "shape", s) for s in shape)
        if shape.count(-1) > 1:
            self._fail(f"shape may have one -1, got {shape}")
        self._set("shape", shape)
        layout = self.layout if self.layout is not None else "N" + free_letters("N", len(shape))
        check_layout(layout, len(shape) + 1, layer=self.label)
        if layout[0] != "N":
            self._fail(f"layout must put N first, got {layout!r}")
        self._set("layout", layout)
        self._set("merge", as_int(self, "merge", self.merge))
        self._set("split", as_int(self, "split", self.split))
        if self.merge != 1 and self.split != 1:
            self._fail(f"merge and split cannot both differ from 1, got merge={self.merge}, split={self.split}")

    @property
    def crosses_batch(self) -> bool:
        """Whether the result's batch axis counts other items than the input's (``merge`` or ``split``)."""
        return self.merge != 1 or self.split != 1

    def infer(self, inputs):
        spec = inputs[0]
        sizes = [s for a, s in zip(spec.layout, spec.shape) if a != "N"]
        known = math.prod(self.shape) * (-1 if -1 in self.shape else 1)
        if None in sizes:
            if self.crosses_batch:
                raise ShapeError(
                    f"a view across the batch axis needs every size known, the input has {spec.shape}",
                    layer=self.label,
                )
            if -1 not in self.shape:
                raise ShapeError(f"the input has an unknown size {spec.shape}: shape needs a -1", layer=self.label)
            return TensorSpec((None, *(None if s == -1 else s for s in self.shape)), self.layout, spec.dtype)
        total = math.prod(sizes)
        if self.merge != 1:
            if total % self.merge:
                raise ShapeError(f"cannot merge {total} entries per sample into {self.merge} samples", layer=self.label)
            total //= self.merge
        total *= self.split
        if -1 in self.shape:
            if total % known:
                raise ShapeError(f"cannot view {total} entries as {self.shape}", layer=self.label)
            out = tuple(total // known if s == -1 else s for s in self.shape)
        else:
            out = self.shape
        if math.prod(out) != total:
            what = f"{total} entries" + (
                f" per result sample (merge={self.merge}, split={self.split})" if self.crosses_batch else ""
            )
            raise ShapeError(f"cannot view {spec.shape} ({what}) as {out}", layer=self.label)
        if max(out) > MAX_DIM:
            raise ShapeError(f"a size of {out} is over {MAX_DIM}", layer=self.label)
        return TensorSpec((None, *out), self.layout, spec.dtype)


@register_op
@dataclass(frozen=True)
class Concat(Op):
    """Inputs joined along axis ``axis`` (a letter); they have the same letters (any order) and dtype."""

    axis: str
    arity = None

    def __post_init__(self):
        super().__post_init__()
        self._set("axis", as_letter(self, "axis", self.axis))

    def _check_arity(self, inputs):
        if not inputs:
            raise ShapeError("expects one or more inputs", layer=self.label)

    def infer(self, inputs):
        first = inputs[0]
        dtype = self.check_dtypes(inputs, ("float32", "int32", "int64", "bool"))
        has_letters(self, first, self.axis)
        total = 0
        for spec in inputs:
            if sorted(spec.layout) != sorted(first.layout):
                raise LayoutError(
                    f"inputs must have the same axes, got {' and '.join(repr(s.layout) for s in inputs)}",
                    layer=self.label,
                )
            for a in first.layout:
                if (
                    a not in ("N", self.axis)
                    and None not in (spec.dim(a), first.dim(a))
                    and spec.dim(a) != first.dim(a)
                ):
                    raise ShapeError(
                        f"inputs differ off axis {self.axis!r}: {' vs '.join(f'{s.layout} {s.shape}' for s in inputs)}",
                        layer=self.label,
                    )
            size = spec.dim(self.axis)
            total = None if total is None or size is None else total + size
        shape = tuple(total if a == self.axis else first.dim(a) for a in first.layout)
        return TensorSpec(shape, first.layout, dtype)


@register_op
@dataclass(frozen=True)
class Narrow(Op):
    """Entries ``start``, ``start + step``, ... below ``stop`` of axis ``axis`` (``x[..., start:stop:step]``).

    ``stop=None`` runs to the end; the axis needs a known size.
    """

    axis: str
    start: int = 0
    stop: int | None = None
    step: int = 1

    def __post_init__(self):
        super().__post_init__()
        self._set("axis", as_letter(self, "axis", self.axis))
        self._set("start", as_int(self, "start", self.start, minimum=0))
        if self.stop is not None:
            self._set("stop", as_int(self, "stop", self.stop, minimum=self.start + 1))
        self._set("step", as_int(self, "step", self.step))

    def indices(self, spec: TensorSpec) -> range:
        """The kept entries of the axis."""
        has_letters(self, spec, self.axis)
        size = spec.dim(self.axis)
        if size is None:
            raise ShapeError(f"needs the size of axis {self.axis!r} to be known", layer=self.label)
        stop = size if self.stop is None else self.stop
        if stop > size or self.start >= stop:
            raise ShapeError(
                f"range [{self.start}, {stop}) does not fit axis {self.axis!r} of size {size}", layer=self.label
            )
        return range(self.start, stop, self.step)

    def infer(self, inputs):
        spec = inputs[0]
        kept = len(self.indices(spec))
        return TensorSpec(
            tuple(kept if a == self.axis else s for a, s in zip(spec.layout, spec.shape)), spec.layout, spec.dtype
        )
