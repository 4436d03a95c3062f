"""Keras lowering of MatMul: ``keras.ops.matmul`` on both inputs held in declared order, batch first."""

from __future__ import annotations

from ...ir.ops import MatMul
from ..lowering.ops import batch_first, declared


def lower_matmul(ctx, node, inputs):
    a, b = (declared(ctx, v) for v in inputs)
    return ctx.let(node.name, f"keras.ops.matmul({a.var}, {b.var})", node.spec, batch_first(node.spec.layout))


TABLE = {MatMul: lower_matmul}
