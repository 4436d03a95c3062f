"""torch lowerings of pooling.

'same' pooling follows TensorFlow: max pads with -inf, average divides by the
count of real elements; explicit pads are torch's own ``padding=`` semantics
(-inf for max, zeros for average, counted unless ``count_include_pad=False``).
Pads torch's pool takes itself (symmetric, at most half the window) map to
``padding=``; others become an explicit pad module (-inf or zeros) in front of
an unpadded pool, and where the padding must not count, a constant buffer
rescales each window by k/count (the count map depends only on the static
spatial size).
"""

from __future__ import annotations

import math

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
from ...ir.layers.conv import window_out
from ..lowering.code import call
from .conv import pad_module, spatial_pads


def _window_counts(sizes, pool, strides, pads) -> np.ndarray:
    """Number of real (unpadded) elements in each pooling window."""
    per_axis = []
    for n, k, s, (b, a) in zip(sizes, pool, strides, pads):
        out = window_out(n, k, s, 1, (b, a))
        starts = np.arange(out) * s - b
        per_axis.append(np.minimum(starts + k, n) - np.maximum(starts, 0))
    grid = per_axis[0]
    for counts in per_axis[1:]:
        grid = np.multiply.outer(grid, counts)
    return grid.astype(np.float32)


def lower_pool(ctx, node, inputs):
    (x,) = inputs
    layer = node.layer
    nd = layer.rank
    is_max = isinstance(layer, (MaxPool1D, MaxPool2D))
    x = ctx.require(ctx.plain(x), "NC" + x.spec.layout.replace("N", "").replace("C", ""))
    pads = spatial_pads(ctx, node, x, layer.pool_size, layer.strides, (1,) * nd, layer.padding)
    # zeros counted as elements: explicit pads with count_include_pad (never 'same', TF's real-count rule)
    include = not is_max and not isinstance(layer.padding, str) and layer.count_include_pad
    # torch's pools pad themselves only symmetrically and by at most half the window
    native = all(b == a and 2 * b <= k for (b, a), k in zip(pads, layer.pool_size))
    if native:
        var, sym = x.var, tuple(b for b, _ in pads)
    else:
        var, sym = pad_module(ctx, node, x, pads, value="float('-inf')" if is_max else None, force=True)
    kwargs = {"stride": layer.strides} if layer.strides != layer.pool_size else {}
    if any(sym):
        kwargs["padding"] = sym
        if not is_max and not include:
            kwargs["count_include_pad"] = False
    kind = "MaxPool" if is_max else "AvgPool"
    mod = ctx.module(node.name, call(f"nn.{kind}{nd}d", layer.pool_size, **kwargs))
    expr = f"{mod}({var})"
    if not is_max and not include and not native:
        sizes = [x.spec.dim(a) for a in x.phys[2:]]
        if None in sizes:
            # the count map depends on the unknown length: count the real elements by pooling a padded ones map
            flat = tuple(p for pair in reversed(pads) for p in pair)
            expr = f"{expr} / {mod}(F.pad(torch.ones_like({x.var}[:, :1]), {flat!r}))"
            return ctx.let(node.name, expr, node.spec, x.phys)
        counts = _window_counts(sizes, layer.pool_size, layer.strides, pads)
        scale = (math.prod(layer.pool_size) / counts).reshape(1, 1, *counts.shape).astype(np.float32)
        expr = f"{expr} * self.{ctx.buffer(f'{node.name}_scale', scale)}"
    return ctx.let(node.name, expr, node.spec, x.phys)


def lower_global_pool(ctx, node, inputs):
    (x,) = inputs
    layer = node.layer
    x = ctx.plain(x)
    spatial = [a for a in x.spec.layout if a not in "NC"]
    dims = tuple(x.pos(a) for a in spatial)
    dims_src = dims[0] if len(dims) == 1 else dims
    op = "mean" if isinstance(layer, (GlobalAvgPool1D, GlobalAvgPool2D)) else "amax"
    keep = ", keepdim=True" if layer.keepdims else ""
    phys = x.phys if layer.keepdims else "".join(a for a in x.phys if a not in spatial)
    return ctx.let(node.name, f"{x.var}.{op}(dim={dims_src!r}{keep})", node.spec, phys)


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
