"""ONNX lowerings of Rescaling and Normalization: elementwise Mul/Add and Sub/Div against constants.

Per-axis constants are initializers shaped to broadcast against the tensor as held (channels first for
images), reordered like the features when a Flatten left them permuted. Normalization divides by
``std = max(sqrt(variance), 1e-7)`` computed once in float32, which is what Keras computes on every call
(float32 sqrt is correctly rounded in both), and divides rather than multiplying by ``1 / std`` so the
result rounds as Keras's does.
"""

from __future__ import annotations

import numpy as np

from ...ir.layers import Normalization, Rescaling
from ..lowering.driver import fold_vector
from .compile import Op


def _constant(ctx, base: str, value, x, letter: str | None) -> str:
    """An initializer for ``value``: a float32 scalar for a number, else shaped to broadcast along ``letter``."""
    value = np.asarray(value, dtype=np.float32)
    if value.ndim == 0:
        return ctx.const(base, value)
    shape = [1] * len(x.phys)
    shape[x.pos(letter)] = value.size
    return ctx.const(base, fold_vector(value, x.feat if letter == "C" else None).reshape(shape))


def lower_rescaling(ctx, node, inputs):
    (x,) = inputs
    layer: Rescaling = node.layer
    base = node.name
    scale = _constant(ctx, f"{base}_scale", layer.scale, x, "C")
    if layer.offset == 0.0:
        return ctx.let(base, Op("Mul", (x.var, scale)), node.spec, x.phys, x.feat)
    scaled = ctx.op("Mul", x.var, scale, base=f"{base}_scaled")
    offset = _constant(ctx, f"{base}_offset", layer.offset, x, "C")
    return ctx.let(base, Op("Add", (scaled, offset)), node.spec, x.phys, x.feat)


def lower_normalization(ctx, node, inputs):
    (x,) = inputs
    layer: Normalization = node.layer
    axis = layer.stats_axis(node.spec)
    letter = None if axis is None else node.spec.layout[axis]
    if letter not in (None, "C"):
        x = ctx.plain(x)  # the statistics follow another axis: features back in logical order
    base = node.name
    mean = _constant(ctx, f"{base}_mean", layer.mean, x, letter)
    std = _constant(ctx, f"{base}_std", layer.std(), x, letter)
    if layer.invert:
        y = Op("Add", (mean, ctx.op("Mul", x.var, std, base=f"{base}_scaled")))
    else:
        y = Op("Div", (ctx.op("Sub", x.var, mean, base=f"{base}_centred"), std))
    return ctx.let(node.name, y, node.spec, x.phys, x.feat)


TABLE = {Rescaling: lower_rescaling, Normalization: lower_normalization}
