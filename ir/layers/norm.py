"""Normalisation: BatchNorm (inference statistics), LayerNorm and GroupNorm.

Conventions are Keras's, in one place:
  * ``epsilon`` is added to the variance: ``(x - mean) / sqrt(var + epsilon)``;
    the default is Keras's 1e-3 (torch's is 1e-5: backends pass it explicitly).
  * ``momentum`` is Keras's: ``moving = momentum * moving + (1 - momentum) * batch``
    (torch's ``momentum`` is ``1 - this``). It matters only for training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError
from ..layout import resolve_axis
from ..tensor import TensorSpec
from .base import Layer, WeightSpec, as_axis, as_bool, as_float, as_int, register


def normalisable(layer: Layer, spec: TensorSpec, axis: int) -> None:
    """Weights need a known size along the normalised axis: never the batch axis, nor a symbolic length."""
    letter = spec.layout[axis]
    if letter == "N":
        raise ShapeError("cannot normalise over the batch axis 'N' (its size is not known)", layer=layer.label)
    if spec.shape[axis] is None:
        raise ShapeError(
            f"cannot normalise over axis {letter!r} of unknown size, got shape {spec.shape}", layer=layer.label
        )


def affine_weights(layer: Layer, shape: tuple) -> dict[str, WeightSpec]:
    """``gamma`` (if ``scale``) and ``beta`` (if ``center``), Keras's names and initial values, of ``shape``."""
    w = {}
    if layer.scale:
        w["gamma"] = WeightSpec(shape, "ones")
    if layer.center:
        w["beta"] = WeightSpec(shape, "zeros")
    return w


def full_affine(layer: Layer, weights: dict, shape) -> tuple:
    """(gamma, beta) with a half the layer does not learn as its identity value (ones, zeros) of ``shape``:
    for frameworks whose layer has one switch for both, or needs both."""
    gamma = weights["gamma"] if layer.scale else np.ones(shape, np.float32)
    beta = weights["beta"] if layer.center else np.zeros(shape, np.float32)
    return gamma, beta


def check_affine(layer: Layer) -> None:
    """Validate the fields every normalisation here shares: ``epsilon`` > 0, ``center``, ``scale``."""
    layer._set("epsilon", as_float(layer, "epsilon", layer.epsilon, low=0.0, low_open=True))
    layer._set("center", as_bool(layer, "center", layer.center))
    layer._set("scale", as_bool(layer, "scale", layer.scale))


@register
@dataclass(frozen=True)
class BatchNorm(Layer):
    """Batch normalisation over ``axis`` (default: the channel axis C).

    Weights ``gamma, beta, moving_mean, moving_variance``, each ``(C,)``.

    >>> BatchNorm(epsilon=1e-5).momentum
    0.99
    """

    axis: int | str = "C"
    momentum: float = 0.99
    epsilon: float = 1e-3
    center: bool = True
    scale: bool = True

    def __post_init__(self):
        super().__post_init__()
        self._set("axis", as_axis(self, "axis", self.axis))
        self._set("momentum", as_float(self, "momentum", self.momentum, low=0.0, high=1.0))
        check_affine(self)

    def feature_axis(self, spec: TensorSpec) -> int:
        axis = resolve_axis(self.axis, spec.layout, layer=self.label)
        normalisable(self, spec, axis)
        return axis

    def infer(self, inputs):
        self.feature_axis(inputs[0])
        return inputs[0]

    def weights(self, inputs):
        n = (inputs[0].shape[self.feature_axis(inputs[0])],)
        w = affine_weights(self, n)
        w["moving_mean"] = WeightSpec(n, "zeros")
        w["moving_variance"] = WeightSpec(n, "ones")
        return w


@register
@dataclass(frozen=True)
class LayerNorm(Layer):
    """Layer normalisation over one or more axes (default: the channel axis C).

    ``axis`` is a letter, an int, or a tuple of them (``axis="HWC"`` or
    ``("H", "W", "C")`` normalise an image over all three). ``gamma``/``beta``
    have the sizes of the normalised axes in declared order.
    """

    axis: int | str | tuple = "C"
    epsilon: float = 1e-3
    center: bool = True
    scale: bool = True

    def __post_init__(self):
        super().__post_init__()
        axis = self.axis
        if isinstance(axis, str) and len(axis) > 1:
            axis = tuple(axis)
        if isinstance(axis, (list, tuple)):
            if not axis:
                self._fail("axis must name at least one axis")
            axis = tuple(as_axis(self, "axis", a) for a in axis)
            axis = axis[0] if len(axis) == 1 else axis
        else:
            axis = as_axis(self, "axis", axis)
        self._set("axis", axis)
        check_affine(self)

    def norm_axes(self, spec: TensorSpec) -> tuple[int, ...]:
        """Declared indices of the normalised axes, ascending."""
        axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
        idx = sorted({resolve_axis(a, spec.layout, layer=self.label) for a in axes})
        if len(idx) != len(axes):
            raise ShapeError(f"axis {self.axis!r} names an axis twice", layer=self.label)
        for i in idx:
            normalisable(self, spec, i)
        return tuple(idx)

    def infer(self, inputs):
        self.norm_axes(inputs[0])
        return inputs[0]

    def weights(self, inputs):
        spec = inputs[0]
        return affine_weights(self, tuple(spec.shape[i] for i in self.norm_axes(spec)))


@register
@dataclass(frozen=True)
class GroupNorm(Layer):
    """Group normalisation (Keras's ``GroupNormalization``): the ``axis`` (default C) is cut into ``groups``
    equal groups, and each sample is normalised over each group and every other non-batch axis.

    ``(x - mean) / sqrt(var + epsilon)`` (biased variance), then ``gamma``/``beta`` per channel, each
    ``(C,)``. Keras's defaults: 32 groups, epsilon 1e-3.

    >>> GroupNorm(groups=4, epsilon=1e-5).center
    True
    """

    groups: int = 32
    axis: int | str = "C"
    epsilon: float = 1e-3
    center: bool = True
    scale: bool = True

    def __post_init__(self):
        super().__post_init__()
        self._set("groups", as_int(self, "groups", self.groups))
        self._set("axis", as_axis(self, "axis", self.axis))
        check_affine(self)

    def feature_axis(self, spec: TensorSpec) -> int:
        axis = resolve_axis(self.axis, spec.layout, layer=self.label)
        n = spec.shape[axis]
        if spec.layout[axis] == "N" or n is None:
            raise ShapeError(f"cannot group axis {spec.layout[axis]!r} of unknown size", layer=self.label)
        if n % self.groups:
            raise ShapeError(
                f"{self.groups} groups do not divide axis {spec.layout[axis]!r} of size {n}", layer=self.label
            )
        return axis

    def infer(self, inputs):
        self.feature_axis(inputs[0])
        return inputs[0]

    def weights(self, inputs):
        return affine_weights(self, (inputs[0].shape[self.feature_axis(inputs[0])],))
