"""Keras lowerings of Conv1D and Conv2D.

The IR's 'same' and 'causal' padding are TensorFlow's, so they map directly.
Explicit per-side pads become a ``ZeroPadding1D/2D`` layer in front of a
'valid' convolution. Keras rejects strides > 1 together with dilation > 1
(EQUIVALENCE.md §3); that is reported as unsupported rather than left to fail
inside Keras.
"""
from __future__ import annotations

from ir.errors import UnsupportedError
from ir.layers import Conv1D, Conv2D

from ..program import call
from .activations import fused


def channels_last(ctx, x):
    """``x`` held batch first, spatial axes in declared order, channels last (Keras's conv layout)."""
    return ctx.require(x, ctx.native(x.spec))


def zero_pad(ctx, node, x, pads):
    """A ZeroPadding layer for explicit (before, after) pads per spatial axis; ``x`` itself if all are 0."""
    if not any(b or a for b, a in pads):
        return x
    nd = len(pads)
    padding = pads[0] if nd == 1 else tuple(pads)
    return ctx.layer(f"{node.name}_pad", call(f"layers.ZeroPadding{nd}D", padding), x.var, x.spec, x.phys)


def lower_conv(ctx, node, inputs):
    (x,) = inputs
    layer = node.layer
    nd = layer.rank
    if any(s != 1 for s in layer.strides) and any(d != 1 for d in layer.dilation_rate):
        raise UnsupportedError(f"Keras cannot combine strides {layer.strides} with dilation_rate "
                               f"{layer.dilation_rate} (both > 1) in one convolution")
    x, kwargs = window_kwargs(ctx, node, channels_last(ctx, x), layer)
    if layer.groups != 1:
        kwargs["groups"] = layer.groups
    kwargs.update(tail_kwargs(layer))
    w = ctx.weights(node)
    weights = [w["kernel"]] + ([w["bias"]] if layer.use_bias else [])  # IR kernels are Keras's layout
    ctor = call(f"layers.Conv{nd}D", layer.filters, layer.kernel_size, **kwargs)
    return ctx.layer(node.name, ctor, x.var, node.spec, x.phys, weights)


def window_kwargs(ctx, node, x, layer):
    """(x, kwargs): the input after any explicit pad, and the non-default strides/padding/dilation_rate."""
    padding = layer.padding
    if not isinstance(padding, str):
        x = zero_pad(ctx, node, x, padding)
        padding = "valid"
    kwargs = {}  # only what differs from Keras's defaults, for readable source
    if any(s != 1 for s in layer.strides):
        kwargs["strides"] = layer.strides
    if padding != "valid":
        kwargs["padding"] = padding
    if any(d != 1 for d in layer.dilation_rate):
        kwargs["dilation_rate"] = layer.dilation_rate
    return x, kwargs


def tail_kwargs(layer) -> dict:
    kwargs = {} if layer.use_bias else {"use_bias": False}
    kwargs.update(fused(layer.activation))
    return kwargs


TABLE = {Conv1D: lower_conv, Conv2D: lower_conv}
