"""Keras lowerings of Expand, Tile, Pad, Roll and Take: ``keras.ops`` at the held positions of the letters."""

from __future__ import annotations

from ...ir.ops import Expand, Gather, Pad, Roll, Take, Tile
from ..lowering.ops import batch_first, number, widened


def lower_expand(ctx, node, inputs):
    # Repeating a size-1 axis n times is expanding it.
    x = ctx.plain(inputs[0])
    expr = x.var
    for a, n in zip(node.layer.axes, node.layer.sizes):
        expr = f"keras.ops.repeat({expr}, {n}, axis={x.pos(a)})"
    return ctx.let(node.name, expr, node.spec, x.phys)


def lower_tile(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    reps = dict(zip(node.layer.axes, node.layer.reps))
    return ctx.let(node.name, f"keras.ops.tile({x.var}, {[reps.get(a, 1) for a in x.phys]!r})", node.spec, x.phys)


def lower_pad(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    pads = dict(zip(node.layer.axes, node.layer.pads))
    widths = [list(pads.get(a, (0, 0))) for a in x.phys]
    expr = f"keras.ops.pad({x.var}, {widths!r}, constant_values={number(node.layer.value)})"
    return ctx.let(node.name, expr, node.spec, x.phys)


def lower_roll(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    node.layer.amount(x.spec)  # checked; written as the IR holds it, which reads back the same
    shift = node.layer.shift
    return ctx.let(node.name, f"keras.ops.roll({x.var}, {shift}, axis={x.pos(node.layer.axis)})", node.spec, x.phys)


def lower_take(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    op = node.layer
    phys = x.phys.replace(op.axis, op.letter)
    return ctx.let(node.name, f"keras.ops.take({x.var}, {list(op.indices)!r}, axis={x.pos(op.axis)})", node.spec, phys)


def lower_gather(ctx, node, inputs):
    # take_along_axis broadcasts the index, reshaped to size 1 on every other axis, over them
    x, index = ctx.require(ctx.plain(inputs[0]), batch_first(inputs[0].phys)), inputs[1]
    phys = x.phys.replace(node.layer.axis, index.spec.layout.replace("N", ""))
    spread = widened(ctx, index, node.spec, phys, f"{node.name}_index")
    expr = f"keras.ops.take_along_axis({x.var}, {spread.var}, axis={x.pos(node.layer.axis)})"
    return ctx.let(node.name, expr, node.spec, phys)


TABLE = {
    Expand: lower_expand,
    Tile: lower_tile,
    Pad: lower_pad,
    Roll: lower_roll,
    Take: lower_take,
    Gather: lower_gather,
}
