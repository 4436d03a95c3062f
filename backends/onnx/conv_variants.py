"""ONNX lowerings of the convolution variants: depthwise, separable, transposed (1-D and 2-D).

* Depthwise: a Conv with ``group = C`` and weight ``(C*M, 1, k...)``; Keras's
  ``(k..., C, M)`` kernel flattened lists output channel ``c*M + m``, which is
  ONNX's group order too (:func:`twinnet.backends.lowering.kernels.depthwise_weight`).
* Separable: a bias-free depthwise Conv (TensorFlow's 'same' pads on it), then
  a kernel-1 Conv holding the layer's one bias.
* Transposed: ConvTranspose computes the full result ``(n-1)*s + k_e`` long,
  then removes ``pads`` (a begin and an end per axis, asymmetric allowed) and
  appends ``output_padding`` bias-only positions at the end. Keras keeps
  ``full[before : full - after]`` (``ir.layers.conv_variants.transposed_crop``),
  so a crop maps straight onto ``pads``, and an output that runs past the full
  result (a negative ``after``, with ``before`` 0 then) onto ``output_padding``:
  no Slice node, unlike torch, whose ``padding`` is symmetric.
"""

from __future__ import annotations

from ...ir.layers import (
    Conv1DTranspose,
    Conv2DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)
from ..lowering.kernels import channels_first_kernel, depthwise_weight
from .compile import Op
from .conv import activated, channels_first, conv


def depthwise(ctx, node, x, kernel, bias, base: str) -> Op:
    """The depthwise Conv of ``x`` (channels-first) with Keras's ``(k..., C, M)`` ``kernel``."""
    layer = node.layer
    return conv(
        ctx,
        x,
        depthwise_weight(kernel),
        bias,
        base,
        group=x.spec.dim("C"),
        kernel=layer.kernel_size,
        strides=layer.strides,
        dilation=layer.dilation_rate,
        padding=layer.padding,
    )


def lower_depthwise(ctx, node, inputs):
    layer = node.layer
    x = channels_first(ctx, inputs[0])
    w = ctx.weights(node)
    op = depthwise(ctx, node, x, w["kernel"], w["bias"] if layer.use_bias else None, node.name)
    return activated(ctx, node, op, x)


def lower_separable(ctx, node, inputs):
    layer = node.layer
    x = channels_first(ctx, inputs[0])
    w = ctx.weights(node)
    base = f"{node.name}_depthwise"
    step = depthwise(ctx, node, x, w["depthwise_kernel"], None, base)
    h = ctx.op(step.op_type, *step.inputs, base=base, **step.attrs)
    # Keras (1..., C*M, filters) -> (filters, C*M, 1...); default strides, dilations and pads are 1, 1 and 0
    args = [h, ctx.const(f"{node.name}_pointwise_weight", channels_first_kernel(w["pointwise_kernel"]))]
    if layer.use_bias:
        args.append(ctx.const(f"{node.name}_bias", w["bias"]))
    return activated(ctx, node, Op("Conv", tuple(args), {"kernel_shape": [1] * layer.rank}), x)


def lower_transpose(ctx, node, inputs):
    layer = node.layer
    x = channels_first(ctx, inputs[0])
    w = ctx.weights(node)
    crops = layer.crops()
    # Keras (k..., out, in) -> ONNX (in, out, k...), no spatial flip
    args = [x.var, ctx.const(f"{node.name}_weight", channels_first_kernel(w["kernel"]))]
    if layer.use_bias:
        args.append(ctx.const(f"{node.name}_bias", w["bias"]))
    attrs = {
        "kernel_shape": list(layer.kernel_size),
        "strides": list(layer.strides),
        "dilations": list(layer.dilation_rate),
        "pads": [b for b, _ in crops] + [max(a, 0) for _, a in crops],
        "output_padding": [max(-a, 0) for _, a in crops],
    }
    return activated(ctx, node, Op("ConvTranspose", tuple(args), attrs), x)


TABLE = {
    DepthwiseConv1D: lower_depthwise,
    DepthwiseConv2D: lower_depthwise,
    SeparableConv1D: lower_separable,
    SeparableConv2D: lower_separable,
    Conv1DTranspose: lower_transpose,
    Conv2DTranspose: lower_transpose,
}

#: weights back (backends/lowering/weights_back.py): every initializer element is a copy of an IR weight
BACK = dict.fromkeys(TABLE)  # every kind of this family has weights, each copied as is
