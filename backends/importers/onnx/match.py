"""Small matching helpers shared by the pattern rules (``patterns/``) and the op table.

A rule asks about constants (``scalar``, ``is_const``), neighbours (``next_op``,
``private``: an op read by exactly one consumer and by no graph output) and
replaces a group of ops by one (``replace``).
"""

from __future__ import annotations

import math

from ....ir.errors import UnsupportedError
from .graph import Graph, Op


def replace(graph: Graph, group: list[Op], new: Op) -> None:
    """Put ``new`` where the last op of ``group`` was, drop the rest of the group."""
    new.sources = [s for op in group for s in op.sources]
    last = max(graph.ops.index(op) for op in group)
    graph.ops[last] = new
    for op in group:
        if op in graph.ops and op is not new:
            graph.ops.remove(op)
    graph.index()


def scalar(graph: Graph, name: str) -> float | None:
    value = graph.const(name)
    if value is None or isinstance(value, str) or value.size != 1:
        return None
    return float(value.reshape(()))


def axes_of(graph: Graph, op: Op) -> list[int] | None:
    """Squeeze/Unsqueeze/Reduce* axes: the attribute (old opsets) or the constant second input."""
    if "axes" in op.attrs:
        return list(op.attrs["axes"])
    if len(op.inputs) > 1 and op.inputs[1]:
        value = graph.const(op.inputs[1])
        return None if value is None or isinstance(value, str) else [int(a) for a in value.reshape(-1)]
    return []


def other(op: Op, name: str) -> str | None:
    """The other input of a two-input op that reads ``name``."""
    if len(op.inputs) != 2 or name not in op.inputs:
        return None
    return op.inputs[1] if op.inputs[0] == name else op.inputs[0]


def next_op(graph: Graph, op: Op, op_type: str) -> Op | None:
    user = graph.only_consumer(op.outputs[0])
    return user if user is not None and user.op_type == op_type else None


def is_const(graph: Graph, name: str, value: float, rtol: float = 1e-6) -> bool:
    got = scalar(graph, name)
    return got is not None and math.isclose(got, value, rel_tol=rtol)


def private(graph: Graph, name: str, op_type: str, user: Op) -> Op | None:
    """The producer of ``name`` if it is an ``op_type`` read only by ``user``."""
    op = graph.producer.get(name or "")
    return op if op is not None and op.op_type == op_type and graph.only_consumer(name) is user else None


def unsqueezed_sizes(ctx, x) -> list:
    """The sizes after an ``Unsqueeze`` of ``x`` (batch axis left out), its axes constants: a 1 at each."""
    axes = axes_of(ctx.graph, ctx.op)
    if not axes:
        raise UnsupportedError("unsqueezes axes that are not given as constants")
    rank = x.spec.rank + len(axes)
    shape = list(x.spec.shape)
    for a in sorted(a % rank for a in axes):
        shape.insert(a, 1)
    if shape[0] is not None:
        raise UnsupportedError("inserts an axis before the batch axis")
    return shape[1:]
