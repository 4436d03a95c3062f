"""torch lowerings of the tensors the graph makes itself: Learned and Positions.

A ``Learned`` tensor that only element-wise ops (``Binary``) read is written
as torch code reads a weight: an ``nn.Parameter`` of the IR weight's own
shape (no batch axis), combined as it is (``self.weight * x``), torch's
broadcasting from the right doing what the IR's broadcasting by letter does
wherever its letters end the other operand's held layout (an RMSNorm weight
``C`` against ``NTC``, a layer scale ``CHW`` of size ``(C, 1, 1)`` against
``NCHW``). That is a :class:`Bare` value, which an op that cannot use it so
(or any other reader) gets expanded over the batch, ``N`` first; a Learned
tensor read otherwise is lowered as a LearnedConstant.
"""

from __future__ import annotations

from ...ir.ops import Binary, Learned, Positions
from .batchless import Bare, bare, stays_bare
from .constant import lower_learned_constant


def lower_learned(ctx, node, inputs):
    readers = [n for n in ctx.model.nodes if any(t.node is node for t in n.inputs)]
    outputs = {t.node.name for t in ctx.model.outputs}
    if not readers or node.name in outputs or not all(isinstance(n.layer, Binary) for n in readers):
        return lower_learned_constant(ctx, node, inputs)
    (x,) = inputs
    phys, value = ctx.held_weight(node, "value")  # stored as torch holds such a tensor (channels first)
    name = ctx.define(node.name, f"nn.Parameter(torch.zeros({', '.join(map(str, value.shape))}))", value)
    return Bare(f"self.{name}", node.spec, phys, constant=True, ref=x, rank=len(value.shape))


def lower_positions(ctx, node, inputs):
    (x,) = inputs
    op = node.layer
    ids = f"torch.arange({x.var}.shape[{x.pos(op.axis)}], dtype=torch.{op.dtype}, device={x.var}.device)"
    if stays_bare(ctx, node):  # the same ids for every sample: computed once, as torch code does
        return bare(ctx, ctx.let(node.name, ids, node.spec, node.spec.layout), x)
    return ctx.let(node.name, f"{ids}.expand({x.var}.shape[{x.pos('N')}], -1)", node.spec, "N" + op.letter)


TABLE = {Learned: lower_learned, Positions: lower_positions}

#: weights back (backends/lowering/weights_back.py): the parameter is a copy of the IR weight
BACK = {Learned: None}
