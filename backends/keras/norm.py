"""Keras lowerings of BatchNorm, LayerNorm and GroupNorm.

Both act on axes by physical index, so no transpose is needed: the IR's axis
letters are looked up in the layout Keras holds the tensor in. IR conventions
are Keras's (epsilon added to the variance, Keras momentum), so the numbers
copy over; only LayerNorm's gamma/beta, which Keras shapes like the
normalised axes in *physical* order, may need a transpose.
"""

from __future__ import annotations

from ...ir.layers import BatchNorm, GroupNorm, LayerNorm
from ..lowering.code import call


def affine_kwargs(layer) -> dict:
    """Keras's ``center``/``scale`` keywords, written only when they differ from Keras's default (True)."""
    return {k: False for k in ("center", "scale") if not getattr(layer, k)}


def affine_weights(layer, w) -> list:
    """``gamma`` then ``beta`` as ``get_weights()`` lists them, each only when the layer has it."""
    return ([w["gamma"]] if layer.scale else []) + ([w["beta"]] if layer.center else [])


def lower_batch_norm(ctx, node, inputs):
    (x,) = inputs
    layer: BatchNorm = node.layer
    letter = node.spec.layout[layer.feature_axis(node.spec)]
    w = ctx.weights(node)
    # get_weights() order: gamma (if scale), beta (if center), moving_mean, moving_variance.
    weights = affine_weights(layer, w) + [w["moving_mean"], w["moving_variance"]]
    kwargs = {"axis": x.pos(letter), "momentum": layer.momentum, "epsilon": layer.epsilon}
    kwargs.update(affine_kwargs(layer))
    return ctx.layer(node.name, call("layers.BatchNormalization", **kwargs), x.var, node.spec, x.phys, weights)


def lower_layer_norm(ctx, node, inputs):
    (x,) = inputs
    layer: LayerNorm = node.layer
    axes = [node.spec.layout[i] for i in layer.norm_axes(node.spec)]  # declared order
    held = [a for a in x.phys if a in axes]  # the same axes in the order Keras holds them
    perm = [axes.index(a) for a in held]
    w = ctx.weights(node)
    weights = [a.transpose(perm) for a in affine_weights(layer, w)]
    positions = [x.pos(a) for a in held]
    kwargs = {"axis": positions[0] if len(positions) == 1 else positions, "epsilon": layer.epsilon}
    kwargs.update(affine_kwargs(layer))
    return ctx.layer(node.name, call("layers.LayerNormalization", **kwargs), x.var, node.spec, x.phys, weights)


def lower_group_norm(ctx, node, inputs):
    (x,) = inputs
    layer: GroupNorm = node.layer
    pos = x.pos(node.spec.layout[layer.feature_axis(node.spec)])
    w = ctx.weights(node)
    weights = affine_weights(layer, w)
    # Keras reads a positive axis correctly and -1 as the last; it mis-handles other negative axes.
    kwargs = {"groups": layer.groups, "axis": -1 if pos == len(x.phys) - 1 else pos, "epsilon": layer.epsilon}
    kwargs.update(affine_kwargs(layer))
    return ctx.layer(node.name, call("layers.GroupNormalization", **kwargs), x.var, node.spec, x.phys, weights)


TABLE = {BatchNorm: lower_batch_norm, LayerNorm: lower_layer_norm, GroupNorm: lower_group_norm}

#: weights back (backends/lowering/weights_back.py): Keras holds the IR's layout, every weight is a copy
BACK = dict.fromkeys(TABLE)  # every kind of this family has weights, each copied as is
