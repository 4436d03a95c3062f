"""Pattern rule for torch's group norm (see ``rules.py``).

Both of torch's exporters (dynamo and TorchScript) write ``nn.GroupNorm(G, C)`` as

    Reshape(x, [0, G, -1]) -> InstanceNormalization(scale (G,), bias (G,)) -> Reshape(back to x's shape)
    -> Mul(gamma, (C, 1, 1)) -> Add(beta, (C, 1, 1))

(the Mul and Add only with affine weights; no Reshape back when the view is x's own
shape, one group per channel of a rank-3 x). Instance norm of the (N, G, rest) view
normalises each group over its channels and every spatial position: a GroupNorm. The
instance norm's per-group scale and bias fold into the per-channel ones.
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph, Op
from ..match import next_op, other, private, replace


def _per_channel(graph: Graph, op: Op | None, x: str, rank: int, channels: int) -> np.ndarray | None:
    """The constant ``op`` multiplies/adds to ``x``, as (C,) values, if it varies along axis 1 only."""
    if op is None:
        return None
    value = graph.const(other(op, x) or "")
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.ndim > rank:
        return None
    shape = (1,) * (rank - value.ndim) + value.shape
    if any(s != 1 for i, s in enumerate(shape) if i != 1) or shape[1] not in (1, channels):
        return None
    return np.broadcast_to(value.reshape(-1), (channels,)).astype(np.float32)


def fuse_group_norm(graph: Graph, op: Op) -> None:
    if op.op_type != "InstanceNormalization" or len(op.inputs) != 3:
        return
    pre = private(graph, op.inputs[0], "Reshape", op)
    target = graph.const(pre.inputs[1]) if pre is not None else None
    shape = graph.shapes.get(pre.inputs[0]) if pre is not None else None
    if (
        not isinstance(target, np.ndarray)
        or target.shape != (3,)
        or int(target[2]) != -1
        or shape is None
        or len(shape) < 3
        or shape[1] is None
    ):
        return
    x, rank, channels, groups = pre.inputs[0], len(shape), shape[1], int(target[1])
    scale, bias = graph.const(op.inputs[1]), graph.const(op.inputs[2])
    if (
        groups < 1
        or channels % groups
        or not isinstance(scale, np.ndarray)
        or not isinstance(bias, np.ndarray)
        or scale.size != groups
        or bias.size != groups
    ):
        return
    post = next_op(graph, op, "Reshape")
    back = graph.const(post.inputs[1]) if post is not None else None
    if (
        isinstance(back, np.ndarray)
        and [int(s) for s in back[1:]] == list(shape[1:])
        and int(back[0]) in (0, -1, shape[0] or -1)
    ):
        group = [pre, op, post]
    elif rank == 3 and groups == channels:  # (N, C, W) viewed as (N, C, W): torch drops the Reshape back
        group = [pre, op]
    else:
        return
    gamma = np.repeat(scale.astype(np.float32).reshape(-1), channels // groups)
    beta = np.repeat(bias.astype(np.float32).reshape(-1), channels // groups)
    last = group[-1].outputs[0]
    mul = next_op(graph, group[-1], "Mul")
    m = _per_channel(graph, mul, last, rank, channels)
    if m is not None:
        gamma, beta, group, last = gamma * m, beta * m, group + [mul], mul.outputs[0]
    add = next_op(graph, group[-1], "Add")
    a = _per_channel(graph, add, last, rank, channels)
    if a is not None:
        beta, group = beta + a, group + [add]
    attrs = {"num_groups": groups, "epsilon": float(op.attr("epsilon", 1e-5)), "gamma": gamma, "beta": beta}
    replace(graph, group, Op("twinnet.GroupNorm", op.name, [x], group[-1].outputs, attrs))
