"""Pooling: windowed max/average (1-D, 2-D) and global max/average."""
from __future__ import annotations

from dataclasses import dataclass

from ..tensor import TensorSpec
from .base import Layer, as_bool, as_int, as_ints, as_choice, register
from .conv import spatial_of, windowed_shape


@dataclass(frozen=True)
class _Pool(Layer):
    pool_size: int | tuple[int, ...] = 2
    strides: int | tuple[int, ...] | None = None
    padding: str = "valid"

    rank = 0

    def __post_init__(self):
        super().__post_init__()
        self._set("pool_size", as_ints(self, "pool_size", self.pool_size, self.rank))
        strides = self.pool_size if self.strides is None else self.strides
        self._set("strides", as_ints(self, "strides", strides, self.rank))
        self._set("padding", as_choice(self, "padding", self.padding, ("valid", "same")))

    def infer(self, inputs):
        spec = inputs[0]
        spatial_of(self, spec, self.rank)  # before spec.dim("C"): a layout without C gets a LayoutError
        return windowed_shape(self, spec, self.rank, self.pool_size, self.strides, (1,) * self.rank,
                              self.padding, spec.dim("C"))


@register
@dataclass(frozen=True)
class MaxPool1D(_Pool):
    """Max pooling over one spatial axis; 'same' pads with -inf (TF rule)."""

    rank = 1


@register
@dataclass(frozen=True)
class MaxPool2D(_Pool):
    """Max pooling over H and W; 'same' pads with -inf (TF rule)."""

    rank = 2


@register
@dataclass(frozen=True)
class AvgPool1D(_Pool):
    """Average pooling over one spatial axis; 'same' divides by the count of real elements."""

    rank = 1


@register
@dataclass(frozen=True)
class AvgPool2D(_Pool):
    """Average pooling over H and W; 'same' divides by the count of real elements."""

    rank = 2


@dataclass(frozen=True)
class _GlobalPool(Layer):
    keepdims: bool = False

    rank = 0

    def __post_init__(self):
        super().__post_init__()
        self._set("keepdims", as_bool(self, "keepdims", self.keepdims))

    def infer(self, inputs):
        spec = inputs[0]
        axes = spatial_of(self, spec, self.rank)
        if self.keepdims:
            return TensorSpec(tuple(1 if a in axes else s for a, s in zip(spec.layout, spec.shape)), spec.layout)
        layout = "".join(a for a in spec.layout if a not in axes)
        return TensorSpec(tuple(spec.dim(a) for a in layout), layout)


@register
@dataclass(frozen=True)
class GlobalAvgPool1D(_GlobalPool):
    """Mean over the one spatial axis -> ``NC`` (or keep it with size 1)."""

    rank = 1


@register
@dataclass(frozen=True)
class GlobalAvgPool2D(_GlobalPool):
    """Mean over H and W -> ``NC`` (or keep them with size 1)."""

    rank = 2


@register
@dataclass(frozen=True)
class GlobalMaxPool1D(_GlobalPool):
    """Max over the one spatial axis."""

    rank = 1


@register
@dataclass(frozen=True)
class GlobalMaxPool2D(_GlobalPool):
    """Max over H and W."""

    rank = 2
