"""Merge layers: element-wise Add/Subtract/Multiply/Average/Maximum, Concatenate and Dot.

Inputs must share a layout (letters in the same order) and, except along the
concatenation axis, their sizes. The element-wise layers also broadcast an
axis of size 1 (never the batch axis), as Keras's merge layers and numpy do:
``Multiply()([x, gate])`` with ``x`` of shape ``(N, 8, 8, 32)`` and ``gate`` of
shape ``(N, 1, 1, 32)`` (a squeeze-and-excitation gate) gives ``(N, 8, 8, 32)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LayoutError, ShapeError, show
from ..layout import check_layout, resolve_axis
from ..tensor import TensorSpec
from .base import Layer, as_axis, as_bool, register


def _same_layout(layer: Layer, inputs) -> str:
    layout = inputs[0].layout
    for spec in inputs[1:]:
        if spec.layout != layout:
            raise LayoutError(
                f"inputs must share one layout, got {' and '.join(repr(s.layout) for s in inputs)}", layer=layer.label
            )
    return layout


def _merge_dim(a, b):
    return a if b is None else b if a is None else a if a == b else False


def _broadcast_dim(a, b):
    """Like _merge_dim, and a size 1 stretches to the other size (an unknown size stays unknown)."""
    if a == 1 or b == 1:
        return b if a == 1 else a
    return _merge_dim(a, b)


@dataclass(frozen=True)
class _Elementwise(Layer):
    arity = None

    def infer(self, inputs):
        layout = _same_layout(self, inputs)
        shape = list(inputs[0].shape)
        for spec in inputs[1:]:
            for i, size in enumerate(spec.shape):
                merged = _broadcast_dim(shape[i], size) if layout[i] != "N" else _merge_dim(shape[i], size)
                if merged is False:
                    raise ShapeError(
                        f"input shapes differ: {' vs '.join(str(s.shape) for s in inputs)}", layer=self.label
                    )
                shape[i] = merged
        return TensorSpec(tuple(shape), layout)


@register
@dataclass(frozen=True)
class Add(_Elementwise):
    """Sum of the inputs."""


@register
@dataclass(frozen=True)
class Subtract(_Elementwise):
    """First input minus the second."""

    def infer(self, inputs):
        if len(inputs) != 2:
            raise ShapeError(f"expects exactly 2 inputs, got {len(inputs)}", layer=self.label)
        return super().infer(inputs)


@register
@dataclass(frozen=True)
class Multiply(_Elementwise):
    """Element-wise product of the inputs (size-1 axes broadcast).

    >>> from twinnet import ir
    >>> x, gate = ir.Input((8, 8, 32)), ir.Input((1, 1, 32))
    >>> Multiply()([x, gate]).shape
    (None, 8, 8, 32)
    """


@register
@dataclass(frozen=True)
class Average(_Elementwise):
    """Element-wise mean of the inputs."""


@register
@dataclass(frozen=True)
class Maximum(_Elementwise):
    """Element-wise maximum of the inputs."""


@register
@dataclass(frozen=True)
class Concatenate(Layer):
    """Concatenation along a logical axis (default C).

    >>> Concatenate(axis="C").axis
    'C'
    """

    axis: int | str = "C"
    arity = None

    def __post_init__(self):
        super().__post_init__()
        self._set("axis", as_axis(self, "axis", self.axis))

    def infer(self, inputs):
        layout = _same_layout(self, inputs)
        axis = resolve_axis(self.axis, layout, layer=self.label)
        if layout[axis] == "N":
            raise LayoutError("cannot concatenate along the batch axis", layer=self.label)
        shape = list(inputs[0].shape)
        total = 0
        for spec in inputs:
            for i, size in enumerate(spec.shape):
                if i == axis:
                    continue
                merged = _merge_dim(shape[i], size)
                if merged is False:
                    raise ShapeError(
                        f"inputs differ off the concatenation axis {layout[axis]!r}: "
                        f"{' vs '.join(str(s.shape) for s in inputs)}",
                        layer=self.label,
                    )
                shape[i] = merged
            total = None if total is None or spec.shape[axis] is None else total + spec.shape[axis]
        shape[axis] = total
        return TensorSpec(tuple(shape), layout)


@register
@dataclass(frozen=True)
class Dot(Layer):
    """Keras's ``Dot``: per sample, the product of two rank-3 inputs contracted over one axis of each.

    ``axes`` is one axis for both inputs or a pair, each a layout letter or an
    int position in the declared layout (batch included, as Keras counts).
    Per sample the inputs are matrices, so this is a batched matrix product:
    the output holds N, then the first input's other axis, then the second's,
    named by ``layout`` (default ``"NTC"``). Attention scores ``q . k`` over
    features: ``Dot(axes="C")([q, k])`` with ``q``, ``k`` of layout ``NTC``.
    Only rank-3 inputs (Keras's ``batch_dot`` of higher ranks keeps both
    inputs' extra axes, which is not a batched matmul); ``normalize=True``
    (cosine proximity) is not supported.

    >>> Dot(axes=2).axes
    (2, 2)
    """

    axes: int | str | tuple = -1
    normalize: bool = False
    layout: str | None = None
    arity = 2

    def __post_init__(self):
        super().__post_init__()
        axes = self.axes if isinstance(self.axes, (list, tuple)) else (self.axes, self.axes)
        if len(axes) != 2:
            self._fail(f"axes must be one axis or a pair, got {show(self.axes)}")
        self._set("axes", tuple(as_axis(self, "axes", a) for a in axes))
        if as_bool(self, "normalize", self.normalize):
            self._fail("normalize=True (cosine proximity) is not supported")
        self._set("normalize", False)
        if self.layout is not None:
            check_layout(self.layout, 3, layer=self.label)

    def infer(self, inputs):
        rest, contracted = [], []
        for spec, axis in zip(inputs, self.axes):
            if spec.rank != 3 or spec.dtype != "float32":
                raise ShapeError(
                    f"expects two float32 rank-3 inputs, got {spec.layout!r} {spec.dtype}", layer=self.label
                )
            i = resolve_axis(axis, spec.layout, layer=self.label)
            if spec.layout[i] == "N":
                raise LayoutError("cannot contract the batch axis N", layer=self.label)
            contracted.append(spec.shape[i])
            rest.append(next(s for j, (a, s) in enumerate(zip(spec.layout, spec.shape)) if a != "N" and j != i))
        if _merge_dim(*contracted) is False:
            raise ShapeError(f"contracted sizes differ: {contracted[0]} vs {contracted[1]}", layer=self.label)
        layout = self.layout or "NTC"
        shape = iter(rest)
        return TensorSpec(tuple(None if a == "N" else next(shape) for a in layout), layout)
