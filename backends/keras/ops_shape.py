"""Keras lowerings of the ops that move entries: Transpose (a relabelling), View, Concat, Narrow."""

from __future__ import annotations

from ...ir.ops import Concat, Narrow, Transpose, View
from ..lowering.driver import with_spec
from ..lowering.ops import declared


def lower_transpose(ctx, node, inputs):
    # The letters keep their meaning: nothing moves until an op needs positions (then once, by require).
    return with_spec(ctx.plain(inputs[0]), node.spec)


def lower_view(ctx, node, inputs):
    # keras.ops.reshape (the batch as -1) where the shape has no -1 of its own, so from_keras reads a View back
    x = declared(ctx, inputs[0])
    shape = node.layer.shape
    if node.layer.crosses_batch:  # every size is known: the batch is the one -1
        shape = node.spec.shape[1:]
        return ctx.let(node.name, f"keras.ops.reshape({x.var}, {(-1, *shape)!r})", node.spec, node.spec.layout)
    expr = f"keras.ops.reshape({x.var}, {(-1, *shape)!r})" if -1 not in shape else _unit_axes(x, node.spec)
    expr = expr or ctx.reshape_expr(x, shape, node.spec.layout)
    return ctx.let(node.name, expr, node.spec, node.spec.layout)


def lower_concat(ctx, node, inputs):
    xs = [ctx.plain(v) for v in inputs]
    phys = xs[0].phys
    xs = [ctx.require(v, phys) for v in xs]
    args = ", ".join(v.var for v in xs)
    return ctx.let(node.name, f"keras.ops.concatenate([{args}], axis={phys.index(node.layer.axis)})", node.spec, phys)


def lower_narrow(ctx, node, inputs):
    x = ctx.plain(inputs[0])
    kept = list(node.layer.indices(x.spec))
    return ctx.let(node.name, f"keras.ops.take({x.var}, {kept!r}, axis={x.pos(node.layer.axis)})", node.spec, x.phys)


def _unit_axes(x, spec):
    """``keras.ops.expand_dims``/``squeeze`` of ``x`` (held as declared) where ``spec`` only adds or only drops
    size-1 axes (a View with a -1 for a symbolic length, which keras.ops.reshape cannot take beside the batch's)."""
    have, want = list(x.phys_shape()[1:]), list(spec.shape[1:])
    small, big, fn = (have, want, "expand_dims") if len(want) > len(have) else (want, have, "squeeze")
    axes, i = [], 0
    for j, size in enumerate(big):
        if i < len(small) and small[i] == size:
            i += 1
        elif size == 1:
            axes.append(j + 1)
        else:
            return None
    if i != len(small) or not axes:
        return None
    return f"keras.ops.{fn}({x.var}, {tuple(axes) if len(axes) > 1 else axes[0]})"


TABLE = {Transpose: lower_transpose, View: lower_view, Concat: lower_concat, Narrow: lower_narrow}
