"""ONNX lowerings of Normalize and ScaledDotProductAttention, composed of standard nodes (the same steps as
Keras and torch)."""

from __future__ import annotations

import math

import numpy as np

from ...ir.ops import Normalize, ScaledDotProductAttention
from ..lowering.ops import batch_first, broadcast_to, declared
from .compile import Op

LOWEST = float(np.finfo(np.float32).min)


def lower_normalize(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    op, n = node.layer, node.name
    axes = ctx.ints(f"{n}_axes", sorted(x.pos(a) for a in op.axes))
    var = x.var
    if not op.rms:
        mean = ctx.op("ReduceMean", var, axes, base=f"{n}_mean", keepdims=1)
        var = ctx.op("Sub", var, mean, base=f"{n}_centred")
    power = ctx.op("ReduceMean", ctx.op("Mul", var, var, base=f"{n}_square"), axes, base=f"{n}_power", keepdims=1)
    shifted = ctx.op("Add", power, ctx.scalar(f"{n}_epsilon", op.epsilon), base=f"{n}_shifted")
    scale = ctx.op("Reciprocal", ctx.op("Sqrt", shifted, base=f"{n}_root"), base=f"{n}_scale")
    return ctx.let(n, Op("Mul", (var, scale)), node.spec, x.phys)


def lower_sdpa(ctx, node, inputs):
    op, n = node.layer, node.name
    q, k, v = (declared(ctx, x) for x in inputs[:3])
    scores = op.scores_spec([x.spec for x in inputs])
    phys = scores.layout
    heads, groups = q.phys_shape()[1], k.phys_shape()[1]
    kv, vv = k.var, v.var
    if heads != groups:  # grouped-query: query head h reads k/v head h // (heads / groups)
        index = ctx.const(f"{n}_heads", np.arange(heads, dtype=np.int64) // (heads // groups))
        kv = ctx.op("Gather", kv, index, base=f"{n}_k", axis=1)
        vv = ctx.op("Gather", vv, index, base=f"{n}_v", axis=1)
    scale = op.scale if op.scale is not None else 1 / math.sqrt(q.phys_shape()[3])
    kt = ctx.op("Transpose", kv, base=f"{n}_kt", perm=[0, 1, 3, 2])
    s = ctx.op("Mul", ctx.op("MatMul", q.var, kt, base=f"{n}_dot"), ctx.scalar(f"{n}_scale", scale), base=f"{n}_scores")
    lowest = ctx.scalar(f"{n}_lowest", LOWEST)
    if len(inputs) == 4:
        m = broadcast_to(ctx, inputs[3], scores, phys, f"{n}_mask")
        if m.spec.dtype == "bool":
            s = ctx.op("Where", m.var, s, lowest, base=f"{n}_masked")
        else:
            s = ctx.op("Add", s, m.var, base=f"{n}_masked")
    if op.causal:  # a lower triangle of ones, of the scores' (T, S) shape
        size = ctx.op("Shape", s, base=f"{n}_size", start=2, end=4)
        ones = ctx.op("ConstantOfShape", size, base=f"{n}_ones", value=_one())
        seen = ctx.op("Cast", ctx.op("Trilu", ones, base=f"{n}_tril", upper=0), base=f"{n}_seen", to=9)
        s = ctx.op("Where", seen, s, lowest, base=f"{n}_causal")
    w = ctx.op("Softmax", s, base=f"{n}_weights", axis=3)
    return ctx.let(n, Op("MatMul", (w, vv)), node.spec, batch_first(node.spec.layout))


def _one():
    from onnx import numpy_helper

    return numpy_helper.from_array(np.ones(1, dtype=np.float32))


TABLE = {Normalize: lower_normalize, ScaledDotProductAttention: lower_sdpa}
