"""torch lowerings of the ops that move entries: Transpose (a relabelling), View, Concat, Narrow."""

from __future__ import annotations

from ...ir.ops import Concat, Narrow, Transpose, View
from ..lowering.driver import with_spec
from ..lowering.ops import declared


def lower_transpose(ctx, node, inputs):
    # The letters keep their meaning: nothing moves until an op needs positions (then once, by require).
    return with_spec(ctx.plain(inputs[0]), node.spec)


def lower_view(ctx, node, inputs):
    x = declared(ctx, inputs[0])
    if node.layer.crosses_batch:  # every size is known: the batch is the one -1
        sizes = ", ".join(map(str, node.spec.shape[1:]))
        return ctx.let(node.name, f"{x.var}.reshape(-1, {sizes})", node.spec, node.spec.layout)
    return ctx.let(node.name, ctx.reshape_expr(x, node.layer.shape, node.spec.layout), node.spec, node.spec.layout)


def lower_concat(ctx, node, inputs):
    xs = [ctx.plain(v) for v in inputs]
    phys = xs[0].phys
    xs = [ctx.require(v, phys) for v in xs]
    args = ", ".join(v.var for v in xs)
    return ctx.let(node.name, f"torch.cat([{args}], dim={phys.index(node.layer.axis)})", node.spec, phys)


def lower_narrow(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    kept = node.layer.indices(x.spec)
    step = "" if kept.step == 1 else f":{kept.step}"
    index = ", ".join([":"] * x.pos(node.layer.axis) + [f"{kept.start}:{kept.stop}{step}"])
    return ctx.let(node.name, f"{x.var}[{index}]", node.spec, x.phys)


TABLE = {Transpose: lower_transpose, View: lower_view, Concat: lower_concat, Narrow: lower_narrow}
