"""ONNX lowerings of pooling: MaxPool / AveragePool over windows, ReduceMax / ReduceMean for the global pools.

ONNX's pools carry the IR's padding rules themselves, so no pad node or rescale is needed (but see the last point):

* MaxPool's ``pads`` are never read as values (onnxruntime skips them, so they act as -inf): TensorFlow's
  'same' rule and torch's ``padding=`` alike.
* AveragePool's ``count_include_pad=0`` divides by the count of real elements in each window (TensorFlow's
  'same' rule, torch's ``count_include_pad=False``); ``1`` counts the zero pads too (torch's default).
* ``pads`` lists every axis's start, then every axis's end, so asymmetric pads (TF's 'same' with an odd
  total, explicit per-side pads) need nothing more.
* 'same' with a stride whose pads depend on an unknown length is ``auto_pad='SAME_UPPER'``: output
  ``ceil(n / s)``, the odd pad at the end, which is TensorFlow's rule -- as long as the window is at least
  the stride. With a smaller window the needed pad ``(ceil(n/s) - 1) * s + k - n`` goes negative at some
  lengths, which TensorFlow clamps to 0 but onnxruntime 1.32 does not: MaxPool fails ("padding values must
  be non-negative", ``k=2, s=3, n=6``) and AveragePool shifts its windows (``k=2, s=5, n=5`` starts at 1:
  the head pad is ``-3 / 2 = -1``). There the pads are worked out from the run-time shape and applied with
  a Pad node before an unpadded pool.
"""

from __future__ import annotations

import numpy as np

from ...ir.layers import (
    AvgPool1D,
    AvgPool2D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    MaxPool1D,
    MaxPool2D,
)
from ...ir.layers.conv import resolve_pads
from ...ir.layout import spatial_axes
from .compile import Op


def _run_time_pads(ctx, base: str, layer, sizes: str) -> str:
    """ONNX Pad's ``pads`` for TensorFlow's 'same' rule on spatial sizes ``n`` known only at run time (the
    tensor ``sizes``): ``total = max(ceil(n/s) * s - n + k - s, 0)``, ``total // 2`` before, the rest after."""
    strides = ctx.ints(f"{base}_strides", layer.strides)
    # ceil(n / s) as (n + s - 1) / s: int64 Div truncates, which is floor for these non-negative sizes
    steps = ctx.op(
        "Div",
        ctx.op("Add", sizes, ctx.ints(f"{base}_s_1", [s - 1 for s in layer.strides]), base=f"{base}_up"),
        strides,
        base=f"{base}_out",
    )
    over = ctx.op("Sub", ctx.op("Mul", steps, strides, base=f"{base}_span"), sizes, base=f"{base}_over")
    need = ctx.op(
        "Add", over, ctx.ints(f"{base}_k_s", np.subtract(layer.pool_size, layer.strides)), base=f"{base}_need"
    )
    total = ctx.op("Max", need, ctx.ints(f"{base}_zero", [0] * layer.rank), base=f"{base}_total")
    before = ctx.op("Div", total, ctx.ints(f"{base}_two", [2] * layer.rank), base=f"{base}_before")
    after = ctx.op("Sub", total, before, base=f"{base}_after")
    keep = ctx.ints(f"{base}_nc", [0, 0])  # batch and channels unpadded
    return ctx.op("Concat", keep, before, keep, after, base=f"{base}_pads", axis=0)


def _pool_padded_at_run_time(ctx, node, x, attrs: dict, is_max: bool):
    """'same' pooling with a window smaller than its stride on unknown sizes, where ``auto_pad`` is wrong in
    onnxruntime: the pads worked out from the run-time shape, applied by Pad, then an unpadded pool."""
    base = node.name
    sizes = ctx.op("Shape", x.var, base=f"{base}_sizes", start=2)
    pads = _run_time_pads(ctx, base, node.layer, sizes)
    if is_max:
        padded = ctx.op("Pad", x.var, pads, ctx.scalar(f"{base}_minus_inf", -np.inf), base=f"{base}_padded")
        return ctx.let(base, Op("MaxPool", (padded,), attrs), node.spec, x.phys)
    # The mean of the real elements: the pooled zero-padded input over the pooled zero-padded ones map (both
    # divided by the window size, which cancels).
    total = ctx.op("AveragePool", ctx.op("Pad", x.var, pads, base=f"{base}_padded"), base=f"{base}_total", **attrs)
    shape = ctx.op("Concat", ctx.ints(f"{base}_one_one", [1, 1]), sizes, base=f"{base}_ones_shape", axis=0)
    ones = ctx.op("Expand", ctx.scalar(f"{base}_one", 1.0), shape, base=f"{base}_ones")
    count = ctx.op("AveragePool", ctx.op("Pad", ones, pads, base=f"{base}_ones_padded"), base=f"{base}_count", **attrs)
    return ctx.let(base, Op("Div", (total, count)), node.spec, x.phys)


def lower_pool(ctx, node, inputs):
    layer = node.layer
    x = ctx.plain(inputs[0])
    x = ctx.require(x, "NC" + spatial_axes(x.spec.layout))
    is_max = isinstance(layer, (MaxPool1D, MaxPool2D))
    attrs = {"kernel_shape": list(layer.pool_size), "strides": list(layer.strides)}
    pads = resolve_pads(
        layer.padding, [x.spec.dim(a) for a in x.phys[2:]], layer.pool_size, layer.strides, (1,) * layer.rank
    )
    if None in pads:  # 'same' with strides on an unknown size
        if any(k < s for k, s in zip(layer.pool_size, layer.strides)):
            return _pool_padded_at_run_time(ctx, node, x, attrs, is_max)
        attrs["auto_pad"] = "SAME_UPPER"
    elif any(b or a for b, a in pads):
        attrs["pads"] = [b for b, _ in pads] + [a for _, a in pads]
    if is_max:
        return ctx.let(node.name, Op("MaxPool", (x.var,), attrs), node.spec, x.phys)
    # 'same' and 'valid' have count_include_pad=True in the IR but divide by the real count (TF): for 'valid'
    # the two agree, for 'same' only the real count is right.
    attrs["count_include_pad"] = int(not isinstance(layer.padding, str) and layer.count_include_pad)
    return ctx.let(node.name, Op("AveragePool", (x.var,), attrs), node.spec, x.phys)


def lower_global_pool(ctx, node, inputs):
    """A reduction over the spatial axes wherever they are held: no transpose needed."""
    layer = node.layer
    x = ctx.plain(inputs[0])
    spatial = spatial_axes(x.spec.layout)
    axes = ctx.ints(f"{node.name}_axes", [x.pos(a) for a in spatial])
    op_type = "ReduceMean" if isinstance(layer, (GlobalAvgPool1D, GlobalAvgPool2D)) else "ReduceMax"
    phys = x.phys if layer.keepdims else "".join(a for a in x.phys if a not in spatial)
    return ctx.let(node.name, Op(op_type, (x.var, axes), {"keepdims": int(layer.keepdims)}), node.spec, phys)


TABLE = {
    MaxPool1D: lower_pool,
    MaxPool2D: lower_pool,
    AvgPool1D: lower_pool,
    AvgPool2D: lower_pool,
    GlobalAvgPool1D: lower_global_pool,
    GlobalAvgPool2D: lower_global_pool,
    GlobalMaxPool1D: lower_global_pool,
    GlobalMaxPool2D: lower_global_pool,
}
