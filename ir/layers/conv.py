"""Convolutions (Conv1D, Conv2D, Conv3D) and the padding arithmetic they share with pooling.

Spatial axes are the input's non-batch, non-channel axes in declared order:
``HW`` for ``NHWC`` and ``NCHW`` alike, ``W`` (or ``T``) for 1-D inputs,
``DHW`` for ``NDHWC`` and ``NCDHW``.

Padding is ``"valid"``, ``"same"`` (TensorFlow's rule: output ``ceil(n/s)``,
total pad ``max((out-1)*s + (k-1)*d + 1 - n, 0)``, the odd element *after*
the data), ``"causal"`` (1-D only: ``d*(k-1)`` before), or explicit per-side
pads: an int, one int per spatial axis, or one ``(before, after)`` pair per
spatial axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..errors import LayoutError, ShapeError, show
from ..tensor import TensorSpec
from .activation import canonical_activation
from .base import Layer, WeightSpec, as_bool, as_int, as_ints, register

Pads = tuple[tuple[int, int], ...]


def normalize_padding(layer: Layer, padding, nd: int, allow_causal: bool = False) -> str | Pads:
    if isinstance(padding, str):
        choices = ("valid", "same", "causal") if allow_causal else ("valid", "same")
        if padding not in choices:
            layer._fail(f"padding must be one of {', '.join(map(repr, choices))} or explicit pads, got {show(padding)}")
        return padding
    if isinstance(padding, int) and not isinstance(padding, bool):
        p = as_int(layer, "padding", padding, minimum=0)
        return ((p, p),) * nd
    if isinstance(padding, (list, tuple)):
        items = list(padding)
        if nd == 1 and len(items) == 2 and all(isinstance(v, int) for v in items):
            items = [items]  # 1-D: (left, right)
        if len(items) == nd:
            pairs = []
            for item in items:
                if isinstance(item, (list, tuple)) and len(item) == 2:
                    pairs.append(tuple(as_int(layer, "padding", v, minimum=0) for v in item))
                elif isinstance(item, int) and not isinstance(item, bool):
                    p = as_int(layer, "padding", item, minimum=0)
                    pairs.append((p, p))
                else:
                    break
            else:
                return tuple(pairs)
    layer._fail(
        f"padding must be 'valid', 'same', an int, {nd} int(s) or {nd} (before, after) pair(s), got {show(padding)}"
    )


def same_pads(n: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow 'same' pads (before, after) for one axis of length ``n``."""
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def resolve_pads(
    padding: str | Pads, sizes: Sequence[int | None], kernel, strides, dilation
) -> tuple[tuple[int, int] | None, ...]:
    """Per-axis (before, after) pads; None where a 'same' pad depends on an unknown length."""
    out = []
    for n, k, s, d in zip(sizes, kernel, strides, dilation):
        if padding == "valid":
            out.append((0, 0))
        elif padding == "causal":
            out.append((d * (k - 1), 0))
        elif padding == "same":
            if s == 1:
                total = d * (k - 1)
                out.append((total // 2, total - total // 2))
            else:
                out.append(None if n is None else same_pads(n, k, s, d))
        else:
            out.append(padding[len(out)])
    return tuple(out)


def window_out(n: int | None, k: int, s: int, d: int, pads) -> int | None:
    if n is None:
        return None
    if pads is None:
        return -(-n // s)
    span = n + pads[0] + pads[1] - d * (k - 1) - 1
    return span // s + 1 if span >= 0 else 0


def spatial_of(layer: Layer, spec: TensorSpec, nd: int) -> str:
    """The ``nd`` spatial axis letters of ``spec`` (checking the layout fits)."""
    if "C" not in spec.layout or spec.rank != nd + 2:
        example = {1: "NWC", 2: "NHWC", 3: "NDHWC"}.get(nd, "NHWC")
        raise LayoutError(
            f"expects a rank-{nd + 2} input with a channel axis C (e.g. {example}), got layout {spec.layout!r}",
            layer=layer.label,
        )
    return "".join(a for a in spec.layout if a not in "NC")


def windowed_shape(
    layer: Layer, spec: TensorSpec, nd: int, kernel, strides, dilation, padding, channels: int
) -> TensorSpec:
    axes = spatial_of(layer, spec, nd)
    sizes = [spec.dim(a) for a in axes]
    pads = resolve_pads(padding, sizes, kernel, strides, dilation)
    shape = list(spec.shape)
    for axis, n, k, s, d, p in zip(axes, sizes, kernel, strides, dilation, pads):
        out = window_out(n, k, s, d, p)
        if out is not None and out < 1:
            raise ShapeError(
                f"axis {axis!r} of size {n} is too small for kernel {k} (dilation {d}) with padding {padding!r}",
                layer=layer.label,
            )
        shape[spec.layout.index(axis)] = out
    shape[spec.layout.index("C")] = channels
    return TensorSpec(tuple(shape), spec.layout)


@dataclass(frozen=True)
class _Conv(Layer):
    filters: int
    kernel_size: int | tuple[int, ...]
    strides: int | tuple[int, ...] = 1
    padding: str | int | tuple = "valid"
    dilation_rate: int | tuple[int, ...] = 1
    groups: int = 1
    activation: str | None = None
    use_bias: bool = True

    rank = 0  # spatial dimensions; set by subclasses

    def __post_init__(self):
        super().__post_init__()
        nd = self.rank
        self._set("filters", as_int(self, "filters", self.filters))
        self._set("kernel_size", as_ints(self, "kernel_size", self.kernel_size, nd))
        self._set("strides", as_ints(self, "strides", self.strides, nd))
        self._set("dilation_rate", as_ints(self, "dilation_rate", self.dilation_rate, nd))
        self._set("padding", normalize_padding(self, self.padding, nd, allow_causal=nd == 1))
        self._set("groups", as_int(self, "groups", self.groups))
        self._set("activation", canonical_activation(self, self.activation))
        self._set("use_bias", as_bool(self, "use_bias", self.use_bias))
        if self.filters % self.groups:
            self._fail(f"filters ({self.filters}) must be divisible by groups ({self.groups})")

    def infer(self, inputs):
        spec = inputs[0]
        spatial_of(self, spec, self.rank)
        if spec.dim("C") % self.groups:
            raise ShapeError(
                f"input channels ({spec.dim('C')}) must be divisible by groups ({self.groups})", layer=self.label
            )
        return windowed_shape(
            self, spec, self.rank, self.kernel_size, self.strides, self.dilation_rate, self.padding, self.filters
        )

    def weights(self, inputs):
        c_in = inputs[0].dim("C") // self.groups
        w = {"kernel": WeightSpec((*self.kernel_size, c_in, self.filters), "glorot_uniform")}
        if self.use_bias:
            w["bias"] = WeightSpec((self.filters,), "zeros")
        return w


@register
@dataclass(frozen=True)
class Conv1D(_Conv):
    """1-D convolution over the input's one spatial axis (``W`` or ``T``).

    Kernel ``(k, in/groups, filters)`` as in Keras.

    >>> Conv1D(8, 3, padding="causal").padding
    'causal'
    """

    rank = 1


@register
@dataclass(frozen=True)
class Conv2D(_Conv):
    """2-D convolution over ``H`` and ``W``, wherever the layout puts them.

    Kernel ``(kh, kw, in/groups, filters)`` as in Keras.

    >>> Conv2D(32, 3, strides=2, padding="same").kernel_size
    (3, 3)
    """

    rank = 2


@register
@dataclass(frozen=True)
class Conv3D(_Conv):
    """3-D convolution over ``D``, ``H`` and ``W`` (``NDHWC`` or ``NCDHW``).

    Kernel ``(kd, kh, kw, in/groups, filters)`` as in Keras.

    >>> Conv3D(4, (1, 3, 3), padding="same").kernel_size
    (1, 3, 3)
    """

    rank = 3
