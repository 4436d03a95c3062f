"""Pooling: windowed max/average (1-D, 2-D) and global max/average.

Padding is ``"valid"``, ``"same"`` (TensorFlow's rule: max pads with -inf,
average divides by the count of real elements) or explicit per-side pads as
for the convolutions (an int, one int per axis, or ``(before, after)`` pairs):
max pools pad those with -inf, average pools with zeros that count in the
divisor unless ``count_include_pad=False`` (torch's ``padding=`` semantics).
Each pad must be smaller than the window, so every window holds a real element.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..tensor import TensorSpec
from .base import Layer, as_bool, as_ints, register
from .conv import normalize_padding, spatial_of, windowed_shape


@dataclass(frozen=True)
class _Pool(Layer):
    pool_size: int | tuple[int, ...] = 2
    strides: int | tuple[int, ...] | None = None
    padding: str | int | tuple = "valid"

    rank = 0

    def __post_init__(self):
        super().__post_init__()
        self._set("pool_size", as_ints(self, "pool_size", self.pool_size, self.rank))
        strides = self.pool_size if self.strides is None else self.strides
        self._set("strides", as_ints(self, "strides", strides, self.rank))
        padding = normalize_padding(self, self.padding, self.rank)
        if not isinstance(padding, str):
            if not any(b or a for b, a in padding):
                padding = "valid"  # one spelling for no padding
            else:
                for k, pair in zip(self.pool_size, padding):
                    if max(pair) >= k:
                        # a window wholly in the padding would hold only -inf (max) or nothing to count (avg)
                        self._fail(f"explicit pads {padding} must each be smaller than pool_size {self.pool_size}")
        self._set("padding", padding)

    def infer(self, inputs):
        spec = inputs[0]
        spatial_of(self, spec, self.rank)  # before spec.dim("C"): a layout without C gets a LayoutError
        return windowed_shape(
            self, spec, self.rank, self.pool_size, self.strides, (1,) * self.rank, self.padding, spec.dim("C")
        )


@register
@dataclass(frozen=True)
class MaxPool1D(_Pool):
    """Max pooling over one spatial axis; 'same' and explicit pads are -inf (TF rule, torch's ``padding=``).

    >>> MaxPool1D(3, 2, padding=(1, 0)).padding
    ((1, 0),)
    """

    rank = 1


@register
@dataclass(frozen=True)
class MaxPool2D(_Pool):
    """Max pooling over H and W; 'same' and explicit pads are -inf (TF rule, torch's ``padding=``).

    >>> MaxPool2D(3, strides=2, padding=1).padding  # torchvision's ResNet stem
    ((1, 1), (1, 1))
    """

    rank = 2


@dataclass(frozen=True)
class _AvgPool(_Pool):
    count_include_pad: bool = True

    def __post_init__(self):
        super().__post_init__()
        include = as_bool(self, "count_include_pad", self.count_include_pad)
        if isinstance(self.padding, str):
            include = True  # no say: 'valid' has no padding, 'same' always divides by the real count (TF)
        self._set("count_include_pad", include)


@register
@dataclass(frozen=True)
class AvgPool1D(_AvgPool):
    """Average pooling over one spatial axis; 'same' divides by the count of real elements.

    Explicit pads are zeros; ``count_include_pad`` (torch's default True) says whether they count.

    >>> AvgPool1D(3, 2, padding=1, count_include_pad=False).padding
    ((1, 1),)
    """

    rank = 1


@register
@dataclass(frozen=True)
class AvgPool2D(_AvgPool):
    """Average pooling over H and W; 'same' divides by the count of real elements.

    Explicit pads are zeros; ``count_include_pad`` (torch's default True) says whether they count.

    >>> AvgPool2D(3, strides=2, padding="same", count_include_pad=False).count_include_pad  # 'same' decides
    True
    """

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
