"""torch lowering of LearnedConstant: an ``nn.Parameter`` of shape ``(1, *shape)`` expanded over the batch.

``self.<name>.expand(x.shape[0], -1, ...)`` is a view (no copy), and the
parameter trains as any other; the shape is held as torch holds the output
(channels first for an image), transposed once here.
"""

from __future__ import annotations

from dataclasses import replace

from ...ir.layers import LearnedConstant


def lower_learned_constant(ctx, node, inputs):
    (x,) = inputs
    spec = node.spec
    phys, value = ctx.held_weight(node, "value")
    shape = (1, *value.shape)
    name = ctx.define(node.name, f"nn.Parameter(torch.zeros{shape!r})", value.reshape(shape))
    sizes = ", ".join([f"{x.var}.shape[{x.pos('N')}]"] + ["-1"] * len(value.shape))
    value = ctx.let(node.name, f"self.{name}.expand({sizes})", spec, phys)
    return replace(value, constant=True)  # a view: any layout of it is free


TABLE = {LearnedConstant: lower_learned_constant}

#: weights back (backends/lowering/weights_back.py): the parameter is a copy of the IR weight
BACK = {LearnedConstant: None}
