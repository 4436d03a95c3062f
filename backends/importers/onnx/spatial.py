"""ONNX table entries for spatial reshaping.

Pad -> ZeroPadding, Slice -> Cropping (or Slice), Resize/Upsample -> UpSampling.

Each acts on the spatial axes only (positions 2.. of an ``NCW`` / ``NCHW`` tensor, or
whichever positions layout inference lettered neither ``N`` nor ``C``); one that would
touch the batch or channel axis, or do anything the Keras layer cannot, is refused
with the reason. A Slice of one non-spatial axis (channels of ``NCHW``, features of
``NTC``) is the IR's ``Slice`` instead (what ``torch.chunk`` / ``split`` of channels export).

Resize is a repeat (Keras's 'nearest') only for integer scales and a coordinate rule
that maps output ``i*s + r`` to input ``i`` for every ``r < s``:

====================================  =======================  ===================
coordinate_transformation_mode         nearest_mode             source of ``i*s+r``
====================================  =======================  ===================
asymmetric                             floor                    ``floor(i + r/s)``
half_pixel, pytorch_half_pixel         round_prefer_*, (none)   ``round(i + (r+.5)/s - .5)``
tf_half_pixel_for_nn                   floor                    ``floor(i + (r+.5)/s)``
====================================  =======================  ===================

(the offsets stay inside (-0.5, 0.5) and [0, 1), so no rounding tie or float error
moves them). 'linear' with half-pixel centres is Keras's 'bilinear' (2-D only).
Upsample and opset-10 Resize have no such attributes: they are asymmetric + floor.
"""

from __future__ import annotations

import numpy as np

from ....ir import layers as L
from ....ir.errors import UnsupportedError
from .ctx import Converted, Ctx

_TO_THE_END = 2**31 - 1  # ends this large mean "to the end" (torch writes INT64_MAX, tf2onnx INT32_MAX)
_NEAREST = {
    ("asymmetric", "floor"),
    ("half_pixel", "round_prefer_floor"),
    ("half_pixel", "round_prefer_ceil"),
    ("pytorch_half_pixel", "round_prefer_floor"),
    ("pytorch_half_pixel", "round_prefer_ceil"),
    ("tf_half_pixel_for_nn", "floor"),
}
_LINEAR = {"half_pixel", "pytorch_half_pixel"}


def _spatial(ctx: Ctx, x, axes) -> list[int]:
    """The positions of ``x``'s spatial axes; refused when ``axes`` names N or C or the rank has no IR layer."""
    spatial = [i for i, a in enumerate(x.layout) if a not in "NC"]
    if len(spatial) not in (1, 2) or len(spatial) != x.spec.rank - 2:
        raise UnsupportedError(
            f"acts on a {x.layout!r} tensor; the IR's padding, cropping and upsampling "
            "layers take rank-3 and rank-4 tensors with N and C"
        )
    for a in axes:
        if a not in spatial:
            raise UnsupportedError(
                f"acts on axis {a} ({x.layout[a]!r}); the IR's layers change the spatial axes {spatial} only"
            )
    return spatial


def _ints(ctx: Ctx, index: int, attr: str, what: str) -> list[int] | None:
    """An int list from input ``index`` (newer opsets) or attribute ``attr`` (older ones)."""
    if index < len(ctx.op.inputs) and ctx.op.inputs[index]:
        value = ctx.const(index, what)
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "iu":
            raise UnsupportedError(f"{what} must be a stored integer tensor")
        return [int(v) for v in value.reshape(-1)]
    value = ctx.attr(attr)
    return None if value is None else [int(v) for v in value]


def pad(ctx: Ctx) -> Converted:
    x = ctx.x()
    rank = x.spec.rank
    mode = ctx.attr("mode", "constant")
    if mode != "constant":
        raise UnsupportedError(f"mode={mode!r}: the IR pads with zeros only (mode 'constant')")
    pads = _ints(ctx, 1, "pads", "pads")
    value = ctx.array(2, "constant_value") if len(ctx.op.inputs) > 1 else ctx.attr("value", 0.0)
    value = 0.0 if value is None else float(np.asarray(value).reshape(()))
    if value != 0.0:
        raise UnsupportedError(
            f"pads with {value} (e.g. -inf for a max pool not folded into it); the IR's ZeroPadding pads with zeros"
        )
    axes = _ints(ctx, 3, "axes", "axes") or list(range(rank))
    axes = [a % rank for a in axes]
    if pads is None or len(pads) != 2 * len(axes):
        raise UnsupportedError(f"pads {pads} do not give a begin and an end for each of axes {axes}")
    per_axis = {a: (pads[i], pads[len(axes) + i]) for i, a in enumerate(axes)}
    if any(b < 0 or e < 0 for b, e in per_axis.values()):
        raise UnsupportedError(f"negative pads {pads} crop; the IR's ZeroPadding only adds")
    spatial = _spatial(ctx, x, [a for a, p in per_axis.items() if any(p)])
    layer = L.ZeroPadding1D if len(spatial) == 1 else L.ZeroPadding2D
    return layer(tuple(per_axis.get(a, (0, 0)) for a in spatial)), {}


def crop(ctx: Ctx) -> Converted:
    """Slice with unit steps -> Cropping: ``starts`` is the crop before, ``size - ends`` the crop after."""
    x = ctx.x()
    rank = x.spec.rank
    starts, ends = _ints(ctx, 1, "starts", "starts"), _ints(ctx, 2, "ends", "ends")
    axes = _ints(ctx, 3, "axes", "axes") or list(range(len(starts or [])))
    steps = _ints(ctx, 4, "steps", "steps") or [1] * len(axes)
    if starts is None or ends is None or not len(starts) == len(ends) == len(axes) == len(steps):
        raise UnsupportedError("starts, ends, axes and steps must be constants of one length")
    if any(s != 1 for s in steps):
        raise UnsupportedError(f"steps {steps}: the IR's Cropping and Slice keep every element (steps of 1)")
    crops = {}
    for a, start, end in zip(axes, starts, ends):
        a %= rank
        size = x.spec.shape[a]
        if size is None:  # only crops that do not depend on the size
            if start < 0 or 0 <= end < _TO_THE_END:
                raise UnsupportedError(f"slices axis {a} of unknown size from {start} to {end}")
            crops[a] = (start, 0 if end > 0 else -end)
            continue
        begin = min(max(start + size if start < 0 else start, 0), size)
        stop = min(max(end + size if end < 0 else end, 0), size)
        if stop <= begin:
            raise UnsupportedError(f"slices axis {a} from {start} to {end}: nothing is left")
        crops[a] = (begin, size - stop)
    cut = [a for a, c in crops.items() if any(c)]
    if (
        len(cut) == 1
        and x.layout[cut[0]] != "N"
        and (x.layout[cut[0]] == "C" or len([a for a in x.layout if a not in "NC"]) not in (1, 2))
    ):
        # one non-spatial axis (channels of NCHW, features of NTC), or one axis of a tensor that has
        # no Cropping layer: the IR's Slice, which keeps the declared axis where it is
        a = cut[0]
        begin, after = crops[a]
        if after and x.spec.shape[a] is None:
            raise UnsupportedError(f"slices axis {a} of unknown size short of its end")
        return L.Slice(a, begin, x.spec.shape[a] - after if after else None), {}
    if len(cut) > 1 and any(x.layout[a] in "NC" for a in cut):
        raise UnsupportedError(
            f"slices axes {sorted(cut)} ({''.join(x.layout[a] for a in sorted(cut))!r}) at once; "
            "the IR crops spatial axes together (Cropping) but slices any other axis alone (Slice)"
        )
    spatial = _spatial(ctx, x, cut)
    layer = L.Cropping1D if len(spatial) == 1 else L.Cropping2D
    return layer(tuple(crops.get(a, (0, 0)) for a in spatial)), {}


def _integer_scales(ctx: Ctx, x) -> list[int]:
    """One integer factor per axis, from Resize's scales or sizes (or Upsample's scales)."""
    rank = x.spec.rank
    if ctx.op.op_type == "Upsample" or ctx.graph.opset < 11:  # Resize-10 reads (X, scales), as Upsample-9
        scales = ctx.attr("scales") if len(ctx.op.inputs) < 2 else ctx.array(1, "scales")
        sizes = None
    else:
        scales, sizes = ctx.array(2, "scales"), _ints(ctx, 3, "", "sizes")
        if ctx.attr("keep_aspect_ratio_policy", "stretch") != "stretch" and sizes is not None:
            raise UnsupportedError("keep_aspect_ratio_policy other than 'stretch' is not supported")
    axes = [a % rank for a in ctx.attr("axes", range(rank))]
    factors = [1.0] * rank
    if scales is not None and np.size(scales):
        for a, s in zip(axes, np.asarray(scales, np.float64).reshape(-1)):
            factors[a] = float(s)
    elif sizes is not None:
        for a, n in zip(axes, sizes):
            have = x.spec.shape[a]
            if have is None:
                raise UnsupportedError(f"sizes {sizes} set axis {a}, whose input length is not known")
            factors[a] = n / have
    else:
        raise UnsupportedError("has neither constant scales nor constant sizes")
    if any(not (f >= 1 and float(f).is_integer()) for f in factors):
        raise UnsupportedError(f"scales {factors}: the IR's UpSampling repeats by whole factors (>= 1)")
    return [int(f) for f in factors]


def resize(ctx: Ctx) -> Converted:
    x = ctx.x()
    factors = _integer_scales(ctx, x)
    spatial = _spatial(ctx, x, [a for a, f in enumerate(factors) if f != 1])
    size = tuple(factors[a] for a in spatial)
    mode = ctx.attr("mode", "nearest")
    legacy = ctx.op.op_type == "Upsample" or ctx.graph.opset < 11  # asymmetric coordinates, floor rounding
    coords = ctx.attr("coordinate_transformation_mode", "asymmetric" if legacy else "half_pixel")
    if ctx.attr("antialias", 0) and mode != "nearest":
        raise UnsupportedError("antialias=1 is not supported")
    if mode == "nearest":
        rounding = ctx.attr("nearest_mode", "floor" if legacy else "round_prefer_floor")
        if (coords, rounding) not in _NEAREST:
            raise UnsupportedError(
                f"nearest with coordinate_transformation_mode={coords!r}, nearest_mode="
                f"{rounding!r} does not repeat each element (the IR's 'nearest')"
            )
        return (L.UpSampling1D(size) if len(size) == 1 else L.UpSampling2D(size)), {}
    if mode == "linear" and coords in _LINEAR and len(size) == 2:
        return L.UpSampling2D(size, interpolation="bilinear"), {}
    raise UnsupportedError(
        f"mode={mode!r} with coordinate_transformation_mode={coords!r} on {len(size)} axes; "
        "the IR upsamples 'nearest' (1-D, 2-D) or 'bilinear' with half-pixel centres (2-D)"
    )
