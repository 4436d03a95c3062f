"""ONNX lowerings of the core layers: Dense, Dropout, Identity, Flatten, Reshape, Permute."""

from __future__ import annotations

from ...ir.layers import Dense, Dropout, Flatten, Identity, Permute, Reshape
from ..lowering.driver import flatten_feat, fold_rows, with_spec
from .activations import finish, fused
from .compile import Op


def lower_dense(ctx, node, inputs):
    (x,) = inputs
    layer: Dense = node.layer
    w = ctx.weights(node)
    kernel = fold_rows(w["kernel"], x.feat)  # Flatten order folded in here, once
    base = node.name
    if x.phys[-1] == "C":
        y = ctx.op("MatMul", x.var, ctx.const(f"{base}_kernel", kernel), base=f"{base}_matmul")
        if layer.use_bias:
            y = ctx.op("Add", y, ctx.const(f"{base}_bias", w["bias"]), base=f"{base}_biased")
    else:
        # Channels held first (an image): a Dense over C is a 1x1 convolution, no transpose needed.
        nd = len(x.phys) - 2
        if x.phys[:2] != "NC" or nd < 1:
            return lower_dense(ctx, node, [ctx.require(x, x.phys.replace("C", "") + "C")])
        args = [x.var, ctx.const(f"{base}_kernel", kernel.T.reshape(layer.units, kernel.shape[0], *[1] * nd))]
        if layer.use_bias:
            args.append(ctx.const(f"{base}_bias", w["bias"]))
        y = ctx.op("Conv", *args, base=f"{base}_conv")
    return finish(ctx, node, fused(ctx, layer.activation, y, base, x), x)


def lower_dropout(ctx, node, inputs):
    # Inference: dropout is the identity.
    return with_spec(inputs[0], node.spec)


def lower_identity(ctx, node, inputs):
    return with_spec(inputs[0], node.spec)


def lower_flatten(ctx, node, inputs):
    (x,) = inputs
    if x.phys[0] != "N":
        x = ctx.require(x, "N" + x.phys.replace("N", ""))
    # Flatten what ONNX holds; if that is not the declared order, remember the order instead of transposing:
    # the next Dense folds it into its weights.
    return ctx.let(node.name, Op("Flatten", (x.var,), {"axis": 1}), node.spec, "NC", flatten_feat(x))


def lower_reshape(ctx, node, inputs):
    x, held = ctx.reshape_layout(inputs[0], node.spec, ctx.read_only_by(node, (Flatten, Reshape)))
    spec = node.spec
    # the batch is copied from the input (0); an unknown size (a symbolic length) is the target's one -1
    shape = [-1 if spec.dim(a) is None else spec.dim(a) for a in held[1:]]
    return ctx.let(node.name, Op("Reshape", (x.var, ctx.shape_const(node.name, shape))), spec, held)


def lower_permute(ctx, node, inputs):
    # The data stays where it is: only the declared layout changes.
    return with_spec(inputs[0], node.spec)


TABLE = {
    Dense: lower_dense,
    Dropout: lower_dropout,
    Identity: lower_identity,
    Flatten: lower_flatten,
    Reshape: lower_reshape,
    Permute: lower_permute,
}

#: weights back (backends/lowering/weights_back.py): every initializer element is a copy of an IR weight
BACK = {Dense: None}
