"""torch lowerings of ZeroPadding, Cropping and UpSampling (1-D and 2-D).

Padding and upsampling hold the tensor channels first (``N, C, spatial...``),
as torch's modules expect; ``nn.ZeroPad1d/2d`` list the *last* axis first, so
Keras's ``((top, bottom), (left, right))`` becomes ``(left, right, top, bottom)``
(docs/equivalence.md, section 12). Cropping is plain slicing at whatever position torch
holds each axis, so it never needs a transpose.

Upsampling: 'nearest' uses ``mode='nearest-exact'``, which reads source
``floor((dst + 0.5) / size)``: for an integer factor that is exactly Keras's
repeat, with a margin of half a pixel against rounding (torch's legacy
'nearest' computes ``floor(dst * (1/size))``, which rounding can push one
pixel down). 'bilinear' is ``align_corners=False``: half-pixel centres, as
TensorFlow's resize (docs/equivalence.md, section 11; ``align_corners=True`` is off by 0.81).
"""

from __future__ import annotations

from ...ir.layers import Cropping1D, Cropping2D, UpSampling1D, UpSampling2D, ZeroPadding1D, ZeroPadding2D
from ...ir.layout import spatial_axes
from ..lowering.code import call
from ..lowering.driver import with_spec


def channels_first(ctx, x):
    """``x`` held ``N, C``, then its spatial axes in declared order."""
    return ctx.require(ctx.plain(x), "NC" + spatial_axes(x.spec.layout))


def lower_zero_padding(ctx, node, inputs):
    x = channels_first(ctx, inputs[0])
    pads = node.layer.padding
    flat = tuple(p for pair in reversed(pads) for p in pair)  # torch lists the last axis first
    mod = ctx.module(node.name, call(f"nn.ZeroPad{len(pads)}d", flat))
    return ctx.let(node.name, f"{mod}({x.var})", node.spec, x.phys)


def _slice(before: int, after: int) -> str:
    return f"{before or ''}:{-after if after else ''}"


def lower_cropping(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    crops = dict(zip(spatial_axes(x.spec.layout), node.layer.cropping))
    if not any(b or a for b, a in crops.values()):
        return with_spec(x, node.spec)
    index = [_slice(*crops[a]) if a in crops else ":" for a in x.phys]
    while index[-1] == ":":
        index.pop()
    return ctx.let(node.name, f"{x.var}[{', '.join(index)}]", node.spec, x.phys)


def lower_upsampling(ctx, node, inputs):
    x = channels_first(ctx, inputs[0])
    layer = node.layer
    size = layer.size[0] if len(set(layer.size)) == 1 else layer.size
    if getattr(layer, "interpolation", "nearest") == "bilinear":
        ctor = call("nn.Upsample", scale_factor=size, mode="bilinear", align_corners=False)
    else:
        ctor = call("nn.Upsample", scale_factor=size, mode="nearest-exact")
    mod = ctx.module(node.name, ctor)
    return ctx.let(node.name, f"{mod}({x.var})", node.spec, x.phys)


TABLE = {
    ZeroPadding1D: lower_zero_padding,
    ZeroPadding2D: lower_zero_padding,
    Cropping1D: lower_cropping,
    Cropping2D: lower_cropping,
    UpSampling1D: lower_upsampling,
    UpSampling2D: lower_upsampling,
}
