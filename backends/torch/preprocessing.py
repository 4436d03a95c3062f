"""torch lowerings of Rescaling (one expression, constants inline or as buffers) and Normalization (a helper module).

Per-channel constants become buffers shaped to broadcast against the tensor as
torch holds it (channels first for images), permuted like the features when a
Flatten left them in another order. Normalization is the helper module
``KerasNormalization`` (``helpers_norm.py``) holding mean and variance as such buffers, so
that ``from_torch`` reads it back as the layer; it divides by
``max(sqrt(variance), 1e-7)`` in float32 on every call, as Keras does (float32
sqrt is correctly rounded in both).
"""

from __future__ import annotations

import numpy as np

from ...ir.layers import Normalization, Rescaling
from ..lowering.code import call
from ..lowering.driver import fold_vector


def _constant(ctx, base: str, value, x, letter: str | None) -> str:
    """Source for a constant: a literal for a number, else a buffer broadcasting along ``letter``."""
    if not isinstance(value, np.ndarray) or value.ndim == 0:
        return repr(float(value))  # as the layer holds it: torch rounds a Python number to the tensor's dtype
    feat = x.feat if letter == "C" else None
    shape = [1] * len(x.phys)
    shape[x.pos(letter)] = value.size
    return "self." + ctx.buffer(base, fold_vector(value, feat).reshape(shape).astype(np.float32))


def _array(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float32)


def _stat(value):
    """A number as is, per-channel constants as a float32 array."""
    return _array(value) if isinstance(value, tuple) else float(value)


def lower_rescaling(ctx, node, inputs):
    (x,) = inputs
    layer: Rescaling = node.layer
    scale = _constant(ctx, f"{node.name}_scale", _stat(layer.scale), x, "C")
    expr = x.var if layer.scale == 1.0 and layer.offset != 0.0 else f"{x.var} * {scale}"  # x + 1.0, not x * 1.0 + 1.0
    if layer.offset != 0.0:
        expr += f" + {_constant(ctx, f'{node.name}_offset', _stat(layer.offset), x, 'C')}"
    return ctx.let(node.name, expr, node.spec, x.phys, x.feat)


def lower_normalization(ctx, node, inputs):
    (x,) = inputs
    layer: Normalization = node.layer
    axis = layer.stats_axis(node.spec)
    letter = None if axis is None else node.spec.layout[axis]
    if letter not in (None, "C"):
        x = ctx.plain(x)
    # the helper module KerasNormalization, which from_torch reads back as this layer (own_modules.py)
    shape = [1] * len(x.phys)
    per_entry = letter is not None and (isinstance(layer.mean, tuple) or isinstance(layer.variance, tuple))
    if per_entry:
        shape[x.pos(letter)] = node.spec.dim(letter)
    feat = x.feat if per_entry and letter == "C" else None
    stats = {"mean": layer.mean, "variance": layer.variance}
    flat = {k: np.broadcast_to(_array(v).reshape(-1), (int(np.prod(shape)),)) for k, v in stats.items()}
    params = {k: fold_vector(v, feat).reshape(shape) for k, v in flat.items()}
    ctx.program.helpers.add("KerasNormalization")
    dim = None if letter is None else x.pos(letter)
    kwargs = {"invert": True} if layer.invert else {}
    mod = ctx.module(node.name, call("KerasNormalization", tuple(shape), dim, **kwargs), params)
    return ctx.let(node.name, f"{mod}({x.var})", node.spec, x.phys, x.feat)


TABLE = {Rescaling: lower_rescaling, Normalization: lower_normalization}
