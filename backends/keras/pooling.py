"""Keras lowerings of pooling.

The IR's 'valid' and 'same' pooling are TensorFlow's ('same' max pads with
-inf, 'same' average divides by the count of real elements), so the Keras
layers map one to one; only the layout needs care (channels last).

Explicit pads (torch's ``padding=``) have no Keras argument; they are built
exactly from standard layers, for a known input size:

* pads equal to TF's 'same' pads for this size (max, or average without
  counting the padding): ``padding="same"``;
* average, padding counted: ``ZeroPadding`` then a 'valid' pool;
* average, padding not counted: the same, then one ``Rescaling`` per padded
  axis by a constant ``k / real count`` per output position (the count map
  is a product of one count vector per axis);
* max: edge replication (see ``edge_pad``) then a 'valid' pool.
"""

from __future__ import annotations

import numpy as np

from ...ir.errors import UnsupportedError
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
from ...ir.layers.conv import resolve_pads, window_out
from ...ir.tensor import TensorSpec
from ..lowering.code import call
from .conv import channels_last, zero_pad

_KIND = {
    MaxPool1D: "MaxPooling1D",
    MaxPool2D: "MaxPooling2D",
    AvgPool1D: "AveragePooling1D",
    AvgPool2D: "AveragePooling2D",
    GlobalAvgPool1D: "GlobalAveragePooling1D",
    GlobalAvgPool2D: "GlobalAveragePooling2D",
    GlobalMaxPool1D: "GlobalMaxPooling1D",
    GlobalMaxPool2D: "GlobalMaxPooling2D",
}


def _resized(spec: TensorSpec, axis: str, size: int) -> TensorSpec:
    return TensorSpec(tuple(size if a == axis else d for a, d in zip(spec.layout, spec.shape)), spec.layout)


def edge_pad(ctx, node, x, pads):
    """Pad each spatial axis of channels-last ``x`` with copies of its first / last slice.

    Why this equals -inf padding under a max pool whose pads are each smaller
    than the window k (the IR checks that): along one axis of length n, a
    window covers ``[t, t + k)`` with ``t >= -before > -k`` and
    ``t <= n + after - k < n``, so it holds at least one real position, and
    clamping its positions into ``[0, n)`` lands inside the window again.
    Edge padding is exactly that clamp (per axis, so corners copy corners):
    every padded value in a window repeats a real value of the same window,
    hence the max over the window equals the max over its real part, which
    is what -inf padding gives.
    """
    nd = len(pads)
    for i, (before, after) in enumerate(pads):
        if not before and not after:
            continue
        axis = x.phys[1 + i]
        n = x.spec.dim(axis)
        sides = {}
        for side, count, crop in (("first", before, (0, n - 1)), ("last", after, (n - 1, 0))):
            crops = [(0, 0)] * nd
            crops[i] = crop  # keep only the first (last) slice along this axis
            arg = crops[0] if nd == 1 else tuple(crops)
            sides[side] = (
                [
                    ctx.layer(
                        f"{node.name}_{side}{i}",
                        call(f"layers.Cropping{nd}D", arg),
                        x.var,
                        _resized(x.spec, axis, 1),
                        x.phys,
                    ).var
                ]
                * count
                if count
                else []
            )
        parts = sides["first"] + [x.var] + sides["last"]
        x = ctx.layer(
            f"{node.name}_edge{i}",
            call("layers.Concatenate", axis=1 + i),
            f"[{', '.join(parts)}]",
            _resized(x.spec, axis, n + before + after),
            x.phys,
        )
    return x


def _rescale_counts(ctx, node, y, sizes, layer, pads):
    """Multiply the pooled channels-last ``y`` by k / (real count), one Rescaling per axis that needs it."""
    nd = len(pads)
    for i, (n, k, s, (before, after)) in enumerate(zip(sizes, layer.pool_size, layer.strides, pads)):
        starts = np.arange(window_out(n, k, s, 1, (before, after))) * s - before
        counts = np.minimum(starts + k, n) - np.maximum(starts, 0)
        if np.all(counts == k):
            continue
        # shape (out_i, 1, ..., 1): broadcasts over the later spatial axes and the channels
        scale = (k / counts).astype(np.float32).reshape((-1,) + (1,) * (nd - i))
        y = ctx.layer(f"{node.name}_count{i}", call("layers.Rescaling", scale.tolist()), y.var, y.spec, y.phys)
    return y


def lower_pool(ctx, node, inputs):
    (x,) = inputs
    layer = node.layer
    nd = layer.rank
    is_max = isinstance(layer, (MaxPool1D, MaxPool2D))
    x = channels_last(ctx, x)
    padding, rescale = layer.padding, None
    if not isinstance(padding, str):
        sizes = [x.spec.dim(a) for a in x.phys[1:-1]]
        include = not is_max and layer.count_include_pad
        if not include and resolve_pads("same", sizes, layer.pool_size, layer.strides, (1,) * nd) == padding:
            padding = "same"  # TF's own pads for this size: the simplest graph
        elif not is_max and include:
            x, padding = zero_pad(ctx, node, x, padding), "valid"
        elif None in sizes:
            raise UnsupportedError(
                f"explicit pads {padding} with "
                f"{'max pooling' if is_max else 'count_include_pad=False'} need a known input "
                f"size in Keras (got {x.spec.shape})"
            )
        elif is_max:
            x, padding = edge_pad(ctx, node, x, padding), "valid"
        else:
            x, rescale, padding = zero_pad(ctx, node, x, padding), sizes, "valid"
    kwargs = {"strides": layer.strides} if layer.strides != layer.pool_size else {}
    if padding != "valid":
        kwargs["padding"] = padding
    ctor = call(f"layers.{_KIND[type(layer)]}", layer.pool_size, **kwargs)
    y = ctx.layer(node.name, ctor, x.var, node.spec, x.phys)
    return y if rescale is None else _rescale_counts(ctx, node, y, rescale, layer, layer.padding)


def lower_global_pool(ctx, node, inputs):
    (x,) = inputs
    layer = node.layer
    x = channels_last(ctx, x)
    kwargs = {"keepdims": True} if layer.keepdims else {}
    phys = x.phys if layer.keepdims else "NC"
    return ctx.layer(node.name, call(f"layers.{_KIND[type(layer)]}", **kwargs), x.var, node.spec, phys)


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
