"""ONNX reductions and products as IR ops: ReduceMean/Sum/Max/Min (``Reduce``), Softmax and LogSoftmax over
any axis (opset < 13 too: the trailing axes from ``axis`` on, as one), and MatMul of any rank (``MatMul``,
a stored right operand read as a ``Learned`` tensor)."""

from __future__ import annotations

import math
from typing import Callable

from ....ir import ops as O
from ....ir.errors import UnsupportedError
from ....ir.layout import free_letters
from .ctx import Converted, Ctx
from .match import axes_of
from .tier import operand, relabel, stored, unchanged

#: ONNX op type -> the IR's Reduce function.
REDUCE = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max", "ReduceMin": "min"}


def reduce(fn: str) -> Callable:
    def convert(ctx: Ctx) -> Converted:
        x = ctx.x()
        axes = axes_of(ctx.graph, ctx.op)
        if axes is None:
            raise UnsupportedError("reduces over axes that are computed in the graph")
        if not axes and ctx.attr("noop_with_empty_axes", 0):
            return unchanged(ctx, x), {}
        positions = sorted({a % x.spec.rank for a in axes} if axes else range(x.spec.rank))
        letters = "".join(x.layout[a] for a in positions)
        if "N" in letters:
            raise UnsupportedError(f"reduces over positions {positions}, which include the batch axis")
        return ctx.call(O.Reduce(fn, letters, keepdims=bool(ctx.attr("keepdims", 1))), x), {}

    convert.__name__ = f"reduce_{fn}"
    return convert


def softmax(log: bool) -> Callable:
    def convert(ctx: Ctx) -> Converted:
        x = ctx.x()
        rank = x.spec.rank
        axis = ctx.attr("axis", -1 if ctx.graph.opset >= 13 else 1) % rank
        if ctx.graph.opset >= 13 or axis == rank - 1:
            return ctx.call(O.Softmax(ctx.letter(axis, x), log), x), {}
        # before opset 13: one softmax over positions axis.. taken together (the input flattened to 2-D there)
        if x.layout[0] != "N" or axis == 0:
            raise UnsupportedError(f"takes positions {axis}.. as one axis, across the batch axis or before it")
        sizes = list(x.spec.shape[1:])
        if None in sizes:
            raise UnsupportedError("takes axes of unknown size as one")
        merged = sizes[: axis - 1] + [math.prod(sizes[axis - 1 :])]
        layout = "N" + "".join(x.layout[1:axis]) + free_letters(x.layout, 1)
        flat = ctx.call(O.View(tuple(merged), layout), x)
        out = ctx.call(O.Softmax(layout[-1], log), flat)
        return ctx.call(O.View(tuple(sizes), x.layout), out), {}

    convert.__name__ = "log_softmax" if log else "softmax"
    return convert


def matmul(ctx: Ctx) -> Converted:
    """``a @ b`` for tensors of one rank (at least 3: the batch axis and a matrix), or a tensor times a stored
    matrix (or stack of matrices) of rank 2 or more."""
    a, b = ctx.value(0), ctx.value(1)
    if a is None:
        raise UnsupportedError("the left operand is a constant; the IR multiplies a computed tensor on the left")
    rank = a.spec.rank
    if rank < 3 or a.layout[0] != "N":
        raise UnsupportedError(
            f"multiplies a {a.layout!r} tensor: its first axis is the batch axis, so a rank-{rank} product "
            "would contract or mix it"
        )
    if b is None:
        value = stored(ctx, 1, "B")
        if value.ndim < 2 or value.ndim > rank:
            raise UnsupportedError(f"multiplies by a stored tensor of rank {value.ndim}")
        value = value.reshape((1,) * (rank - value.ndim) + value.shape)
        if value.shape[0] != 1:
            raise UnsupportedError(f"multiplies by a stored {value.shape} that varies along the batch axis")
        layout = a.layout[:-2] + free_letters(a.layout, 2)
        b = ctx.call(O.Learned(value.shape[1:], layout), a, weights={"value": value[0]})
    elif b.spec.rank != rank:
        raise UnsupportedError(
            f"multiplies ranks {rank} and {b.spec.rank}: the first axis of each is its batch axis, so they "
            "cannot line up by position"
        )
    elif b.layout[:-2] != a.layout[:-2]:
        tail = "".join(c for c in b.layout[-2:] if c not in a.layout[:-2])
        tail = tail if len(tail) == 2 else free_letters(a.layout, 2)
        b = relabel(ctx, b, a.layout[:-2] + tail)
    return ctx.call(O.MatMul(), a, b), {}


def layer_norm(ctx: Ctx) -> Converted:
    """LayerNormalization composed of ops, for a file that also reads its Mean and InvStdDev outputs."""
    x = ctx.x()
    rank = x.spec.rank
    letters = "".join(ctx.letter(a, x) for a in range(ctx.attr("axis", -1) % rank, rank))
    mean = ctx.call(O.Reduce("mean", letters, keepdims=True), x)
    centred = ctx.call(O.Binary("sub"), x, mean)
    var = ctx.call(O.Reduce("mean", letters, keepdims=True), ctx.call(O.Unary("square"), centred))
    inv = ctx.call(O.Unary("rsqrt"), ctx.call(O.Binary("add", scalar=float(ctx.attr("epsilon", 1e-5))), var))
    y = ctx.call(O.Binary("mul"), centred, inv)
    for index, fn in ((1, "mul"), (2, "add")):
        term = operand(ctx, index, x) if index < len(ctx.op.inputs) and ctx.op.inputs[index] else None
        if term is not None:
            y = ctx.call(O.Binary(fn, scalar=term), y) if isinstance(term, float) else ctx.call(O.Binary(fn), y, term)
    return (y, mean, inv)[: len(ctx.op.outputs)], {}
