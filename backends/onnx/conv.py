"""ONNX lowerings of Conv1D, Conv2D and Conv3D.

ONNX's Conv takes the input channels-first and the weight as ``(out,
in/groups, k...)``. TensorFlow's 'same' padding puts the odd pad element after
the data and, with stride > 1, depends on the input length; Conv's ``pads``
attribute lists a begin and an end per axis, so every padding mode ('same',
'causal', explicit per-side pads) becomes explicit pads on the Conv itself:
no Pad node, and never ``auto_pad`` (its SAME_UPPER/SAME_LOWER rules are the
spec's, not the IR's, and pads spelled out say what the file computes).
"""
from __future__ import annotations

from ir.layers import Conv1D, Conv2D, Conv3D

from ..conv_common import channels_first_kernel, static_pads
from ..program import Value
from .activations import finish, fused
from .compile import Op


def channels_first(ctx, x):
    """``x`` held ``N, C, spatial...`` (spatial axes in declared order), features in logical order."""
    x = ctx.plain(x)
    return ctx.require(x, "NC" + x.spec.layout.replace("N", "").replace("C", ""))


def window_attrs(x, kernel, strides, dilation, padding) -> dict:
    """Conv / ConvTranspose attributes for a window over ``x``'s spatial axes (held channels-first)."""
    pads = static_pads(x.spec, x.phys[2:], kernel, strides, dilation, padding, "ONNX")
    # ONNX lists every axis's begin pad, then every axis's end pad
    return {"kernel_shape": list(kernel), "strides": list(strides), "dilations": list(dilation),
            "pads": [b for b, _ in pads] + [a for _, a in pads]}


def conv(ctx, x, weight, bias, base: str, group: int = 1, **window) -> Op:
    """A Conv node (still to be added) over ``x``, a channels-first value, with ``weight``
    ``(out, in/group, k...)`` and an optional ``bias``."""
    args = [x.var, ctx.const(f"{base}_weight", weight)]
    if bias is not None:
        args.append(ctx.const(f"{base}_bias", bias))
    return Op("Conv", tuple(args), {"group": group, **window_attrs(x, **window)})


def activated(ctx, node, op: Op, x) -> Value:
    """The layer's value: ``op`` then the layer's fused activation, the last node named after the layer."""
    if node.layer.activation is None:
        return ctx.let(node.name, op, node.spec, x.phys)
    y = ctx.op(op.op_type, *op.inputs, base=f"{node.name}_{op.op_type.lower()}", **op.attrs)
    return finish(ctx, node, fused(ctx, node.layer.activation, y, node.name, x), x)


def lower_conv(ctx, node, inputs):
    layer = node.layer
    x = channels_first(ctx, inputs[0])
    w = ctx.weights(node)
    op = conv(ctx, x, channels_first_kernel(w["kernel"]), w["bias"] if layer.use_bias else None, node.name,
              group=layer.groups, kernel=layer.kernel_size, strides=layer.strides, dilation=layer.dilation_rate,
              padding=layer.padding)
    return activated(ctx, node, op, x)


TABLE = {Conv1D: lower_conv, Conv2D: lower_conv, Conv3D: lower_conv}
