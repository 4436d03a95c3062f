"""onnx lowerings of the tensors the graph makes itself: Learned (as LearnedConstant, the same weight repeated
over the batch) and Positions."""

from __future__ import annotations

import numpy as np

from ...ir.ops import Learned, Positions
from .compile import _ELEM, Op
from .constant import lower_learned_constant


def lower_positions(ctx, node, inputs):
    (x,) = inputs
    op, base = node.layer, node.name
    p, n = x.pos(op.axis), x.pos("N")
    length = ctx.op("Shape", x.var, base=f"{base}_length", start=p, end=p + 1)
    batch = ctx.op("Shape", x.var, base=f"{base}_batch", start=n, end=n + 1)
    limit = ctx.op("Squeeze", length, base=f"{base}_limit")
    zero, one = (ctx.const(f"{base}_{k}", np.array(k == "one", dtype=np.int64)) for k in ("zero", "one"))
    ids = ctx.op("Range", zero, limit, one, base=f"{base}_range")
    if op.dtype != "int64":
        ids = ctx.op("Cast", ids, base=f"{base}_cast", to=_ELEM[op.dtype])
    row = ctx.op("Unsqueeze", ids, ctx.ints(f"{base}_axes", [0]), base=f"{base}_row")
    shape = ctx.op("Concat", batch, length, base=f"{base}_shape", axis=0)
    return ctx.let(base, Op("Expand", (row, shape)), node.spec, "N" + op.letter)


TABLE = {Learned: lower_learned_constant, Positions: lower_positions}

#: weights back (backends/lowering/weights_back.py): a Learned tensor is lowered as a LearnedConstant, copied back alike
BACK = {Learned: None}
