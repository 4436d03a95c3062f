"""ONNX lowerings of pooling: MaxPool / AveragePool over windows, ReduceMax / ReduceMean for the global pools.

ONNX's pools carry every padding rule the IR has, so no pad node or rescale is needed:

* MaxPool's ``pads`` are never read as values (onnxruntime skips them, so they act as -inf): TensorFlow's
  'same' rule and torch's ``padding=`` alike.
* AveragePool's ``count_include_pad=0`` divides by the count of real elements in each window (TensorFlow's
  'same' rule, torch's ``count_include_pad=False``); ``1`` counts the zero pads too (torch's default).
* ``pads`` lists every axis's start, then every axis's end, so asymmetric pads (TF's 'same' with an odd
  total, explicit per-side pads) need nothing more.
* 'same' with a stride whose pads depend on an unknown length is ``auto_pad='SAME_UPPER'``: output
  ``ceil(n / s)``, the odd pad at the end, which is TensorFlow's rule at every length.
"""
from __future__ import annotations

from ir.layers import (AvgPool1D, AvgPool2D, GlobalAvgPool1D, GlobalAvgPool2D, GlobalMaxPool1D, GlobalMaxPool2D,
                       MaxPool1D, MaxPool2D)
from ir.layers.conv import resolve_pads
from ir.layout import spatial_axes

from .compile import Op


def _pad_attrs(layer, x) -> dict:
    """The pads of ``layer`` on ``x`` (held channels first) as ONNX attributes: ``pads`` or ``auto_pad``."""
    sizes = [x.spec.dim(a) for a in x.phys[2:]]
    pads = resolve_pads(layer.padding, sizes, layer.pool_size, layer.strides, (1,) * layer.rank)
    if any(p is None for p in pads):
        return {"auto_pad": "SAME_UPPER"}  # 'same' on an unknown length: onnxruntime works the pads out per run
    if not any(b or a for b, a in pads):
        return {}
    return {"pads": [b for b, _ in pads] + [a for _, a in pads]}


def lower_pool(ctx, node, inputs):
    layer = node.layer
    x = ctx.plain(inputs[0])
    x = ctx.require(x, "NC" + spatial_axes(x.spec.layout))
    attrs = {"kernel_shape": list(layer.pool_size), "strides": list(layer.strides), **_pad_attrs(layer, x)}
    if isinstance(layer, (MaxPool1D, MaxPool2D)):
        return ctx.let(node.name, Op("MaxPool", (x.var,), attrs), node.spec, x.phys)
    # 'same' and 'valid' have count_include_pad=True in the IR but divide by the real count (TF): for 'valid'
    # the two agree, for 'same' only the real count is right.
    include = not isinstance(layer.padding, str) and layer.count_include_pad
    attrs["count_include_pad"] = int(include)
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


TABLE = {MaxPool1D: lower_pool, MaxPool2D: lower_pool, AvgPool1D: lower_pool, AvgPool2D: lower_pool,
         GlobalAvgPool1D: lower_global_pool, GlobalAvgPool2D: lower_global_pool,
         GlobalMaxPool1D: lower_global_pool, GlobalMaxPool2D: lower_global_pool}
