"""Keras lowerings of Conv1D, Conv2D and Conv3D.

The IR's 'same' and 'causal' padding are TensorFlow's, so they map directly.
Explicit per-side pads become a ``ZeroPadding1D/2D/3D`` layer in front of a
'valid' convolution. A convolution with one group per input channel becomes
``DepthwiseConv1D/2D``. Keras rejects strides > 1 together with dilation > 1
(docs/equivalence.md, section 3); that is reported as unsupported rather than left to fail
inside Keras. TensorFlow's CPU kernel for 2-D depthwise steps takes equal
strides only; ``depthwise_layer`` builds unequal ones exactly from standard
layers, for the depthwise and separable lowerings too.
"""

from __future__ import annotations

import math

from ...ir.errors import UnsupportedError
from ...ir.layers import Conv1D, Conv2D, Conv3D
from ...ir.layers.conv import resolve_pads, window_out
from ...ir.tensor import TensorSpec
from ..lowering.code import call
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
    if nd < 3 and 1 < layer.groups == x.spec.shape[x.spec.layout.index("C")]:  # Keras has no DepthwiseConv3D
        return lower_as_depthwise(ctx, node, x)
    if any(s != 1 for s in layer.strides) and any(d != 1 for d in layer.dilation_rate):
        raise UnsupportedError(
            f"Keras cannot combine strides {layer.strides} with dilation_rate "
            f"{layer.dilation_rate} (both > 1) in one convolution"
        )
    x, kwargs = window_kwargs(ctx, node, channels_last(ctx, x), layer)
    if layer.groups != 1:
        kwargs["groups"] = layer.groups
    kwargs.update(tail_kwargs(layer))
    w = ctx.weights(node)
    weights = [w["kernel"]] + ([w["bias"]] if layer.use_bias else [])  # IR kernels are Keras's layout
    ctor = call(f"layers.Conv{nd}D", layer.filters, layer.kernel_size, **kwargs)
    return ctx.layer(node.name, ctor, x.var, node.spec, x.phys, weights)


def lower_as_depthwise(ctx, node, x):
    """A conv with one group per input channel is Keras's ``DepthwiseConv1D/2D``: the idiomatic layer, which
    tf2onnx exports (it cannot export a grouped ``Conv``) and which, unlike ``Conv``, takes strides together
    with dilation. Output channel ``c * m + j`` is input channel ``c``'s ``j``-th filter in both, so the kernel
    ``(k..., 1, C * m)`` only reshapes to ``(k..., C, m)``."""
    layer = node.layer
    multiplier = layer.filters // layer.groups
    kwargs = {"depth_multiplier": multiplier} if multiplier != 1 else {}
    w = ctx.weights(node)
    kernel = w["kernel"].reshape(*layer.kernel_size, layer.groups, multiplier)
    weights = [kernel] + ([w["bias"]] if layer.use_bias else [])
    return depthwise_layer(ctx, node, x, f"DepthwiseConv{layer.rank}D", (layer.kernel_size,), kwargs, weights)


def depthwise_layer(ctx, node, x, kind, args, kwargs, weights):
    """Emit ``layers.<kind>(*args, <window>, **kwargs, <tail>)``, a layer with a depthwise step, on ``x``.

    TensorFlow's CPU kernel for 2-D depthwise convolutions (``DepthwiseConv2dNative`` without oneDNN) takes
    equal strides only. For strides (sh, sw) with sh != sw the layer runs at strides (g, g), g = gcd(sh, sw),
    'valid', after TF's 'same' (or the explicit) pads as a ``ZeroPadding2D``; then
    ``AveragePooling2D(pool_size=1, strides=(sh // g, sw // g))`` keeps every (sh/g, sw/g)-th position (a 1x1
    average is the value itself). Bias, activation and a pointwise step act per position, so the result is
    exact. A 'same' pad along a strided axis of unknown size is not static: that is refused.
    """
    layer = node.layer
    x = channels_last(ctx, x)
    strides = layer.strides
    if len(strides) != 2 or strides[0] == strides[1]:
        x, window = window_kwargs(ctx, node, x, layer)
        ctor = call(f"layers.{kind}", *args, **window, **kwargs, **tail_kwargs(layer))
        return ctx.layer(node.name, ctor, x.var, node.spec, x.phys, weights)
    axes = x.phys[1:-1]
    sizes = [x.spec.dim(a) for a in axes]
    pads = resolve_pads(layer.padding, sizes, layer.kernel_size, strides, layer.dilation_rate)
    if None in pads:
        raise UnsupportedError(
            f"'same' padding with unequal strides {strides} needs a known size along each "
            f"strided axis in Keras (got {x.spec.shape}): TensorFlow's CPU {kind} takes equal "
            "strides only, so the pads are made explicit"
        )
    g = math.gcd(*strides)
    window = {"strides": (g, g)} if g != 1 else {}
    if any(d != 1 for d in layer.dilation_rate):
        window["dilation_rate"] = layer.dilation_rate
    shape = list(node.spec.shape)
    for a, n, k, d, p in zip(axes, sizes, layer.kernel_size, layer.dilation_rate, pads):
        shape[node.spec.layout.index(a)] = window_out(n, k, g, d, p)
    step = TensorSpec(tuple(shape), node.spec.layout)
    x = zero_pad(ctx, node, x, pads)
    ctor = call(f"layers.{kind}", *args, **window, **kwargs, **tail_kwargs(layer))
    y = ctx.layer(node.name, ctor, x.var, step, x.phys, weights)
    ctor = call("layers.AveragePooling2D", pool_size=1, strides=(strides[0] // g, strides[1] // g))
    return ctx.layer(f"{node.name}_subsample", ctor, y.var, node.spec, y.phys)


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


TABLE = {Conv1D: lower_conv, Conv2D: lower_conv, Conv3D: lower_conv}

#: weights back (backends/lowering/weights_back.py): Keras holds the IR's layout, every weight is a copy
BACK = dict.fromkeys(TABLE)  # every kind of this family has weights, each copied as is
