"""ONNX lowerings of Expand, Tile, Pad (opset 18: with axes), Roll (two Slices and a Concat) and Take (Gather)."""

from __future__ import annotations

import numpy as np

from ...ir.ops import Expand, Gather, Pad, Roll, Take, Tile
from ..lowering.ops import batch_first, widened
from .compile import Op


def lower_expand(ctx, node, inputs):
    # Expand broadcasts numpy-style: 1 keeps an axis as it is (the batch included)
    x = ctx.plain(inputs[0])
    sizes = dict(zip(node.layer.axes, node.layer.sizes))
    shape = ctx.ints(f"{node.name}_shape", [sizes.get(a, 1) for a in x.phys])
    return ctx.let(node.name, Op("Expand", (x.var, shape)), node.spec, x.phys)


def lower_tile(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    reps = dict(zip(node.layer.axes, node.layer.reps))
    repeats = ctx.ints(f"{node.name}_reps", [reps.get(a, 1) for a in x.phys])
    return ctx.let(node.name, Op("Tile", (x.var, repeats)), node.spec, x.phys)


def lower_pad(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    op, base = node.layer, node.name
    pads = ctx.ints(f"{base}_pads", [p[0] for p in op.pads] + [p[1] for p in op.pads])
    value = ctx.scalar(f"{base}_value", op.value)
    axes = ctx.ints(f"{base}_axes", [x.pos(a) for a in op.axes])
    return ctx.let(base, Op("Pad", (x.var, pads, value, axes)), node.spec, x.phys)


def lower_roll(ctx, node, inputs):
    # rolled = concat(x[size - k:], x[:size - k]) along the axis
    x = ctx.plain(inputs[0])
    op, base = node.layer, node.name
    k, size, axis = op.amount(x.spec), x.spec.dim(op.axis), x.pos(op.axis)
    if k == 0:
        return ctx.let(base, Op("Identity", (x.var,)), node.spec, x.phys)
    axes = ctx.ints(f"{base}_axes", [axis])
    tail = ctx.op(
        "Slice", x.var, ctx.ints(f"{base}_t0", [size - k]), ctx.ints(f"{base}_t1", [size]), axes, base=f"{base}_tail"
    )
    head = ctx.op(
        "Slice", x.var, ctx.ints(f"{base}_h0", [0]), ctx.ints(f"{base}_h1", [size - k]), axes, base=f"{base}_head"
    )
    return ctx.let(base, Op("Concat", (tail, head), {"axis": axis}), node.spec, x.phys)


def lower_take(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    op = node.layer
    index = ctx.const(f"{node.name}_index", np.asarray(op.indices, dtype=np.int64))
    phys = x.phys.replace(op.axis, op.letter)
    return ctx.let(node.name, Op("Gather", (x.var, index), {"axis": x.pos(op.axis)}), node.spec, phys)


def lower_gather(ctx, node, inputs):
    # GatherElements wants the index at the output's full shape: reshaped to size 1 on the other axes, then
    # expanded to x's shape with 1 at the gathered axis (Expand broadcasts numpy-style)
    x, index = ctx.require(ctx.plain(inputs[0]), batch_first(inputs[0].phys)), inputs[1]
    base, pos = node.name, x.pos(node.layer.axis)
    phys = x.phys.replace(node.layer.axis, index.spec.layout.replace("N", ""))
    spread = widened(ctx, index, node.spec, phys, f"{base}_index")
    keep = ctx.ints(f"{base}_keep", [0 if i == pos else 1 for i in range(len(phys))])
    one = ctx.ints(f"{base}_one", [1 if i == pos else 0 for i in range(len(phys))])
    shape = ctx.op(
        "Add",
        ctx.op("Mul", ctx.op("Shape", x.var, base=f"{base}_shape"), keep, base=f"{base}_kept"),
        one,
        base=f"{base}_target",
    )
    full = ctx.op("Expand", spread.var, shape, base=f"{base}_full")
    return ctx.let(base, Op("GatherElements", (x.var, full), {"axis": pos}), node.spec, phys)


TABLE = {
    Expand: lower_expand,
    Tile: lower_tile,
    Pad: lower_pad,
    Roll: lower_roll,
    Take: lower_take,
    Gather: lower_gather,
}
