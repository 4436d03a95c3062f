"""torch lowerings of Rescaling and Normalization: one expression each, constants inline or as buffers.

Per-channel constants become buffers shaped to broadcast against the tensor as
torch holds it (channels first for images), permuted like the features when a
Flatten left them in another order. Normalization divides by a buffer
``std = max(sqrt(variance), 1e-7)`` computed once in float32, which is what
Keras computes on every call (float32 sqrt is correctly rounded in both).
"""

from __future__ import annotations

import numpy as np

from ...ir.layers import Normalization, Rescaling
from ..lowering.driver import fold_vector


def _constant(ctx, base: str, value, x, letter: str | None) -> str:
    """Source for a constant: a literal for a number, else a buffer broadcasting along ``letter``."""
    if not isinstance(value, np.ndarray) or value.ndim == 0:
        return repr(float(np.float32(value)))
    feat = x.feat if letter == "C" else None
    shape = [1] * len(x.phys)
    shape[x.pos(letter)] = value.size
    return "self." + ctx.buffer(base, fold_vector(value, feat).reshape(shape).astype(np.float32))


def _array(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float32)


def lower_rescaling(ctx, node, inputs):
    (x,) = inputs
    layer: Rescaling = node.layer
    scale = _constant(ctx, f"{node.name}_scale", _array(layer.scale), x, "C")
    expr = f"{x.var} * {scale}"
    if layer.offset != 0.0:
        expr += f" + {_constant(ctx, f'{node.name}_offset', _array(layer.offset), x, 'C')}"
    return ctx.let(node.name, expr, node.spec, x.phys, x.feat)


def lower_normalization(ctx, node, inputs):
    (x,) = inputs
    layer: Normalization = node.layer
    axis = layer.stats_axis(node.spec)
    letter = None if axis is None else node.spec.layout[axis]
    if letter not in (None, "C"):
        x = ctx.plain(x)
    mean = _constant(ctx, f"{node.name}_mean", _array(layer.mean), x, letter)
    std = _constant(ctx, f"{node.name}_std", layer.std(), x, letter)
    expr = f"{mean} + {x.var} * {std}" if layer.invert else f"({x.var} - {mean}) / {std}"
    return ctx.let(node.name, expr, node.spec, x.phys, x.feat)


TABLE = {Rescaling: lower_rescaling, Normalization: lower_normalization}
