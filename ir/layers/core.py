"""Core layers: Dense, Dropout, Flatten, Reshape, Permute, Identity."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import LayoutError, ShapeError, show
from ..layout import check_layout, default_layout
from ..tensor import TensorSpec
from .activation import canonical_activation
from .base import Layer, WeightSpec, as_bool, as_float, as_int, register


def needs_axis(layer: Layer, spec: TensorSpec, axis: str, what: str) -> int:
    if axis not in spec.layout:
        raise LayoutError(f"needs {what} {axis!r} but the input layout is {spec.layout!r}", layer=layer.label)
    return spec.layout.index(axis)


def known_dims(layer: Layer, spec: TensorSpec) -> list[int]:
    """Non-batch sizes of ``spec``, all of which must be known."""
    dims = [s for a, s in zip(spec.layout, spec.shape) if a != "N"]
    if any(s is None for s in dims):
        raise ShapeError(f"needs every non-batch size to be known, got shape {spec.shape}", layer=layer.label)
    return dims


@register
@dataclass(frozen=True)
class Dense(Layer):
    """Fully connected layer on the feature axis ``C``.

    Kernel ``(in, units)``, bias ``(units,)``; glorot-uniform kernel, zero bias.

    >>> Dense(10, activation="softmax").units
    10
    """

    units: int
    activation: str | None = None
    use_bias: bool = True

    def __post_init__(self):
        super().__post_init__()
        self._set("units", as_int(self, "units", self.units))
        self._set("activation", canonical_activation(self, self.activation))
        self._set("use_bias", as_bool(self, "use_bias", self.use_bias))

    def infer(self, inputs):
        spec = inputs[0]
        c = needs_axis(self, spec, "C", "the feature axis")
        shape = list(spec.shape)
        shape[c] = self.units
        return TensorSpec(tuple(shape), spec.layout)

    def weights(self, inputs):
        w = {"kernel": WeightSpec((inputs[0].dim("C"), self.units), "glorot_uniform")}
        if self.use_bias:
            w["bias"] = WeightSpec((self.units,), "zeros")
        return w


@register
@dataclass(frozen=True)
class Dropout(Layer):
    """Inverted dropout; a no-op at inference, which is what twinnet compares."""

    rate: float

    def __post_init__(self):
        super().__post_init__()
        self._set("rate", as_float(self, "rate", self.rate, low=0.0, high=1.0, high_open=True))

    def infer(self, inputs):
        return inputs[0]


@register
@dataclass(frozen=True)
class Identity(Layer):
    """Passes its input through unchanged."""

    def infer(self, inputs):
        return inputs[0]


@register
@dataclass(frozen=True)
class Flatten(Layer):
    """Flattens every non-batch axis, in declared order, into one ``C`` axis.

    For an ``NHWC`` input the features come out in (h, w, c) order, for
    ``NCHW`` in (c, h, w) order: the declared order, whatever a backend holds.
    """

    def infer(self, inputs):
        spec = inputs[0]
        return TensorSpec((None, math.prod(known_dims(self, spec))), "NC")


@register
@dataclass(frozen=True)
class Reshape(Layer):
    """Reshapes the non-batch axes (row-major, in declared order).

    ``target_shape`` lists the new non-batch sizes (one may be -1);
    ``layout`` names the new axes (default: the Keras convention for the rank).
    An input with an unknown non-batch size (a symbolic sequence length) needs
    the -1: that axis is then unknown too (``(None, 8) -> (-1, 8)`` relabels a
    sequence of any length).

    >>> Reshape((7, 7, 4)).target_shape
    (7, 7, 4)
    """

    target_shape: tuple[int, ...]
    layout: str | None = None

    def __post_init__(self):
        super().__post_init__()
        target = self.target_shape
        if isinstance(target, int) and not isinstance(target, bool):
            target = (target,)
        if not isinstance(target, (list, tuple)) or not target:
            self._fail(f"target_shape must be a non-empty tuple of ints, got {show(target)}")
        target = tuple(as_int(self, "target_shape", t, minimum=-1) for t in target)
        if 0 in target or target.count(-1) > 1:
            self._fail(f"target_shape may hold positive sizes and at most one -1, got {target}")
        self._set("target_shape", target)
        if self.layout is not None:
            check_layout(self.layout, len(target) + 1, layer=self.label)

    def infer(self, inputs):
        target = list(self.target_shape)
        dims = [s for a, s in zip(inputs[0].layout, inputs[0].shape) if a != "N"]
        if None in dims and -1 in target:
            # a symbolic size flows into the -1 axis; the frameworks check the element count at run time
            target[target.index(-1)] = None
            layout = self.layout or default_layout(len(target) + 1, layer=self.label)
            target.insert(layout.index("N"), None)
            return TensorSpec(tuple(target), layout)
        if None in dims:
            raise ShapeError(
                f"an input with an unknown size {inputs[0].shape} needs a -1 in target_shape, got {self.target_shape}",
                layer=self.label,
            )
        total = math.prod(dims)
        known = math.prod(t for t in target if t != -1)
        if -1 in target:
            if total % known:
                raise ShapeError(f"cannot reshape {total} elements into {self.target_shape}", layer=self.label)
            target[target.index(-1)] = total // known
        elif known != total:
            raise ShapeError(f"cannot reshape {total} elements into {self.target_shape}", layer=self.label)
        layout = self.layout or default_layout(len(target) + 1, layer=self.label)
        target.insert(layout.index("N"), None)
        return TensorSpec(tuple(target), layout)


@register
@dataclass(frozen=True)
class Permute(Layer):
    """Reorders the axes; the layout letters travel with the data.

    ``dims`` is either a target layout (``Permute("NCHW")``) or, as in Keras,
    a 1-based order of the non-batch axes (``Permute((3, 1, 2))``), which
    needs the batch axis first. Because layers act on axis letters, a Permute
    changes no computation: it changes the declared layout downstream (and
    hence of the model's outputs), and backends resolve it at compile time.
    """

    dims: tuple[int, ...] | str

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.dims, str):
            check_layout(self.dims, layer=self.label)
            return
        if not isinstance(self.dims, (list, tuple)) or not self.dims:
            self._fail(f"dims must be a layout string or a tuple of 1-based axes, got {show(self.dims)}")
        dims = tuple(as_int(self, "dims", d) for d in self.dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            self._fail(f"dims must be a permutation of 1..{len(dims)}, got {dims}")
        self._set("dims", dims)

    def target_layout(self, layout: str) -> str:
        if isinstance(self.dims, str):
            if sorted(self.dims) != sorted(layout):
                raise LayoutError(f"cannot permute layout {layout!r} into {self.dims!r}", layer=self.label)
            return self.dims
        if layout[0] != "N":
            raise LayoutError(
                f"integer dims need the batch axis first, got layout {layout!r}; pass a target layout string",
                layer=self.label,
            )
        if len(self.dims) != len(layout) - 1:
            raise ShapeError(f"dims {self.dims} do not fit a rank-{len(layout)} input", layer=self.label)
        return "N" + "".join(layout[d] for d in self.dims)

    def infer(self, inputs):
        spec = inputs[0]
        layout = self.target_layout(spec.layout)
        return TensorSpec(tuple(spec.dim(a) for a in layout), layout, spec.dtype)
