"""Keras lowering of Slice from standard layers only: a Cropping layer, between two Reshapes where needed.

Keras has no slicing layer, and a Lambda would not survive saving or
tf2onnx cleanly. Cropping moves no arithmetic (the kept entries are copied
as they are, so the result is exact), but Keras crops only the axes after the
batch axis and before the last. The tensor is therefore reshaped, as Keras
holds it (batch first, no transpose), to ``(before, axis, after)`` where
``before``/``after`` are the products of the held axes on either side; a
``Cropping2D(((0, 0), (start, size - stop)))`` then crops the middle axis and
a second Reshape restores the held shape. Reshape only re-reads the
contiguous buffer, so the cost is one copy of the kept entries. Where the
axis already sits where a Cropping layer looks (axis 1 of a rank-3 tensor,
axis 1 or 2 of a rank-4 one) a single Cropping1D/2D does it. A (0/1 kernel)
Dense or 1x1 Conv would also select exactly, but adds parameters; a
Permute + Cropping would add two transposes.
"""

from __future__ import annotations

import math

from ...ir.errors import UnsupportedError
from ...ir.layers import Slice
from ..lowering.code import call


def lower_slice(ctx, node, inputs):
    (x,) = inputs
    i, start, stop = node.layer.bounds(x.spec)
    letter = x.spec.layout[i]
    pos, size = x.pos(letter), x.spec.shape[i]
    crop = (start, size - stop)
    rank = len(x.phys)
    if rank == 3 and pos == 1:
        return ctx.layer(node.name, call("layers.Cropping1D", crop), x.var, node.spec, x.phys)
    if rank == 4 and pos in (1, 2):
        pairs = (crop, (0, 0)) if pos == 1 else ((0, 0), crop)
        return ctx.layer(node.name, call("layers.Cropping2D", pairs), x.var, node.spec, x.phys)
    sizes = x.phys_shape()
    before, after = sizes[1:pos], sizes[pos + 1 :]
    if None in before and None in after:
        raise UnsupportedError(
            f"the Keras lowering needs the axes on one side of {letter!r} to have known sizes", layer=node.name
        )
    rows = -1 if None in before else math.prod(before)
    cols = -1 if None in after else math.prod(after)
    flat = ctx.layer(f"{node.name}_rows", call("layers.Reshape", (rows, size, cols)), x.var, node.spec, x.phys)
    cropped = ctx.layer(f"{node.name}_crop", call("layers.Cropping2D", ((0, 0), crop)), flat.var, node.spec, x.phys)
    held = tuple(node.spec.dim(a) for a in x.phys[1:])
    if held.count(None) == 1:  # a symbolic length: Reshape infers it from -1
        held = tuple(-1 if d is None else d for d in held)
    return ctx.layer(node.name, call("layers.Reshape", held), cropped.var, node.spec, x.phys)


TABLE = {Slice: lower_slice}
