"""Keras lowerings of Normalize and ScaledDotProductAttention, composed of ``keras.ops`` calls."""

from __future__ import annotations

import math

import numpy as np

from ...ir.ops import Normalize, ScaledDotProductAttention
from ..lowering.ops import batch_first, broadcast_to, declared, number

LOWEST = number(np.finfo(np.float32).min)


def lower_normalize(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    op, n = node.layer, node.name
    axes = tuple(sorted(x.pos(a) for a in op.axes))
    if not op.rms:
        mean = f"keras.ops.mean({x.var}, axis={axes!r}, keepdims=True)"
        x = ctx.let(f"{n}_centred", f"keras.ops.subtract({x.var}, {mean})", x.spec, x.phys)
    power = f"keras.ops.mean(keras.ops.square({x.var}), axis={axes!r}, keepdims=True)"
    scale = f"keras.ops.rsqrt(keras.ops.add({power}, {number(op.epsilon)}))"
    return ctx.let(n, f"keras.ops.multiply({x.var}, {scale})", node.spec, x.phys)


def lower_sdpa(ctx, node, inputs):
    op, n = node.layer, node.name
    q, k, v = (declared(ctx, x) for x in inputs[:3])
    scores = op.scores_spec([x.spec for x in inputs])
    phys = scores.layout
    heads, groups = q.phys_shape()[1], k.phys_shape()[1]
    if heads != groups:  # grouped-query: each k/v head serves heads/groups query heads in a row
        k = ctx.let(f"{n}_k", f"keras.ops.repeat({k.var}, {heads // groups}, axis=1)", k.spec, k.phys)
        v = ctx.let(f"{n}_v", f"keras.ops.repeat({v.var}, {heads // groups}, axis=1)", v.spec, v.phys)
    scale = op.scale if op.scale is not None else 1 / math.sqrt(q.phys_shape()[3])
    s = ctx.let(
        f"{n}_scores",
        f"keras.ops.multiply(keras.ops.matmul({q.var}, keras.ops.swapaxes({k.var}, 2, 3)), {number(scale)})",
        scores,
        phys,
    )
    if len(inputs) == 4:
        m = broadcast_to(ctx, inputs[3], scores, phys, f"{n}_mask")
        if m.spec.dtype == "bool":
            s = ctx.let(f"{n}_masked", f"keras.ops.where({m.var}, {s.var}, {LOWEST})", scores, phys)
        else:
            s = ctx.let(f"{n}_masked", f"keras.ops.add({s.var}, {m.var})", scores, phys)
    if op.causal:  # key position <= query position, counted by running sums of ones (lengths may be symbolic)
        ones = f"keras.ops.ones_like({s.var})"
        seen = f"keras.ops.less_equal(keras.ops.cumsum({ones}, axis=3), keras.ops.cumsum({ones}, axis=2))"
        s = ctx.let(f"{n}_causal", f"keras.ops.where({seen}, {s.var}, {LOWEST})", scores, phys)
    w = ctx.let(f"{n}_weights", f"keras.ops.softmax({s.var}, axis=3)", scores, phys)
    return ctx.let(n, f"keras.ops.matmul({w.var}, {v.var})", node.spec, batch_first(node.spec.layout))


TABLE = {Normalize: lower_normalize, ScaledDotProductAttention: lower_sdpa}
