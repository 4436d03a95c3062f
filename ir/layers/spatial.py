"""Spatial reshaping without weights: zero padding, cropping and upsampling (1-D and 2-D).

Each acts on the input's spatial axes (the axes other than ``N`` and ``C``,
in declared order: ``HW`` for ``NHWC`` and ``NCHW`` alike, ``W`` or ``T`` for
rank-3 inputs), wherever the layout puts them. Arguments follow Keras:

* ``padding`` / ``cropping``: an int (every side), one int per axis
  (symmetric: ``ZeroPadding2D((1, 2))`` pads H by 1 and W by 2 on each side),
  or one ``(before, after)`` pair per axis (``((top, bottom), (left, right))``).
  ``ZeroPadding1D`` / ``Cropping1D`` read a pair of ints as ``(before, after)``,
  as Keras does. Stored as one ``(before, after)`` pair per axis.
* ``size``: an int or one int per axis; upsampling repeats each element
  ``size`` times ('nearest'), or interpolates with half-pixel centres
  ('bilinear', TensorFlow's ``resize`` without antialiasing).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ShapeError
from ..tensor import TensorSpec
from .base import Layer, as_choice, as_int, as_ints, register
from .conv import spatial_of


def as_pairs(layer: Layer, field: str, value, nd: int) -> tuple[tuple[int, int], ...]:
    """Keras's padding/cropping forms as one ``(before, after)`` pair per spatial axis."""
    if isinstance(value, int) and not isinstance(value, bool):
        p = as_int(layer, field, value, minimum=0)
        return ((p, p),) * nd
    if isinstance(value, (list, tuple)):
        items = list(value)
        if nd == 1 and len(items) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in items):
            items = [items]  # 1-D: (before, after), as Keras reads it
        if len(items) == nd:
            pairs = []
            for item in items:
                if isinstance(item, (list, tuple)) and len(item) == 2:
                    pairs.append(tuple(as_int(layer, field, v, minimum=0) for v in item))
                elif isinstance(item, int) and not isinstance(item, bool):
                    p = as_int(layer, field, item, minimum=0)
                    pairs.append((p, p))
                else:
                    break
            else:
                return tuple(pairs)
    layer._fail(f"{field} must be an int, {nd} int(s) or {nd} (before, after) pair(s), got {value!r}")


@dataclass(frozen=True)
class _Pad(Layer):
    padding: int | tuple = 1

    rank = 0

    def __post_init__(self):
        super().__post_init__()
        self._set("padding", as_pairs(self, "padding", self.padding, self.rank))

    def infer(self, inputs):
        spec = inputs[0]
        axes = spatial_of(self, spec, self.rank)
        shape = list(spec.shape)
        for axis, (before, after) in zip(axes, self.padding):
            i = spec.layout.index(axis)
            shape[i] = None if shape[i] is None else shape[i] + before + after
        return TensorSpec(tuple(shape), spec.layout, spec.dtype)


@register
@dataclass(frozen=True)
class ZeroPadding1D(_Pad):
    """Pad the one spatial axis with zeros.

    >>> ZeroPadding1D((1, 2)).padding
    ((1, 2),)
    """

    rank = 1


@register
@dataclass(frozen=True)
class ZeroPadding2D(_Pad):
    """Pad H and W with zeros.

    >>> ZeroPadding2D(((1, 2), (3, 4))).padding
    ((1, 2), (3, 4))
    >>> ZeroPadding2D((1, 2)).padding
    ((1, 1), (2, 2))
    """

    rank = 2


@dataclass(frozen=True)
class _Crop(Layer):
    cropping: int | tuple = 0

    rank = 0

    def __post_init__(self):
        super().__post_init__()
        self._set("cropping", as_pairs(self, "cropping", self.cropping, self.rank))

    def infer(self, inputs):
        spec = inputs[0]
        axes = spatial_of(self, spec, self.rank)
        shape = list(spec.shape)
        for axis, (before, after) in zip(axes, self.cropping):
            i = spec.layout.index(axis)
            if shape[i] is not None:
                if before + after >= shape[i]:
                    raise ShapeError(
                        f"cropping {before} + {after} leaves nothing of axis {axis!r} of size {shape[i]}",
                        layer=self.label,
                    )
                shape[i] -= before + after
        return TensorSpec(tuple(shape), spec.layout, spec.dtype)


@register
@dataclass(frozen=True)
class Cropping1D(_Crop):
    """Remove ``(before, after)`` elements from the ends of the one spatial axis (Keras's default crops 1 each).

    >>> Cropping1D().cropping
    ((1, 1),)
    """

    cropping: int | tuple = 1
    rank = 1


@register
@dataclass(frozen=True)
class Cropping2D(_Crop):
    """Remove rows and columns from the borders of H and W.

    >>> Cropping2D(((1, 0), (2, 3))).cropping
    ((1, 0), (2, 3))
    """

    rank = 2


INTERPOLATIONS = ("nearest", "bilinear")


@dataclass(frozen=True)
class _UpSample(Layer):
    size: int | tuple = 2

    rank = 0

    def __post_init__(self):
        super().__post_init__()
        self._set("size", as_ints(self, "size", self.size, self.rank))

    def infer(self, inputs):
        spec = inputs[0]
        axes = spatial_of(self, spec, self.rank)
        shape = list(spec.shape)
        for axis, k in zip(axes, self.size):
            i = spec.layout.index(axis)
            shape[i] = None if shape[i] is None else shape[i] * k
        return TensorSpec(tuple(shape), spec.layout, spec.dtype)


@register
@dataclass(frozen=True)
class UpSampling1D(_UpSample):
    """Repeat each step of the one spatial axis ``size`` times.

    >>> UpSampling1D(3).size
    (3,)
    """

    rank = 1


@register
@dataclass(frozen=True)
class UpSampling2D(_UpSample):
    """Upsample H and W by integer factors: 'nearest' repeats, 'bilinear' interpolates (half-pixel centres).

    >>> UpSampling2D((2, 3), interpolation="bilinear").size
    (2, 3)
    """

    interpolation: str = "nearest"
    rank = 2

    def __post_init__(self):
        super().__post_init__()
        self._set("interpolation", as_choice(self, "interpolation", self.interpolation, INTERPOLATIONS))
