"""ONNX lowering of Slice: one Slice node on the axis's physical position (no transpose: ONNX slices any axis
wherever it is held)."""
from __future__ import annotations

from ir.layers import Slice

from .compile import Op


def lower_slice(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    i, start, stop = node.layer.bounds(x.spec)
    base = node.name
    args = (x.var, ctx.ints(f"{base}_start", [start]), ctx.ints(f"{base}_stop", [stop]),
            ctx.ints(f"{base}_axis", [x.pos(x.spec.layout[i])]))
    return ctx.let(base, Op("Slice", args), node.spec, x.phys)


TABLE = {Slice: lower_slice}
