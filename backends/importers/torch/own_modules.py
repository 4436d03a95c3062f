"""Helper modules that ``to_torch`` writes into the code it emits, converted whole, so that importing what
twinnet compiled gives its layers back: ``ChannelLayerNorm`` (a LayerNorm over axes that are not last, such
as the channels of a channels-first tensor) is an IR ``LayerNorm`` over those axes.

The emitted class is defined in the emitted code, not importable from here: it is known by its name and the
attributes its ``forward`` reads (``dims``, ``eps``, ``weight`` and ``bias`` shaped like the input with ones
on the other axes), so a user's module of another make is never taken for it. The capture keeps each such
module's calls as one node (``capture.py``), where ``torch.export`` would record its mean, pow and rsqrt.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from ....ir import layers as L
from ....ir.errors import UnsupportedError
from .modules import array, letter


def is_channel_layer_norm(m: nn.Module) -> bool:
    dims, eps = getattr(m, "dims", None), getattr(m, "eps", None)
    if type(m).__name__ != "ChannelLayerNorm" or not isinstance(dims, tuple) or not isinstance(eps, float):
        return False
    affine = [getattr(m, k, False) for k in ("weight", "bias")]
    return all(isinstance(d, int) for d in dims) and all(p is None or isinstance(p, nn.Parameter) for p in affine)


def channel_layer_norm(ctx, call):
    """``ChannelLayerNorm(shape, dims, eps)``: LayerNorm over the letters at ``dims``; weight and bias
    (full rank, ones on the other axes) become gamma and beta shaped like the normalised axes."""
    m, x = call.module, ctx.tensor(call.args[0])
    axes = "".join(letter(x, d) for d in m.dims)
    order = sorted(m.dims, key=lambda d: d % x.spec.rank)
    if [d % x.spec.rank for d in m.dims] != [d % x.spec.rank for d in order]:
        raise UnsupportedError(f"dims {m.dims} are not in ascending order")
    sizes = tuple(x.spec.dim(a) for a in axes)
    weights = {}
    for key, p in (("gamma", m.weight), ("beta", m.bias)):
        if p is not None:
            if int(np.prod(p.shape)) != int(np.prod(sizes)):
                raise UnsupportedError(f"{key} of shape {tuple(p.shape)} does not match the normalised axes {sizes}")
            weights[key] = array(p).reshape(sizes)
    layer = L.LayerNorm(
        axis=axes if len(axes) > 1 else axes[0], epsilon=m.eps, center=m.bias is not None, scale=m.weight is not None
    )
    return ctx.add(call, layer, [x], weights)


def own_leaves(module: nn.Module) -> set[int]:
    """The ids of ``module``'s twinnet helper modules to keep whole (one node each)."""
    return {id(m) for m in module.modules() if is_channel_layer_norm(m)}


def own_module(module: nn.Module):
    """The converter of a twinnet helper module (None for any other module)."""
    return channel_layer_norm if is_channel_layer_norm(module) else None
