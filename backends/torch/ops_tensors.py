"""torch lowerings of the tensors the graph makes itself: Learned (as LearnedConstant, the same weight repeated
over the batch) and Positions."""

from __future__ import annotations

from ...ir.ops import Learned, Positions
from .constant import lower_learned_constant


def lower_positions(ctx, node, inputs):
    (x,) = inputs
    op = node.layer
    ids = f"torch.arange({x.var}.shape[{x.pos(op.axis)}], dtype=torch.{op.dtype}, device={x.var}.device)"
    return ctx.let(node.name, f"{ids}.expand({x.var}.shape[{x.pos('N')}], -1)", node.spec, "N" + op.letter)


TABLE = {Learned: lower_learned_constant, Positions: lower_positions}

#: weights back (backends/lowering/weights_back.py): a Learned tensor is lowered as a LearnedConstant, copied back alike
BACK = {Learned: None}
