"""ONNX lowerings of ZeroPadding, Cropping and UpSampling (1-D and 2-D).

Pad, Slice and nearest Resize act on any axis, so they work on the tensor as held (no transpose): each
spatial axis is found at its physical position. Bilinear Resize is done channels first, the one layout
onnxruntime's linear Resize takes for every size (it resizes only the innermost axes, or NHWC).

Which Resize is Keras's upsampling (measured in onnxruntime 1.32, factors 1..64, 97, 127, 255, 1000):

* 'nearest' repeats each element ``size`` times: output ``q*s + r`` reads input ``q``. With
  ``coordinate_transformation_mode='half_pixel'`` and ``nearest_mode='round_prefer_floor'`` (ONNX's defaults)
  the source is ``round(q + (r + 0.5)/s - 0.5)``, an offset strictly inside (-0.5, 0.5): ``q`` with half a
  pixel to spare, so no float rounding can move it (``asymmetric`` + ``floor`` also passes in onnxruntime,
  but only because it divides exactly; ``floor(q + r/s)`` sits on the boundary at r = 0).
* 'bilinear' is ``mode='linear'`` with ``half_pixel``: TensorFlow's ``resize(..., 'bilinear')`` with
  half-pixel centres, sources clamped to the edge (``align_corners`` is not Keras's convention).
"""

from __future__ import annotations

import numpy as np

from ...ir.layers import Cropping1D, Cropping2D, UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D
from ...ir.layout import spatial_axes
from ..lowering.driver import with_spec
from .compile import Op

#: a Slice end past any axis: "to the end" for an axis of unknown length
_TO_THE_END = np.iinfo(np.int64).max


def lower_zero_padding(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    pads = dict(zip(spatial_axes(x.spec.layout), node.layer.padding))
    # Pad lists every axis's start, then every axis's end, in held order; constant zeros is its default mode.
    begin = [pads.get(a, (0, 0))[0] for a in x.phys]
    end = [pads.get(a, (0, 0))[1] for a in x.phys]
    return ctx.let(node.name, Op("Pad", (x.var, ctx.ints(f"{node.name}_pads", begin + end))), node.spec, x.phys)


def lower_cropping(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    crops = [(x.pos(a), b, e) for a, (b, e) in zip(spatial_axes(x.spec.layout), node.layer.cropping) if b or e]
    if not crops:
        return with_spec(x, node.spec)
    # Negative ends count from the end, so the slice needs no length: it works on symbolic lengths.
    starts = ctx.ints(f"{node.name}_starts", [b for _, b, _ in crops])
    ends = ctx.ints(f"{node.name}_ends", [-e if e else _TO_THE_END for _, _, e in crops])
    axes = ctx.ints(f"{node.name}_axes", [i for i, _, _ in crops])
    return ctx.let(node.name, Op("Slice", (x.var, starts, ends, axes)), node.spec, x.phys)


def lower_upsampling(ctx, node, inputs):
    layer = node.layer
    x = ctx.plain(inputs[0])
    bilinear = getattr(layer, "interpolation", "nearest") == "bilinear"
    if bilinear:
        x = ctx.require(x, "NC" + spatial_axes(x.spec.layout))
    size = dict(zip(spatial_axes(x.spec.layout), layer.size))
    scales = ctx.const(f"{node.name}_scales", np.array([size.get(a, 1) for a in x.phys], dtype=np.float32))
    attrs = {"mode": "linear" if bilinear else "nearest", "coordinate_transformation_mode": "half_pixel"}
    if not bilinear:
        attrs["nearest_mode"] = "round_prefer_floor"
    # Resize's inputs: X, roi (unused: omitted), scales
    return ctx.let(node.name, Op("Resize", (x.var, "", scales), attrs), node.spec, x.phys)


TABLE = {
    ZeroPadding1D: lower_zero_padding,
    ZeroPadding2D: lower_zero_padding,
    Cropping1D: lower_cropping,
    Cropping2D: lower_cropping,
    UpSampling1D: lower_upsampling,
    UpSampling2D: lower_upsampling,
}
