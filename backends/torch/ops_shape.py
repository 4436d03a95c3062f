"""torch lowerings of the ops that move entries: Transpose (a relabelling), View, Concat, Narrow."""

from __future__ import annotations

from ...ir.layout import permutation
from ...ir.ops import Binary, Concat, Narrow, Transpose, View
from ..lowering.driver import with_spec
from ..lowering.ops import declared
from ..lowering.reshape_layout import unit_moves_only
from .batchless import Bare, bare, letters, readers, region


def _bare_view(ctx, node, inputs):
    """A View of a tensor without the batch axis: its reshape, or nothing where it only drops or adds leading
    size-1 axes for ops that broadcast it against data (torch aligns from the right)."""
    (x,) = inputs
    if node.layer.crosses_batch or node.spec.layout[0] != "N" or x.phys != x.spec.layout:
        return None
    out = [s for a, s in zip(node.spec.layout, node.spec.shape) if a != "N"]
    held = [s for a, s in zip(x.spec.layout, x.spec.shape) if a != "N"]
    held = [1] * (x.rank - len(held)) + held

    def core(sizes):
        return sizes[next((i for i, s in enumerate(sizes) if s != 1), len(sizes)) :]

    with_data = all(isinstance(n.layer, Binary) and any(not_bare(ctx, t) for t in n.inputs) for n in readers(ctx, node))
    if with_data and core(out) == core(held) and len(out) <= x.rank:
        return bare(ctx, with_spec(x, node.spec, node.spec.layout), x.ref, x.rank)
    if x.rank != len(held) or len(held) != len(letters(x)):
        return None
    sizes = ", ".join(str(s) for s in node.layer.shape)
    return bare(ctx, ctx.let(node.name, f"{x.var}.reshape({sizes})", node.spec, node.spec.layout), x.ref)


def not_bare(ctx, t) -> bool:
    """Whether the IR tensor ``t`` is data (its lowered value has the batch axis)."""
    return not isinstance(ctx.values.get(t.node.name), Bare)


def _bare_concat(ctx, node, inputs):
    out = node.spec.layout.replace("N", "")
    if any(letters(v) != out or v.rank != len(out) for v in inputs) or node.spec.layout[0] != "N":
        return None
    args = ", ".join(v.var for v in inputs)
    expr = f"torch.cat([{args}], dim={out.index(node.layer.axis)})"
    return bare(ctx, ctx.let(node.name, expr, node.spec, node.spec.layout), inputs[0].ref)


def lower_transpose(ctx, node, inputs):
    # The letters keep their meaning: nothing moves until an op needs positions (then once, by require).
    x = ctx.plain(inputs[0])
    target = node.spec.layout
    if not isinstance(x, Bare) and target[0] == "N" and x.phys != target and unit_moves_only(x.phys, target, x.spec):
        # only size-1 axes move (MobileViT's unfold at a 2-pixel map): a permute now, a view as the reshape
        # require would write later is, which says what the model says, so that from_torch reads the Transpose
        expr = ctx.transpose_expr(x, permutation(x.phys, target), target)
        return ctx.let(node.name, expr, node.spec, target)
    return with_spec(x, node.spec)


@region(_bare_view)
def lower_view(ctx, node, inputs):
    x = declared(ctx, inputs[0])
    if node.layer.crosses_batch:  # every size is known: the batch is the one -1
        sizes = ", ".join(map(str, node.spec.shape[1:]))
        return ctx.let(node.name, f"{x.var}.reshape(-1, {sizes})", node.spec, node.spec.layout)
    return ctx.let(node.name, ctx.reshape_expr(x, node.layer.shape, node.spec.layout), node.spec, node.spec.layout)


@region(_bare_concat)
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
