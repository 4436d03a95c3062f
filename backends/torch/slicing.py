"""torch lowering of Slice: plain indexing ``x[:, :, start:stop]`` at the axis's physical position.

No module and no transpose: torch slices any axis wherever it holds it.
"""

from __future__ import annotations

from ...ir.layers import Slice


def lower_slice(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    i, start, stop = node.layer.bounds(x.spec)
    pos = x.pos(x.spec.layout[i])
    index = [":"] * pos + [f"{start or ''}:{stop if stop != x.spec.shape[i] else ''}"]
    return ctx.let(node.name, f"{x.var}[{', '.join(index)}]", node.spec, x.phys)


TABLE = {Slice: lower_slice}
