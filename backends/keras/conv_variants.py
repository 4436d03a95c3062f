"""Keras lowerings of the convolution variants (depthwise, separable, transposed).

Every variant has a Keras layer of the same name and weights in the IR's
layout, so each lowering passes options through. Explicit pads become a
``ZeroPadding`` layer in front of a 'valid' layer, as for Conv1D/Conv2D.
Depthwise and separable layers go through ``conv.depthwise_layer``, which
builds unequal 2-D strides (which TensorFlow's CPU kernel refuses) exactly;
a dilated transposed convolution (which it refuses too) is lowered as the
dilated convolution it equals.
"""

from __future__ import annotations

import numpy as np

from ...ir.errors import UnsupportedError
from ...ir.layers import (
    Conv1DTranspose,
    Conv2DTranspose,
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)
from ..lowering.code import call
from .conv import channels_last, depthwise_layer, tail_kwargs, window_kwargs, zero_pad


def weight_list(node, w, names):
    return [w[n] for n in names if n in w]


def lower_depthwise(ctx, node, inputs):
    layer = node.layer
    kwargs = {"depth_multiplier": layer.depth_multiplier} if layer.depth_multiplier != 1 else {}
    weights = weight_list(node, ctx.weights(node), ("kernel", "bias"))
    return depthwise_layer(ctx, node, inputs[0], f"DepthwiseConv{layer.rank}D", (layer.kernel_size,), kwargs, weights)


def lower_separable(ctx, node, inputs):
    layer = node.layer
    kwargs = {"depth_multiplier": layer.depth_multiplier} if layer.depth_multiplier != 1 else {}
    weights = weight_list(node, ctx.weights(node), ("depthwise_kernel", "pointwise_kernel", "bias"))
    return depthwise_layer(
        ctx, node, inputs[0], f"SeparableConv{layer.rank}D", (layer.filters, layer.kernel_size), kwargs, weights
    )


def lower_transpose(ctx, node, inputs):
    layer = node.layer
    if any(s != 1 for s in layer.strides) and any(d != 1 for d in layer.dilation_rate):
        raise UnsupportedError(
            f"Keras cannot combine strides {layer.strides} with dilation_rate "
            f"{layer.dilation_rate} (both > 1) in one transposed convolution"
        )
    if any(d != 1 for d in layer.dilation_rate):
        return lower_dilated_transpose(ctx, node, channels_last(ctx, inputs[0]))
    x, kwargs = window_kwargs(ctx, node, channels_last(ctx, inputs[0]), layer)
    if layer.output_padding is not None:
        kwargs["output_padding"] = layer.output_padding
    ctor = call(f"layers.Conv{layer.rank}DTranspose", layer.filters, layer.kernel_size, **kwargs, **tail_kwargs(layer))
    weights = weight_list(node, ctx.weights(node), ("kernel", "bias"))
    return ctx.layer(node.name, ctor, x.var, node.spec, x.phys, weights)


def lower_dilated_transpose(ctx, node, x):
    """A dilated transposed convolution (strides 1) as the convolution it is: zero pads, then a dilated
    ``ConvND`` with the kernel flipped and its channel axes swapped; the same parameters, the same sums.

    TensorFlow's CPU kernel for transposed convolutions (``Conv2DBackpropInput``, which Keras's
    Conv1DTranspose uses too) refuses dilation > 1, while its forward convolution takes it. With stride 1 the
    transposed result is ``full[crop_before : len - crop_after]`` of the full correlation, which a 'valid'
    convolution of the input padded by ``span - 1 - crop`` on each side computes, ``span = (k - 1) * d + 1``.
    """
    layer = node.layer
    spans = [(k - 1) * d + 1 for k, d in zip(layer.kernel_size, layer.dilation_rate)]
    x = zero_pad(ctx, node, x, [(n - 1 - before, n - 1 - after) for n, (before, after) in zip(spans, layer.crops())])
    w = ctx.weights(node)
    flipped = w["kernel"][(slice(None, None, -1),) * layer.rank]  # (k..., filters, C), taps reversed
    weights = [np.ascontiguousarray(np.swapaxes(flipped, -1, -2))] + ([w["bias"]] if layer.use_bias else [])
    ctor = call(
        f"layers.Conv{layer.rank}D",
        layer.filters,
        layer.kernel_size,
        dilation_rate=layer.dilation_rate,
        **tail_kwargs(layer),
    )
    return ctx.layer(node.name, ctor, x.var, node.spec, x.phys, weights)


TABLE = {
    DepthwiseConv1D: lower_depthwise,
    DepthwiseConv2D: lower_depthwise,
    SeparableConv1D: lower_separable,
    SeparableConv2D: lower_separable,
    Conv1DTranspose: lower_transpose,
    Conv2DTranspose: lower_transpose,
}

#: weights back (backends/lowering/weights_back.py): Keras holds the IR's layout, every weight is a copy
BACK = dict.fromkeys(TABLE)  # every kind of this family has weights, each copied as is
