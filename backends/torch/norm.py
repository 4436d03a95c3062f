"""torch lowerings of BatchNorm, LayerNorm and GroupNorm.

Epsilon is passed explicitly: torch's default is 1e-5, Keras's 1e-3.
"""

from __future__ import annotations

import numpy as np

from ...ir.layers import BatchNorm, GroupNorm, LayerNorm
from ...ir.layers.norm import full_affine
from ..lowering.code import call
from ..lowering.driver import fold_vector


def lower_batch_norm(ctx, node, inputs):
    (x,) = inputs
    layer: BatchNorm = node.layer
    letter = node.spec.layout[layer.feature_axis(node.spec)]
    if letter != "C":
        x = ctx.plain(x)
    w = ctx.weights(node)
    n = node.spec.dim(letter)
    feat = x.feat if letter == "C" else None
    params = {
        "running_mean": fold_vector(w["moving_mean"], feat),
        "running_var": fold_vector(w["moving_variance"], feat),
        "num_batches_tracked": np.array(0, dtype=np.int64),
    }
    affine = layer.scale or layer.center
    if affine:  # torch has one switch for both: a missing one is its identity value
        params["weight"], params["bias"] = (fold_vector(v, feat) for v in full_affine(layer, w, n))
    kwargs = {"eps": layer.epsilon, "momentum": round(1.0 - layer.momentum, 10)}
    if not affine:
        kwargs["affine"] = False
    pos = x.pos(letter)
    rank = len(x.phys)
    if pos == 1 and affine and not (layer.scale and layer.center):  # the missing half a buffer, not trained
        ctx.program.helpers.add("HalfAffineBatchNorm")
        ctor = call("HalfAffineBatchNorm", n, layer.epsilon, kwargs["momentum"], scale=layer.scale, center=layer.center)
    elif pos == 1 and rank in (2, 3, 4, 5):
        ctor = call(f"nn.BatchNorm{max(rank - 2, 1)}d", n, **kwargs)
    else:
        if pos != rank - 1:
            x = ctx.require(x, x.phys.replace(letter, "") + letter)
        ctx.program.helpers.add("ChannelLastBatchNorm")
        ctor = call("ChannelLastBatchNorm", n, **kwargs)
    mod = ctx.module(node.name, ctor, params)
    return ctx.let(node.name, f"{mod}({x.var})", node.spec, x.phys, feat)


def lower_layer_norm(ctx, node, inputs):
    (x,) = inputs
    layer: LayerNorm = node.layer
    axes = [node.spec.layout[i] for i in layer.norm_axes(node.spec)]  # declared order
    if axes != ["C"]:
        x = ctx.plain(x)
    feat = x.feat if axes == ["C"] else None
    w = ctx.weights(node)
    held = [a for a in x.phys if a in axes]  # the normalised axes in the order torch holds them
    perm = [axes.index(a) for a in held]
    shape = tuple(node.spec.dim(a) for a in held)
    params = {}
    if layer.scale:
        params["weight"] = (
            fold_vector(w["gamma"].transpose(perm), feat) if feat is not None else w["gamma"].transpose(perm)
        )
    if layer.center:
        params["bias"] = fold_vector(w["beta"].transpose(perm), feat) if feat is not None else w["beta"].transpose(perm)
    kwargs = {"eps": layer.epsilon}
    if not layer.scale:
        kwargs["elementwise_affine"] = False
    if not layer.center:
        kwargs["bias"] = False
    if "".join(held) == x.phys[-len(held) :] and layer.scale == layer.center:
        ctor = call("nn.LayerNorm", shape if len(shape) > 1 else shape[0], **kwargs)
    else:
        # Normalised axes not trailing (channels-first image), or only one of scale/center (nn.LayerNorm
        # cannot have a bias without a weight): normalise in place, no transpose.
        dims = tuple(x.pos(a) for a in held)
        # Full rank, so the parameters broadcast whichever position the batch axis holds.
        bshape = tuple(node.spec.dim(a) if a in axes else 1 for a in x.phys)
        params = {k: v.reshape(bshape) for k, v in params.items()}
        ctx.program.helpers.add("ChannelLayerNorm")
        ctor = call("ChannelLayerNorm", bshape, dims, layer.epsilon, elementwise_affine=layer.scale, bias=layer.center)
    mod = ctx.module(node.name, ctor, params)
    return ctx.let(node.name, f"{mod}({x.var})", node.spec, x.phys, feat)


def lower_group_norm(ctx, node, inputs):
    (x,) = inputs
    layer: GroupNorm = node.layer
    letter = node.spec.layout[layer.feature_axis(node.spec)]
    x = ctx.grouped_second(x, letter)
    n = node.spec.dim(letter)
    w = ctx.weights(node)
    params = {}
    affine = layer.scale or layer.center
    if affine:  # one switch for both in torch, as BatchNorm: a missing one is its identity value
        params["weight"], params["bias"] = full_affine(layer, w, n)
    kwargs = {"eps": layer.epsilon} if affine else {"eps": layer.epsilon, "affine": False}
    mod = ctx.module(node.name, call("nn.GroupNorm", layer.groups, n, **kwargs), params)
    return ctx.let(node.name, f"{mod}({x.var})", node.spec, x.phys)


TABLE = {BatchNorm: lower_batch_norm, LayerNorm: lower_layer_norm, GroupNorm: lower_group_norm}

#: weights back (backends/lowering/weights_back.py): every parameter is a copy of an IR weight or a
#: constant (the affine parameters torch cannot leave out, the batch counter)
BACK = dict.fromkeys(TABLE)  # every kind of this family has weights, each copied as is
