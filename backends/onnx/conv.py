"""ONNX lowerings of Conv1D, Conv2D and Conv3D.

ONNX's Conv takes the input channels-first and the weight as ``(out,
in/groups, k...)``. TensorFlow's 'same' padding puts the odd pad element after
the data and, with stride > 1, depends on the input length; Conv's ``pads``
attribute lists a begin and an end per axis, so every padding mode ('same',
'causal', explicit per-side pads) becomes explicit pads on the Conv itself,
never ``auto_pad`` (pads spelled out say what the file computes). Only 'same'
with stride > 1 along an axis of unknown length needs pads computed at run
time: a Pad node in front, fed by a few integer nodes.
"""

from __future__ import annotations

import numpy as np

from ...ir.layers import Conv1D, Conv2D, Conv3D
from ...ir.layers.conv import resolve_pads
from ..lowering.code import Value
from ..lowering.kernels import channels_first_kernel
from .activations import finish, fused
from .compile import Op


def channels_first(ctx, x):
    """``x`` held ``N, C, spatial...`` (spatial axes in declared order), features in logical order."""
    x = ctx.plain(x)
    return ctx.require(x, "NC" + x.spec.layout.replace("N", "").replace("C", ""))


def window(ctx, x, base: str, kernel, strides, dilation, padding) -> tuple[str, dict]:
    """(the tensor a Conv over ``x``'s spatial axes reads, the Conv's window attributes).

    Known pads go into the Conv's ``pads``; an axis whose 'same' pads depend on a length known only at run
    time is padded by a Pad node in front (:func:`same_pad`) and gets 0 there.
    """
    pads = resolve_pads(padding, [x.spec.dim(a) for a in x.phys[2:]], kernel, strides, dilation)
    unknown = [i for i, p in enumerate(pads) if p is None]
    var = same_pad(ctx, x, unknown, base, kernel, strides, dilation) if unknown else x.var
    pads = [(0, 0) if p is None else p for p in pads]
    # ONNX lists every axis's begin pad, then every axis's end pad
    return var, {
        "kernel_shape": list(kernel),
        "strides": list(strides),
        "dilations": list(dilation),
        "pads": [b for b, _ in pads] + [a for _, a in pads],
    }


def same_pad(ctx, x, axes: list[int], base: str, kernel, strides, dilation) -> str:
    """``x`` zero-padded by TensorFlow's 'same' rule along the spatial ``axes`` (indices after N, C) whose
    lengths ``n`` are known only at run time: ``total = max(ceil(n/s)*s - n + k_e - s, 0)`` with the dilated
    kernel ``k_e``, the odd element after the data. A few int64 nodes compute it from ``Shape(x)``."""
    k_e = [(kernel[i] - 1) * dilation[i] + 1 for i in axes]
    s = [strides[i] for i in axes]
    at = ctx.ints(f"{base}_pad_axes", [2 + i for i in axes])
    stride = ctx.ints(f"{base}_strides", s)
    n = ctx.op("Gather", ctx.op("Shape", x.var, base=f"{base}_shape"), at, base=f"{base}_lengths")
    # ceil(n/s)*s: int64 Div truncates, which is floor for these positive numbers
    blocks = ctx.op(
        "Div",
        ctx.op("Add", n, ctx.ints(f"{base}_s_1", [v - 1 for v in s]), base=f"{base}_up"),
        stride,
        base=f"{base}_blocks",
    )
    span = ctx.op("Mul", blocks, stride, base=f"{base}_span")
    short = ctx.op("Sub", span, n, base=f"{base}_short")
    need = ctx.op("Add", short, ctx.ints(f"{base}_k_e_s", [k - v for k, v in zip(k_e, s)]), base=f"{base}_need")
    total = ctx.op("Max", need, ctx.const(f"{base}_zero", np.array(0, np.int64)), base=f"{base}_total")
    before = ctx.op("Div", total, ctx.const(f"{base}_two", np.array(2, np.int64)), base=f"{base}_before")
    after = ctx.op("Sub", total, before, base=f"{base}_after")
    pads = ctx.op("Concat", before, after, base=f"{base}_pads", axis=0)
    # Pad (opset 18+) takes the axes it pads; no constant value: zeros
    return ctx.op("Pad", x.var, pads, "", at, base=f"{base}_padded")


def conv(ctx, x, weight, bias, base: str, group: int = 1, **window_args) -> Op:
    """A Conv node (still to be added) over ``x``, a channels-first value, with ``weight``
    ``(out, in/group, k...)`` and an optional ``bias``."""
    var, attrs = window(ctx, x, base, **window_args)
    args = [var, ctx.const(f"{base}_weight", weight)]
    if bias is not None:
        args.append(ctx.const(f"{base}_bias", bias))
    return Op("Conv", tuple(args), {"group": group, **attrs})


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
    op = conv(
        ctx,
        x,
        channels_first_kernel(w["kernel"]),
        w["bias"] if layer.use_bias else None,
        node.name,
        group=layer.groups,
        kernel=layer.kernel_size,
        strides=layer.strides,
        dilation=layer.dilation_rate,
        padding=layer.padding,
    )
    return activated(ctx, node, op, x)


TABLE = {Conv1D: lower_conv, Conv2D: lower_conv, Conv3D: lower_conv}

#: weights back (backends/lowering/weights_back.py): every initializer element is a copy of an IR weight
BACK = dict.fromkeys(TABLE)  # every kind of this family has weights, each copied as is
