"""ONNX lowering of Slice: one Slice node on the axis's physical position (no transpose: ONNX slices any axis
wherever it is held)."""

from __future__ import annotations

import numpy as np

from ...ir.layers import Slice
from .compile import Op


def lower_slice(ctx, node, inputs):
    (x,) = inputs
    i, start, stop = node.layer.bounds(x.spec)
    letter, base = x.spec.layout[i], node.name
    if letter == "C" and x.feat is not None:
        # Features in a permuted order (after a Flatten): one Gather picks the logical range, in logical order,
        # where undoing the order and then slicing would take two nodes.
        picked = ctx.const(f"{base}_index", np.argsort(x.feat)[start:stop].astype(np.int64))
        return ctx.let(base, Op("Gather", (x.var, picked), {"axis": x.pos("C")}), node.spec, x.phys)
    args = (
        x.var,
        ctx.ints(f"{base}_start", [start]),
        ctx.ints(f"{base}_stop", [stop]),
        ctx.ints(f"{base}_axis", [x.pos(letter)]),
    )
    return ctx.let(base, Op("Slice", args), node.spec, x.phys)


TABLE = {Slice: lower_slice}
