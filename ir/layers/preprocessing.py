"""Fixed affine preprocessing: Rescaling and Normalization (inference only, no weights).

Both hold their constants in the layer's configuration, as Keras does when
they are passed to the constructor (``Rescaling(1/255)``,
``Normalization(mean=..., variance=...)``): they count as no parameters in
the IR, in Keras and in torch (which keeps them as buffers). Keras's
``Normalization.adapt`` stores the statistics as weights instead; the Keras
importer turns those into configuration values.

A constant is a number, or one number per entry of the axis it acts on
(the channel axis C for Rescaling).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError
from ..layout import resolve_axis
from ..tensor import TensorSpec
from .base import Layer, as_axis, as_bool, as_float, register

#: Keras divides by ``max(sqrt(variance), keras.config.epsilon())``; this is that epsilon's default.
NORMALIZATION_EPSILON = 1e-7


def as_constants(layer: Layer, field: str, value, *, low: float | None = None) -> float | tuple[float, ...]:
    """A number, or a non-empty flat sequence of numbers (as a tuple)."""
    if isinstance(value, (list, tuple)):
        if not value:
            layer._fail(f"{field} must be a number or a non-empty list of numbers, got {value!r}")
        if len(value) > 2**20:
            layer._fail(f"{field} has {len(value)} entries; at most {2**20} are supported")
        items = tuple(as_float(layer, field, v, low=low) for v in value)
        return items[0] if len(items) == 1 else items
    return as_float(layer, field, value, low=low)


def check_length(layer: Layer, field: str, value, size: int | None, axis: str) -> None:
    if isinstance(value, tuple) and len(value) != size:
        raise ShapeError(f"{field} has {len(value)} entries but axis {axis!r} has size {size}", layer=layer.label)


@register
@dataclass(frozen=True)
class Rescaling(Layer):
    """``x * scale + offset``, each a number or one number per channel (C).

    >>> Rescaling(1 / 127.5, offset=-1).offset
    -1.0
    """

    scale: float | tuple = 1.0
    offset: float | tuple = 0.0

    def __post_init__(self):
        super().__post_init__()
        self._set("scale", as_constants(self, "scale", self.scale))
        self._set("offset", as_constants(self, "offset", self.offset))

    @property
    def per_channel(self) -> bool:
        return isinstance(self.scale, tuple) or isinstance(self.offset, tuple)

    def infer(self, inputs):
        spec = inputs[0]
        if self.per_channel:
            if "C" not in spec.layout:
                raise ShapeError(
                    f"per-channel scale/offset need a channel axis C, got layout {spec.layout!r}", layer=self.label
                )
            for field in ("scale", "offset"):
                check_length(self, field, getattr(self, field), spec.dim("C"), "C")
        return spec


@register
@dataclass(frozen=True)
class Normalization(Layer):
    """Keras's inference-time ``Normalization``: ``(x - mean) / max(sqrt(variance), 1e-7)``.

    ``axis`` (default C) is the axis the statistics are given for: ``mean`` and
    ``variance`` are numbers or one number per entry of it; ``axis=None``
    means one number for the whole tensor. ``invert=True`` undoes the
    normalisation: ``mean + x * max(sqrt(variance), 1e-7)``. The epsilon is
    Keras's ``keras.config.epsilon()`` default.

    >>> Normalization(mean=[0.5, 0.4, 0.3], variance=[0.1, 0.2, 0.3]).axis
    'C'
    """

    mean: float | tuple = 0.0
    variance: float | tuple = 1.0
    axis: int | str | None = "C"
    invert: bool = False

    def __post_init__(self):
        super().__post_init__()
        self._set("mean", as_constants(self, "mean", self.mean))
        self._set("variance", as_constants(self, "variance", self.variance, low=0.0))
        if self.axis is not None:
            self._set("axis", as_axis(self, "axis", self.axis))
        elif isinstance(self.mean, tuple) or isinstance(self.variance, tuple):
            self._fail("axis=None takes one number each for mean and variance")
        self._set("invert", as_bool(self, "invert", self.invert))

    def stats_axis(self, spec: TensorSpec) -> int | None:
        """Declared index of the statistics' axis (None for whole-tensor statistics)."""
        if self.axis is None:
            return None
        i = resolve_axis(self.axis, spec.layout, layer=self.label)
        letter = spec.layout[i]
        if letter == "N" or spec.shape[i] is None:
            raise ShapeError(f"cannot hold statistics for axis {letter!r} of unknown size", layer=self.label)
        for field in ("mean", "variance"):
            check_length(self, field, getattr(self, field), spec.shape[i], letter)
        return i

    def std(self):
        """The divisor, ``max(sqrt(variance), 1e-7)``, computed once in float32 as Keras does (a numpy array)."""
        return np.maximum(np.sqrt(np.asarray(self.variance, np.float32)), np.float32(NORMALIZATION_EPSILON))

    def infer(self, inputs):
        self.stats_axis(inputs[0])
        return inputs[0]
