"""ONNX lowerings of BatchNorm, LayerNorm and GroupNorm (inference; epsilon always explicit: ONNX's default is
1e-5, Keras's 1e-3)."""

from __future__ import annotations

import numpy as np

from ...ir.layers import BatchNorm, GroupNorm, LayerNorm
from ...ir.layers.norm import full_affine
from ..lowering.driver import fold_vector
from .compile import Op


def _along(vector: np.ndarray, rank: int, pos: int) -> np.ndarray:
    """``vector`` shaped to broadcast along physical axis ``pos`` of a rank-``rank`` tensor."""
    return vector.reshape([-1 if i == pos else 1 for i in range(rank)])


def lower_batch_norm(ctx, node, inputs):
    (x,) = inputs
    layer: BatchNorm = node.layer
    letter = node.spec.layout[layer.feature_axis(node.spec)]
    if letter != "C":
        x = ctx.plain(x)
    feat = x.feat if letter == "C" else None
    w = ctx.weights(node)
    n = node.spec.dim(letter)
    gamma, beta = full_affine(layer, w, n)  # a missing half is its identity value
    mean, var = w["moving_mean"], w["moving_variance"]
    gamma, beta, mean, var = (fold_vector(v, feat) for v in (gamma, beta, mean, var))
    base, pos = node.name, x.pos(letter)
    if pos == 1 and x.phys[0] == "N":
        # BatchNormalization normalises axis 1 of (N, C, ...) only: exactly the inference formula.
        args = [
            ctx.const(f"{base}_{k}", v) for k, v in (("scale", gamma), ("bias", beta), ("mean", mean), ("var", var))
        ]
        return ctx.let(
            base, Op("BatchNormalization", (x.var, *args), {"epsilon": float(layer.epsilon)}), node.spec, x.phys, feat
        )
    # The axis is elsewhere (NTC, TNC): one per-channel affine map, folded at compile time in float64.
    scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + layer.epsilon)
    shift = beta.astype(np.float64) - mean.astype(np.float64) * scale
    rank = len(x.phys)
    y = ctx.op(
        "Mul", x.var, ctx.const(f"{base}_scale", _along(scale, rank, pos).astype(np.float32)), base=f"{base}_scaled"
    )
    return ctx.let(
        base,
        Op("Add", (y, ctx.const(f"{base}_shift", _along(shift, rank, pos).astype(np.float32)))),
        node.spec,
        x.phys,
        feat,
    )


def lower_layer_norm(ctx, node, inputs):
    (x,) = inputs
    layer: LayerNorm = node.layer
    axes = [node.spec.layout[i] for i in layer.norm_axes(node.spec)]  # declared order
    if axes != ["C"]:
        x = ctx.plain(x)
    native = ctx.native(node.spec)
    if x.phys != native and set(native[-len(axes) :]) == set(axes):
        # A sequence held channels-first (a conv's map flattened into tokens): its native layout has the axes
        # trailing, and the layers after a LayerNorm (attention, Dense) want it too. Transpose once here
        # rather than compose the norm in place and leave every later block to transpose there and back.
        x = ctx.require(x, native)
    feat = x.feat if axes == ["C"] else None  # statistics over C do not care about its order; weights are folded
    w = ctx.weights(node)
    held = [a for a in x.phys if a in axes]  # the normalised axes in the order ONNX holds them
    perm = [axes.index(a) for a in held]
    shape = tuple(node.spec.dim(a) for a in held)
    gamma = fold_vector(w["gamma"].transpose(perm), feat) if layer.scale else None
    beta = fold_vector(w["beta"].transpose(perm), feat) if layer.center else None
    base, rank = node.name, len(x.phys)
    if "".join(held) == x.phys[-len(held) :]:
        # LayerNormalization normalises every axis from `axis` on; its Scale is required (ones when not learnt).
        scale = ctx.const(f"{base}_scale", gamma if gamma is not None else np.ones(shape, np.float32))
        args = [x.var, scale] + ([ctx.const(f"{base}_bias", beta)] if beta is not None else [])
        return ctx.let(
            base,
            Op("LayerNormalization", tuple(args), {"axis": rank - len(held), "epsilon": float(layer.epsilon)}),
            node.spec,
            x.phys,
            feat,
        )
    # Normalised axes not trailing (C of a channels-first image): compose it in place rather than transpose
    # there and back. Biased variance, as LayerNormalization.
    dims = ctx.ints(f"{base}_axes", [x.pos(a) for a in held])
    bshape = [node.spec.dim(a) if a in axes else 1 for a in x.phys]
    mean = ctx.op("ReduceMean", x.var, dims, base=f"{base}_mean")
    centred = ctx.op("Sub", x.var, mean, base=f"{base}_centred")
    var = ctx.op("ReduceMean", ctx.op("Mul", centred, centred, base=f"{base}_square"), dims, base=f"{base}_var")
    std = ctx.op(
        "Sqrt", ctx.op("Add", var, ctx.scalar(f"{base}_eps", layer.epsilon), base=f"{base}_var_eps"), base=f"{base}_std"
    )
    y, label = Op("Div", (centred, std)), "normed"
    for op_type, weight, name, after in (("Mul", gamma, "gamma", "scaled"), ("Add", beta, "beta", "shifted")):
        if weight is not None:  # the previous step becomes a node; the last one is the layer's own
            y = Op(
                op_type,
                (
                    ctx.op(y.op_type, *y.inputs, base=f"{base}_{label}"),
                    ctx.const(f"{base}_{name}", weight.reshape(bshape)),
                ),
            )
            label = after
    return ctx.let(base, y, node.spec, x.phys, feat)


def lower_group_norm(ctx, node, inputs):
    (x,) = inputs
    layer: GroupNorm = node.layer
    letter = node.spec.layout[layer.feature_axis(node.spec)]
    x = ctx.grouped_second(x, letter)
    n = node.spec.dim(letter)
    w = ctx.weights(node)
    base = node.name
    # Opset 21's scale and bias are per channel (18's were per group); both inputs are required.
    gamma, beta = full_affine(layer, w, n)
    scale, bias = ctx.const(f"{base}_scale", gamma), ctx.const(f"{base}_bias", beta)
    return ctx.let(
        base,
        Op("GroupNormalization", (x.var, scale, bias), {"num_groups": layer.groups, "epsilon": float(layer.epsilon)}),
        node.spec,
        x.phys,
    )


TABLE = {BatchNorm: lower_batch_norm, LayerNorm: lower_layer_norm, GroupNorm: lower_group_norm}

#: weights back (backends/lowering/weights_back.py): every initializer element is a copy of an IR weight
BACK = dict.fromkeys(TABLE)  # every kind of this family has weights, each copied as is
