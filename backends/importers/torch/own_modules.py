"""Helper modules that ``to_torch`` writes into the code it emits, converted whole, so that importing what
twinnet compiled gives its layers back:

* ``ChannelLayerNorm`` (a LayerNorm over axes that are not last, such as the channels of a channels-first
  tensor) is an IR ``LayerNorm`` over those axes;
* ``HalfAffineBatchNorm`` (a BatchNorm learning only its shift or only its scale, the other a buffer) is an
  IR ``BatchNorm`` with ``scale=False`` or ``center=False``;
* ``KerasNormalization`` (Keras's Normalization: mean and variance buffers) is an IR ``Normalization``;
* ``ChannelDense1d/2d/3d`` (a 1x1 convolution subclass: a Dense over the channels of a channels-first tensor)
  is an IR ``Dense``.

An emitted class is defined in the emitted code, not importable from here: it is known by its name and the
attributes its ``forward`` reads (for ``ChannelLayerNorm``: ``dims``, ``eps``, ``weight`` and ``bias`` shaped
like the input with ones on the other axes), so a user's module of another make is never taken for it. The
capture keeps each such module's calls as one node (``capture.py``), where ``torch.export`` would record its
arithmetic.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ....ir import layers as L
from ....ir.errors import UnsupportedError
from .modules import array, batch_norm, channels_first, letter


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


def is_half_affine_batch_norm(m: nn.Module) -> bool:
    if type(m).__name__ != "HalfAffineBatchNorm" or not isinstance(m, nn.BatchNorm1d):
        return False
    return all(isinstance(getattr(m, k, None), torch.Tensor) for k in ("weight", "bias"))


def half_affine_batch_norm(ctx, call):
    """``HalfAffineBatchNorm``: a BatchNorm learning the halves that are parameters; a buffer still holding its
    identity value (weight ones, bias zeros) is a half it does not learn."""
    m = call.module
    identity = {"gamma": 1.0, "beta": 0.0}
    halves = {
        k: p
        for k, p in (("gamma", m.weight), ("beta", m.bias))
        if isinstance(p, nn.Parameter) or not bool((p == identity[k]).all())
    }
    return batch_norm(ctx, call, halves)


def is_keras_normalization(m: nn.Module) -> bool:
    if type(m).__name__ != "KerasNormalization" or not isinstance(getattr(m, "invert", None), bool):
        return False
    dim = getattr(m, "dim", False)
    stats = [getattr(m, k, None) for k in ("mean", "variance")]
    return (dim is None or isinstance(dim, int)) and all(isinstance(t, torch.Tensor) for t in stats)


def keras_normalization(ctx, call):
    """``KerasNormalization``: Keras's Normalization over the letter at ``dim`` (the whole tensor where None), one
    number per entry of it where the buffers hold several."""
    m, x = call.module, ctx.tensor(call.args[0])
    axis = None if m.dim is None else letter(x, m.dim)
    stats = {}
    for key in ("mean", "variance"):
        value = array(getattr(m, key))
        if value.ndim not in (0, x.spec.rank) or (value.size > 1 and value.size != value.shape[m.dim or 0]):
            raise UnsupportedError(f"{key} of shape {value.shape} is not one number per entry of dim {m.dim}")
        if value.size > 1 and axis is None:
            raise UnsupportedError(f"{key} of shape {value.shape} needs a dim")
        stats[key] = float(value.reshape(-1)[0]) if value.size == 1 else tuple(float(v) for v in value.reshape(-1))
    layer = L.Normalization(axis=axis, invert=m.invert, **stats)
    return ctx.add(call, layer, [x], {})


_DENSE = {"ChannelDense1d": nn.Conv1d, "ChannelDense2d": nn.Conv2d, "ChannelDense3d": nn.Conv3d}


def is_channel_dense(m: nn.Module) -> bool:
    conv = _DENSE.get(type(m).__name__)
    if conv is None or not isinstance(m, conv) or m.groups != 1 or m.padding_mode != "zeros":
        return False
    return all(v == 1 for v in (*m.kernel_size, *m.stride, *m.dilation)) and all(p == 0 for p in m.padding)


def channel_dense(ctx, call):
    """``ChannelDense{n}d``: a Dense over the channels (dim 1), its kernel the 1x1 convolution's weight."""
    m = call.module
    x = channels_first(ctx, call, ctx.tensor(call.args[0]), len(m.kernel_size))
    weights = {"kernel": array(m.weight).reshape(m.out_channels, m.in_channels).T}
    if m.bias is not None:
        weights["bias"] = array(m.bias)
    return ctx.add(call, L.Dense(m.out_channels, use_bias=m.bias is not None), [x], weights)


#: name check -> converter, for each helper to_torch writes
OWN = {
    is_channel_layer_norm: channel_layer_norm,
    is_half_affine_batch_norm: half_affine_batch_norm,
    is_keras_normalization: keras_normalization,
    is_channel_dense: channel_dense,
}


#: the class names of the helpers (not a user's blocks: capture.py's block_mark)
OWN_NAMES = frozenset({"ChannelLayerNorm", "HalfAffineBatchNorm", "KerasNormalization", *_DENSE})


def own_leaves(module: nn.Module) -> set[int]:
    """The ids of ``module``'s twinnet helper modules to keep whole (one node each)."""
    return {id(m) for m in module.modules() if any(check(m) for check in OWN)}


def own_module(module: nn.Module):
    """The converter of a twinnet helper module (None for any other module)."""
    return next((convert for check, convert in OWN.items() if check(module)), None)
