"""torch lowerings of the core layers: Dense, Dropout, Identity, Flatten, Reshape, Permute."""

from __future__ import annotations

from ...ir.layers import Dense, Dropout, Flatten, Identity, Permute, Reshape
from ...ir.layout import permutation
from ..lowering.code import call
from ..lowering.driver import flatten_feat, fold_rows, with_spec
from ..lowering.reshape_layout import unit_moves_only
from .activations import fused


def lower_dense(ctx, node, inputs):
    (x,) = inputs
    layer: Dense = node.layer
    w = ctx.weights(node)
    kernel = fold_rows(w["kernel"], x.feat)  # Flatten order folded in here, once
    c_in = kernel.shape[0]
    params = {}
    if x.phys[-1] == "C":
        ctor = call("nn.Linear", c_in, layer.units, **({} if layer.use_bias else {"bias": False}))
        params["weight"] = kernel.T
    else:
        # Channels held first (an image in torch): a Dense over C is a 1x1 convolution, no transpose needed,
        # written as the helper subclass naming it a Dense (from_torch reads it back as one, not as a Conv)
        nd = len(x.phys) - 2
        if x.phys[:2] != "NC" or nd not in (1, 2, 3):
            x = ctx.require(x, x.phys.replace("C", "") + "C")
            return lower_dense(ctx, node, [x])
        ctx.program.helpers.add(f"ChannelDense{nd}d")
        ctor = call(f"ChannelDense{nd}d", c_in, layer.units, 1, **({} if layer.use_bias else {"bias": False}))
        params["weight"] = kernel.T.reshape(layer.units, c_in, *([1] * nd))
    if layer.use_bias:
        params["bias"] = w["bias"]
    mod = ctx.module(node.name, ctor, params)
    return ctx.let(node.name, fused(layer.activation, f"{mod}({x.var})", x), node.spec, x.phys)


def lower_dropout(ctx, node, inputs):
    (x,) = inputs
    mod = ctx.module(node.name, call("nn.Dropout", node.layer.rate))
    return ctx.let(node.name, f"{mod}({x.var})", node.spec, x.phys, x.feat)


def lower_identity(ctx, node, inputs):
    return with_spec(inputs[0], node.spec)


def lower_flatten(ctx, node, inputs):
    (x,) = inputs
    if x.phys[0] != "N":
        x = ctx.require(x, "N" + x.phys.replace("N", ""))
    # Flatten what torch holds; if that is not the declared order, remember the
    # order instead of transposing: the next Dense folds it into its weights.
    feat = flatten_feat(x)
    return ctx.let(node.name, f"{x.var}.flatten(1)", node.spec, "NC", feat)


def lower_reshape(ctx, node, inputs):
    x, held = ctx.reshape_layout(inputs[0], node.spec, ctx.read_only_by(node, (Flatten, Reshape)))
    spec = node.spec
    # an unknown size (a symbolic length) is the target's one -1
    sizes = [f"{x.var}.shape[0]"] + [str(-1 if spec.dim(a) is None else spec.dim(a)) for a in held[1:]]
    return ctx.let(node.name, f"{x.var}.reshape({', '.join(sizes)})", spec, held)


def lower_permute(ctx, node, inputs):
    """Hold the result in its declared order (``x.permute(...)``, a view) where the batch stays first: a
    channels-last region of a torch source (ConvNeXt's and Swin's LayerNorm and Linear layers, a ViT's tokens)
    then runs channels-last as the source does, nn.LayerNorm and nn.Linear over the last axis."""
    (x,) = inputs
    relabelled = with_spec(x, node.spec)
    target = node.spec.layout
    if target[0] == "N" and x.feat is None and x.phys != target and unit_moves_only(x.phys, target, node.spec):
        # only size-1 axes move (a pooled (C, 1, 1) to (1, 1, C)): x.permute(...) is a view as a reshape would
        # be, and says what the model says, so that from_torch reads the Permute back
        expr = ctx.transpose_expr(relabelled, permutation(x.phys, target), target)
        return ctx.let(node.name, expr, node.spec, target)
    if target[0] != "N" or ctx.read_only_by(node, Flatten):
        # the data stays where it is: only the declared layout changes (a Flatten takes the features in the
        # order they are held, and the Dense behind it reads its rows in that order: no copy)
        return relabelled
    return ctx.require(relabelled, node.spec.layout)


TABLE = {
    Dense: lower_dense,
    Dropout: lower_dropout,
    Identity: lower_identity,
    Flatten: lower_flatten,
    Reshape: lower_reshape,
    Permute: lower_permute,
}

#: weights back (backends/lowering/weights_back.py): every parameter is a copy of an IR weight
BACK = {Dense: None}
