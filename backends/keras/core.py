"""Keras lowerings of the core layers: Dense, Dropout, Identity, Flatten, Reshape, Permute."""

from __future__ import annotations

from ...ir.layers import Cropping1D, Cropping2D, Dense, Dropout, Flatten, Identity, Permute, Reshape, Slice
from ...ir.layout import permutation
from ...ir.ops import Binary, Learned, View
from ...ir.ops.base import Op
from ..lowering.code import call
from ..lowering.driver import with_spec
from ..lowering.reshape_layout import ordered_within_groups, positional_layout, regrouped_layout, unit_moves_only
from .activations import fused
from .compile import batch_first

#: the readers for which any Permute is made where the model makes it (see lower_permute)
HELD_AS_DECLARED = (Op, Cropping1D, Cropping2D, Slice)


def lower_dense(ctx, node, inputs):
    (x,) = inputs
    layer: Dense = node.layer
    # Keras's Dense acts on the last axis: hold C there.
    x = ctx.require(x, x.phys.replace("C", "") + "C")
    w = ctx.weights(node)
    kwargs = {**fused(layer.activation), **({} if layer.use_bias else {"use_bias": False})}
    weights = [w["kernel"]] + ([w["bias"]] if layer.use_bias else [])
    return ctx.layer(node.name, call("layers.Dense", layer.units, **kwargs), x.var, node.spec, x.phys, weights)


def lower_dropout(ctx, node, inputs):
    (x,) = inputs
    return ctx.layer(node.name, call("layers.Dropout", node.layer.rate), x.var, node.spec, x.phys)


def lower_identity(ctx, node, inputs):
    return with_spec(inputs[0], node.spec)


def lower_flatten(ctx, node, inputs):
    (x,) = inputs
    # Flatten reads the features in declared order (e.g. c, h, w for NCHW), so hold them that
    # way first: Keras gets no permuted-feature trick, one Permute here is the whole cost.
    x = ctx.require(x, batch_first(x.spec.layout))
    return ctx.layer(node.name, "layers.Flatten()", x.var, node.spec, "NC")


def lower_reshape(ctx, node, inputs):
    (x,) = inputs
    spec = node.spec
    # Where the held order keeps each merged/split run of axes together (a conv's NHWC map flattened as
    # NCHW -> NCW), reshape it as held: the new axes come out in the held run order (NWC), no transpose.
    held = regrouped_layout(x.spec, spec, x.phys)
    declared = batch_first(x.spec.layout)
    unit_only = x.phys[0] == "N" and unit_moves_only(x.phys, declared, x.spec)
    within = ordered_within_groups(x.spec, spec, x.phys) if held is None and not unit_only else None
    if within is not None:
        # Each run is together but one is in another order (a channel shuffle's swapped halves held channels
        # last): order the axes within it, then reshape as held (the map stays channels last).
        x = ctx.require(x, within)
        held = regrouped_layout(x.spec, spec, x.phys)
    if held is None:
        # Reshape reads the non-batch axes row-major in declared order: hold them that way, batch first (unless
        # only size-1 axes would move: the entries are in that order already); the new axes come out in
        # declared order too, batch first.
        if not unit_only:
            x = ctx.require(x, declared)
        held = batch_first(spec.layout)
    elif ctx.read_only_by(node, (Flatten, Reshape)):
        held = positional_layout(held, spec)
    target = tuple(-1 if spec.dim(a) is None else spec.dim(a) for a in held[1:])  # unknown: the one -1
    return ctx.layer(node.name, call("layers.Reshape", target), x.var, spec, held)


def lower_permute(ctx, node, inputs):
    (x,) = inputs
    relabelled = with_spec(x, node.spec)
    as_declared = x.phys == batch_first(x.spec.layout) and node.spec.layout[0] == "N"
    if not as_declared or _scaled_only(ctx, node):
        return relabelled  # the data stays where it is: only the declared layout changes
    unit = unit_moves_only(x.phys, node.spec.layout, node.spec)
    if unit and _split_past_rank_5(ctx, node):
        # only size-1 axes move, then a reshape past rank 5 reads the entries, which from_keras names after its
        # input's letters (ir.layout.past_convention): a Keras Permute (require would write the free Reshape), which
        # from_keras reads as the Permute it is, in the model's letters (MaxViT's swap back of a grid of one
        # partition before its departition)
        expr = ctx.transpose_expr(relabelled, permutation(x.phys, node.spec.layout), node.spec.layout)
        return ctx.let(node.name, expr, node.spec, node.spec.layout)
    moved = not unit and (node.spec.layout[-1] == x.phys[-1] or ctx.read_only_by(node, (Reshape, View)))
    if moved or ctx.read_only_by(node, HELD_AS_DECLARED):
        # permuted here, as the model does, so that what follows computes in the model's order and from_keras
        # reads it back after the Permute, not before it: a move of the axes before the last, which stays last for
        # the layers after it (MaxViT's grid, swapped for its LayerNorm, attention and MLP), a move that reshapes
        # read (a window partition, also of one window, which the reshape could otherwise regroup as held), or a
        # tensor read only by ops (and slices and croppings, sliced where held: Llama's rotary products and
        # rotate-half on its permuted heads)
        return ctx.require(relabelled, node.spec.layout)
    # The data stays where it is: only the declared layout changes.
    return relabelled


def _split_past_rank_5(ctx, node) -> bool:
    """Whether every reader of ``node`` is a Reshape or View to a rank above 5."""
    found = ctx.readers[node.name]
    return bool(found) and all(isinstance(n.layer, (Reshape, View)) and n.spec.rank > 5 for n in found)


def _scaled_only(ctx, node) -> bool:
    """Whether every reader of ``node`` is a ``Binary`` with a ``Learned`` weight (a layer scale, torchvision
    ConvNeXt's ``gamma * x`` after its Permute back to NCHW): broadcast by letter, in any order the data is
    held, so the data stays where it is (as Keras's ConvNeXt computes it, channels last)."""
    found = ctx.readers[node.name]
    return bool(found) and all(
        isinstance(n.layer, Binary)
        and n.layer.scalar is None
        and any(t.node is not node and isinstance(t.node.layer, Learned) for t in n.inputs)
        for n in found
    )


TABLE = {
    Dense: lower_dense,
    Dropout: lower_dropout,
    Identity: lower_identity,
    Flatten: lower_flatten,
    Reshape: lower_reshape,
    Permute: lower_permute,
}

#: weights back (backends/lowering/weights_back.py): Keras holds the IR's layout, every weight is a copy
BACK = {Dense: None}
