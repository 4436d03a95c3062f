"""torch lowerings of Expand, Tile, Pad, Roll and Take, at the held positions of the letters."""

from __future__ import annotations

import numpy as np

from ...ir.ops import Expand, Gather, Pad, Roll, Take, Tile
from ..lowering.ops import batch_first, number, widened


def lower_expand(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    sizes = dict(zip(node.layer.axes, node.layer.sizes))
    args = ", ".join(str(sizes.get(a, -1)) for a in x.phys)
    return ctx.let(node.name, f"{x.var}.expand({args})", node.spec, x.phys)


def lower_tile(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    reps = dict(zip(node.layer.axes, node.layer.reps))
    return ctx.let(node.name, f"{x.var}.repeat({', '.join(str(reps.get(a, 1)) for a in x.phys)})", node.spec, x.phys)


def lower_pad(ctx, node, inputs):
    # F.pad lists (before, after) from the last axis backwards, up to the first padded one
    x = ctx.plain(inputs[0])
    pads = dict(zip(node.layer.axes, node.layer.pads))
    first = min(x.pos(a) for a in pads)
    flat = [p for a in reversed(x.phys[first:]) for p in pads.get(a, (0, 0))]
    return ctx.let(node.name, f"F.pad({x.var}, {tuple(flat)!r}, value={number(node.layer.value)})", node.spec, x.phys)


def lower_roll(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    node.layer.amount(x.spec)  # checked; written as the IR holds it, which reads back the same
    shift = node.layer.shift
    return ctx.let(node.name, f"torch.roll({x.var}, {shift}, dims={x.pos(node.layer.axis)})", node.spec, x.phys)


def lower_take(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    op = node.layer
    index = ctx.buffer(f"{node.name}_index", np.asarray(op.indices, dtype=np.int64))
    phys = x.phys.replace(op.axis, op.letter)
    return ctx.let(node.name, f"torch.index_select({x.var}, {x.pos(op.axis)}, self.{index})", node.spec, phys)


def lower_gather(ctx, node, inputs):
    # torch.gather wants the index at the output's full shape: reshaped to size 1 on the other axes, expanded
    x, index = ctx.require(ctx.plain(inputs[0]), batch_first(inputs[0].phys)), inputs[1]
    pos = x.pos(node.layer.axis)
    phys = x.phys.replace(node.layer.axis, index.spec.layout.replace("N", ""))
    spread = widened(ctx, index, node.spec, phys, f"{node.name}_index")
    sizes = ", ".join("-1" if i in (0, pos) else f"{x.var}.shape[{i}]" for i in range(len(phys)))
    expr = f"torch.gather({x.var}, {pos}, {spread.var}.long().expand({sizes}))"
    return ctx.let(node.name, expr, node.spec, phys)


TABLE = {
    Expand: lower_expand,
    Tile: lower_tile,
    Pad: lower_pad,
    Roll: lower_roll,
    Take: lower_take,
    Gather: lower_gather,
}
