"""Slice: a contiguous range ``[start, stop)`` of one axis, named by its layout letter.

Keras has no slicing layer; ``Slice`` is what a torch ``x[:, a:b]``,
``torch.split``, ``chunk`` or ``narrow`` along any non-batch axis becomes
(the channel halves of a GLU gate, the branches of an inception block).
The axis is a letter (``"C"``) or an int position in the declared layout, as
``Concatenate(axis=...)``; ``stop=None`` runs to the end. Sizes stay known:
the sliced axis needs a known size (``stop`` is checked against it).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import LayoutError, ShapeError
from ..layout import resolve_axis
from ..tensor import TensorSpec
from .base import Layer, as_axis, as_int, register


@register
@dataclass(frozen=True)
class Slice(Layer):
    """Keep entries ``start`` to ``stop - 1`` of ``axis`` (``x[:, start:stop]`` for axis 1).

    >>> Slice("C", 2, 5).stop
    5
    """

    axis: int | str = "C"
    start: int = 0
    stop: int | None = None

    def __post_init__(self):
        super().__post_init__()
        self._set("axis", as_axis(self, "axis", self.axis))
        self._set("start", as_int(self, "start", self.start, minimum=0))
        if self.stop is not None:
            self._set("stop", as_int(self, "stop", self.stop, minimum=self.start + 1))

    def bounds(self, spec: TensorSpec) -> tuple[int, int, int]:
        """(declared index of the axis, start, stop) with ``stop`` resolved against the axis size."""
        i = resolve_axis(self.axis, spec.layout, layer=self.label)
        if spec.layout[i] == "N":
            raise LayoutError("cannot slice the batch axis N", layer=self.label)
        size = spec.shape[i]
        if size is None:
            raise ShapeError(f"needs the size of axis {spec.layout[i]!r} to be known", layer=self.label)
        stop = size if self.stop is None else self.stop
        if stop > size or self.start >= stop:
            raise ShapeError(
                f"range [{self.start}, {stop}) does not fit axis {spec.layout[i]!r} of size {size}", layer=self.label
            )
        return i, self.start, stop

    def infer(self, inputs):
        spec = inputs[0]
        i, start, stop = self.bounds(spec)
        shape = list(spec.shape)
        shape[i] = stop - start
        return TensorSpec(tuple(shape), spec.layout, spec.dtype)
