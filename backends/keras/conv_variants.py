"""Keras lowerings of Conv3D and the convolution variants (depthwise, separable, transposed).

Every variant has a Keras layer of the same name and weights in the IR's
layout, so each lowering passes options through. Explicit pads become a
``ZeroPadding`` layer in front of a 'valid' layer, as for Conv1D/Conv2D.
Depthwise and separable layers go through ``conv.depthwise_layer``, which
builds unequal 2-D strides (which TensorFlow's CPU kernel refuses) exactly.
"""
from __future__ import annotations

from ...ir.errors import UnsupportedError
from ...ir.layers import (Conv1DTranspose, Conv2DTranspose, Conv3D, DepthwiseConv1D, DepthwiseConv2D, SeparableConv1D,
                       SeparableConv2D)

from ..program import call
from .conv import channels_last, depthwise_layer, lower_conv, tail_kwargs, window_kwargs


def weight_list(node, w, names):
    return [w[n] for n in names if n in w]


def lower_depthwise(ctx, node, inputs):
    layer = node.layer
    kwargs = {"depth_multiplier": layer.depth_multiplier} if layer.depth_multiplier != 1 else {}
    weights = weight_list(node, ctx.weights(node), ("kernel", "bias"))
    return depthwise_layer(ctx, node, inputs[0], f"DepthwiseConv{layer.rank}D", (layer.kernel_size,), kwargs,
                           weights)


def lower_separable(ctx, node, inputs):
    layer = node.layer
    kwargs = {"depth_multiplier": layer.depth_multiplier} if layer.depth_multiplier != 1 else {}
    weights = weight_list(node, ctx.weights(node), ("depthwise_kernel", "pointwise_kernel", "bias"))
    return depthwise_layer(ctx, node, inputs[0], f"SeparableConv{layer.rank}D", (layer.filters, layer.kernel_size),
                           kwargs, weights)


def lower_transpose(ctx, node, inputs):
    layer = node.layer
    if any(s != 1 for s in layer.strides) and any(d != 1 for d in layer.dilation_rate):
        raise UnsupportedError(f"Keras cannot combine strides {layer.strides} with dilation_rate "
                               f"{layer.dilation_rate} (both > 1) in one transposed convolution")
    x, kwargs = window_kwargs(ctx, node, channels_last(ctx, inputs[0]), layer)
    if layer.output_padding is not None:
        kwargs["output_padding"] = layer.output_padding
    ctor = call(f"layers.Conv{layer.rank}DTranspose", layer.filters, layer.kernel_size, **kwargs,
                **tail_kwargs(layer))
    weights = weight_list(node, ctx.weights(node), ("kernel", "bias"))
    return ctx.layer(node.name, ctor, x.var, node.spec, x.phys, weights)


TABLE = {Conv3D: lower_conv,
         DepthwiseConv1D: lower_depthwise, DepthwiseConv2D: lower_depthwise,
         SeparableConv1D: lower_separable, SeparableConv2D: lower_separable,
         Conv1DTranspose: lower_transpose, Conv2DTranspose: lower_transpose}
