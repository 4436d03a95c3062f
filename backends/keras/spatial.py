"""Keras lowerings of ZeroPadding, Cropping and UpSampling (1-D and 2-D).

The IR's arguments are Keras's, so each maps to the Keras layer of the same
name on the tensor held channels last (Keras's only layout); the per-axis
``(before, after)`` pairs are passed as Keras's ``((top, bottom), (left, right))``.
A cropping of a tensor held in another order (an op-tier region held as
declared) is a ``keras.ops`` slice of it where it is, rather than two transposes.
"""

from __future__ import annotations

from ...ir.layers import Cropping1D, Cropping2D, UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D
from ...ir.layout import spatial_axes
from ..lowering.code import call
from .conv import channels_last


def _pairs(pairs):
    """The IR's per-axis pairs as Keras writes them: ``(a, b)`` for 1-D, ``((a, b), (c, d))`` for 2-D."""
    return pairs[0] if len(pairs) == 1 else pairs


def lower_zero_padding(ctx, node, inputs):
    x = channels_last(ctx, inputs[0])
    ctor = call(f"layers.{node.layer.kind}", _pairs(node.layer.padding))
    return ctx.layer(node.name, ctor, x.var, node.spec, x.phys)


def lower_cropping(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    if x.phys != ctx.native(x.spec):
        return _sliced(ctx, node, x)
    x = channels_last(ctx, x)
    ctor = call(f"layers.{node.layer.kind}", _pairs(node.layer.cropping))
    return ctx.layer(node.name, ctor, x.var, node.spec, x.phys)


def _sliced(ctx, node, x):
    """A cropping of ``x`` where it is held in another order than channels last (Llama's rotate-half of its
    heads, ``NHCW``): a ``keras.ops`` slice of the held axes, no transpose before it or back after it."""
    index = [":"] * len(x.phys)
    for letter, (before, after) in zip(spatial_axes(x.spec.layout), node.layer.cropping):
        if before or after:
            index[x.pos(letter)] = f"{before or ''}:{-after if after else ''}"
    return ctx.let(node.name, f"{x.var}[{', '.join(index)}]", node.spec, x.phys)


def lower_upsampling(ctx, node, inputs):
    x = channels_last(ctx, inputs[0])
    layer = node.layer
    if isinstance(layer, UpSampling1D):
        ctor = call("layers.UpSampling1D", layer.size[0])
    else:
        kwargs = {"interpolation": layer.interpolation} if layer.interpolation != "nearest" else {}
        ctor = call("layers.UpSampling2D", layer.size, **kwargs)
    return ctx.layer(node.name, ctor, x.var, node.spec, x.phys)


TABLE = {
    ZeroPadding1D: lower_zero_padding,
    ZeroPadding2D: lower_zero_padding,
    Cropping1D: lower_cropping,
    Cropping2D: lower_cropping,
    UpSampling1D: lower_upsampling,
    UpSampling2D: lower_upsampling,
}
