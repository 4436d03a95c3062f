"""Convolution variants: depthwise, separable and transposed, in 1-D and 2-D.

They share the window arithmetic of :mod:`twinnet.ir.layers.conv` (spatial axes found
by letter, TensorFlow's 'same' rule, explicit per-side pads) and keep Keras's
weight names and layouts:

=====================  ==============================================================
DepthwiseConv1D/2D     ``kernel (k..., C, M)`` (Keras 3's name; Keras 2 called it
                       ``depthwise_kernel``), ``bias (C*M)``; output channel
                       ``c*M + m`` is input channel ``c`` times multiplier ``m``
SeparableConv1D/2D     ``depthwise_kernel (k..., C, M)``, ``pointwise_kernel
                       (1..., C*M, filters)``, ``bias (filters)``: one bias, after
                       the pointwise step
Conv1D/2DTranspose     ``kernel (k..., filters, C)`` (output channels *before* input
                       channels), ``bias (filters)``
=====================  ==============================================================

A transposed convolution spreads each input element over a window: the
"full" result along one axis has ``(n-1)*s + k_e`` elements, where
``k_e = (k-1)*d + 1`` is the dilated kernel. Keras keeps a window of the
length given by :func:`transposed_length`, starting ``crop_before`` elements
in (:func:`transposed_crop`); positions past the end of the full result hold
only the bias.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..tensor import TensorSpec
from .activation import canonical_activation
from .base import Layer, WeightSpec, as_bool, as_choice, as_int, as_ints, register
from .conv import Conv1D, Conv2D, Conv3D, normalize_padding, spatial_of, windowed_shape


def transposed_length(n: int | None, k: int, s: int, d: int, padding: str, output_padding: int | None) -> int | None:
    """Keras's output length of a transposed convolution along one axis (None stays None).

    >>> transposed_length(5, 3, 2, 1, "same", None), transposed_length(5, 3, 2, 1, "valid", None)
    (10, 11)
    """
    if n is None:
        return None
    k_e = (k - 1) * d + 1
    if padding == "valid":
        extra = max(k_e, s) - k_e if output_padding is None else output_padding
        return (n - 1) * s + k_e + extra
    if output_padding is None:
        return n * s
    return (n - 1) * s + k_e % 2 + output_padding


def transposed_crop(k: int, s: int, d: int, padding: str, output_padding: int | None) -> tuple[int, int]:
    """(crop_before, crop_after) that turn the full result into Keras's output along one axis.

    ``crop_after`` is negative when the output runs past the full result (by
    that many bias-only positions). Neither depends on the input length:
    TensorFlow crops ``max(full - out, 0) // 2`` before the data for 'same'
    (the forward 'same' convolution's leading pad) and nothing for 'valid'.

    >>> transposed_crop(3, 2, 1, "same", None)
    (0, 1)
    """
    k_e = (k - 1) * d + 1
    surplus = k_e - transposed_length(1, k, s, d, padding, output_padding)  # full - out, the same for every n
    before = max(surplus, 0) // 2 if padding == "same" else 0
    return before, surplus - before


def _check_window(layer: Layer, nd: int, kernel_size, strides, dilation_rate, padding):
    layer._set("kernel_size", as_ints(layer, "kernel_size", kernel_size, nd))
    layer._set("strides", as_ints(layer, "strides", strides, nd))
    layer._set("dilation_rate", as_ints(layer, "dilation_rate", dilation_rate, nd))
    layer._set("padding", normalize_padding(layer, padding, nd))


@dataclass(frozen=True)
class _DepthwiseConv(Layer):
    kernel_size: int | tuple[int, ...]
    strides: int | tuple[int, ...] = 1
    padding: str | int | tuple = "valid"
    depth_multiplier: int = 1
    dilation_rate: int | tuple[int, ...] = 1
    activation: str | None = None
    use_bias: bool = True

    rank = 0  # spatial dimensions; set by subclasses

    def __post_init__(self):
        super().__post_init__()
        _check_window(self, self.rank, self.kernel_size, self.strides, self.dilation_rate, self.padding)
        self._set("depth_multiplier", as_int(self, "depth_multiplier", self.depth_multiplier))
        self._set("activation", canonical_activation(self, self.activation))
        self._set("use_bias", as_bool(self, "use_bias", self.use_bias))

    def infer(self, inputs):
        spec = inputs[0]
        spatial_of(self, spec, self.rank)
        return windowed_shape(
            self,
            spec,
            self.rank,
            self.kernel_size,
            self.strides,
            self.dilation_rate,
            self.padding,
            spec.dim("C") * self.depth_multiplier,
        )

    def weights(self, inputs):
        c = inputs[0].dim("C")
        w = {"kernel": WeightSpec((*self.kernel_size, c, self.depth_multiplier), "glorot_uniform")}
        if self.use_bias:
            w["bias"] = WeightSpec((c * self.depth_multiplier,), "zeros")
        return w


@register
@dataclass(frozen=True)
class DepthwiseConv1D(_DepthwiseConv):
    """1-D depthwise convolution: each input channel has its own ``depth_multiplier`` filters.

    >>> DepthwiseConv1D(3, depth_multiplier=2).kernel_size
    (3,)
    """

    rank = 1


@register
@dataclass(frozen=True)
class DepthwiseConv2D(_DepthwiseConv):
    """2-D depthwise convolution over ``H`` and ``W``; ``C*depth_multiplier`` output channels.

    >>> DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2).strides
    (2, 2)
    """

    rank = 2


@dataclass(frozen=True)
class _SeparableConv(Layer):
    filters: int
    kernel_size: int | tuple[int, ...]
    strides: int | tuple[int, ...] = 1
    padding: str | int | tuple = "valid"
    dilation_rate: int | tuple[int, ...] = 1
    depth_multiplier: int = 1
    activation: str | None = None
    use_bias: bool = True

    rank = 0

    def __post_init__(self):
        super().__post_init__()
        self._set("filters", as_int(self, "filters", self.filters))
        _check_window(self, self.rank, self.kernel_size, self.strides, self.dilation_rate, self.padding)
        self._set("depth_multiplier", as_int(self, "depth_multiplier", self.depth_multiplier))
        self._set("activation", canonical_activation(self, self.activation))
        self._set("use_bias", as_bool(self, "use_bias", self.use_bias))

    def infer(self, inputs):
        spec = inputs[0]
        spatial_of(self, spec, self.rank)
        return windowed_shape(
            self, spec, self.rank, self.kernel_size, self.strides, self.dilation_rate, self.padding, self.filters
        )

    def weights(self, inputs):
        c, m = inputs[0].dim("C"), self.depth_multiplier
        w = {
            "depthwise_kernel": WeightSpec((*self.kernel_size, c, m), "glorot_uniform"),
            "pointwise_kernel": WeightSpec((1,) * self.rank + (c * m, self.filters), "glorot_uniform"),
        }
        if self.use_bias:
            w["bias"] = WeightSpec((self.filters,), "zeros")
        return w


@register
@dataclass(frozen=True)
class SeparableConv1D(_SeparableConv):
    """1-D depthwise convolution followed by a pointwise (kernel 1) convolution to ``filters`` channels.

    >>> SeparableConv1D(8, 3, padding="same").filters
    8
    """

    rank = 1


@register
@dataclass(frozen=True)
class SeparableConv2D(_SeparableConv):
    """2-D depthwise convolution followed by a 1x1 convolution to ``filters`` channels.

    >>> SeparableConv2D(8, 3, depth_multiplier=2).depth_multiplier
    2
    """

    rank = 2


@dataclass(frozen=True)
class _ConvTranspose(Layer):
    filters: int
    kernel_size: int | tuple[int, ...]
    strides: int | tuple[int, ...] = 1
    padding: str = "valid"
    output_padding: int | tuple[int, ...] | None = None
    dilation_rate: int | tuple[int, ...] = 1
    activation: str | None = None
    use_bias: bool = True

    rank = 0

    def __post_init__(self):
        super().__post_init__()
        nd = self.rank
        self._set("filters", as_int(self, "filters", self.filters))
        self._set("kernel_size", as_ints(self, "kernel_size", self.kernel_size, nd))
        self._set("strides", as_ints(self, "strides", self.strides, nd))
        self._set("dilation_rate", as_ints(self, "dilation_rate", self.dilation_rate, nd))
        self._set("padding", as_choice(self, "padding", self.padding, ("valid", "same")))
        if self.output_padding is not None:
            self._set("output_padding", as_ints(self, "output_padding", self.output_padding, nd, minimum=0))
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                self._fail(
                    f"output_padding {self.output_padding} must be less than strides {self.strides} on every axis"
                )
            if self.padding == "same":
                for k, d, op in zip(self.kernel_size, self.dilation_rate, self.output_padding):
                    # the output would be (n-1)*s long, which a 'same' conv maps back to n-1, not n:
                    # TensorFlow rejects that shape (and Keras with it)
                    if ((k - 1) * d + 1) % 2 == 0 and op == 0:
                        self._fail(
                            f"output_padding 0 with padding 'same' needs an odd (dilated) kernel size, "
                            f"got kernel_size {self.kernel_size}, dilation_rate {self.dilation_rate}"
                        )
        self._set("activation", canonical_activation(self, self.activation))
        self._set("use_bias", as_bool(self, "use_bias", self.use_bias))

    def _output_paddings(self) -> tuple[int | None, ...]:
        return self.output_padding if self.output_padding is not None else (None,) * self.rank

    def crops(self) -> tuple[tuple[int, int], ...]:
        """Per spatial axis (crop_before, crop_after) of the full result; see :func:`transposed_crop`."""
        return tuple(
            transposed_crop(k, s, d, self.padding, op)
            for k, s, d, op in zip(self.kernel_size, self.strides, self.dilation_rate, self._output_paddings())
        )

    def infer(self, inputs):
        spec = inputs[0]
        axes = spatial_of(self, spec, self.rank)
        shape = list(spec.shape)
        for axis, k, s, d, op in zip(axes, self.kernel_size, self.strides, self.dilation_rate, self._output_paddings()):
            # never empty: 'valid' gives at least k_e, 'same' at least k_e % 2 + op >= 1 (checked above)
            shape[spec.layout.index(axis)] = transposed_length(spec.dim(axis), k, s, d, self.padding, op)
        shape[spec.layout.index("C")] = self.filters
        return TensorSpec(tuple(shape), spec.layout)

    def weights(self, inputs):
        w = {"kernel": WeightSpec((*self.kernel_size, self.filters, inputs[0].dim("C")), "glorot_uniform")}
        if self.use_bias:
            w["bias"] = WeightSpec((self.filters,), "zeros")
        return w


@register
@dataclass(frozen=True)
class Conv1DTranspose(_ConvTranspose):
    """1-D transposed convolution (the gradient of Conv1D); kernel ``(k, filters, in)`` as in Keras.

    >>> Conv1DTranspose(4, 3, strides=2, padding="same").padding
    'same'
    """

    rank = 1


@register
@dataclass(frozen=True)
class Conv2DTranspose(_ConvTranspose):
    """2-D transposed convolution; kernel ``(kh, kw, filters, in)`` as in Keras (out before in).

    Output size per axis is Keras's (:func:`transposed_length`): ``n*s`` for
    'same' without output_padding.

    >>> Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1).output_padding
    (1, 1)
    """

    rank = 2


#: the forward convolutions (windowed, with Keras's padding and stride arguments; not the transposed ones)
CONVOLUTIONS = (Conv1D, Conv2D, Conv3D, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D, SeparableConv2D)
