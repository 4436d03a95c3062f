"""Pattern rules for LSTM/GRU/RNN: which output the graph reads, and how (see ``rules.py``).

ONNX's recurrent ops return Y ``(T, D, N, U)`` (or ``(N, T, D, U)`` with
``layout=1``) and Y_h ``(D, N, U)``; exporters then drop the direction axis
D. These rules fold those selections into the recurrent op as
``return_sequences``, which is what the IR's layers return.
"""

from __future__ import annotations

from ..graph import Graph, Op
from ..match import axes_of, replace, scalar


def fuse_recurrent(graph: Graph, op: Op) -> None:
    """Find which of Y / Y_h the graph reads, and the ops that take the direction axis away."""
    if op.op_type not in ("LSTM", "GRU", "RNN") or "return_sequences" in op.attrs:
        return
    used = [i for i, o in enumerate(op.outputs) if o and (graph.consumers.get(o) or o in graph.outputs)]
    batch_first = bool(op.attr("layout", 0))
    two = op.attr("direction", b"forward") in (b"bidirectional", "bidirectional")
    found = None
    if used == [0]:
        found = _select_sequence(graph, op, batch_first, two)
    elif used == [1]:
        found = _select_state(graph, op, batch_first, two)
    if found is not None:
        group, out = found
        replace(
            graph,
            [op] + group,
            Op(op.op_type, op.name, op.inputs, [out], {**op.attrs, "return_sequences": used == [0]}),
        )


def fuse_last_step(graph: Graph, op: Op) -> None:
    """``y[:, -1]`` of a forward LSTM/GRU/RNN sequence is its last state (not so for two directions)."""
    if (
        op.op_type not in ("LSTM", "GRU", "RNN")
        or not op.attrs.get("return_sequences")
        or op.attr("direction", b"forward") not in (b"forward", "forward")
    ):
        return
    time_axis = 1 if op.attr("layout", 0) else 0
    group, user = [op], graph.only_consumer(op.outputs[0])
    if user is not None and user.op_type == "Transpose" and len(user.attr("perm", [])) == 3:
        time_axis = list(user.attr("perm")).index(time_axis)
        group.append(user)
        user = graph.only_consumer(user.outputs[0])
    index = scalar(graph, user.inputs[1]) if user is not None and user.op_type == "Gather" else None
    if index == -1 and graph.const(user.inputs[1]).ndim == 0 and user.attr("axis", 0) % 3 == time_axis:
        replace(
            graph,
            group + [user],
            Op(op.op_type, op.name, op.inputs, user.outputs, {**op.attrs, "return_sequences": False}),
        )


def _select_sequence(graph, op, batch_first, two):
    """Y is (T, D, N, U) or (N, T, D, U): squeezed (one direction) or directions folded into U."""
    d_axis = 2 if batch_first else 1
    first = graph.only_consumer(op.outputs[0])
    if first is None:
        return None
    if not two:
        if first.op_type == "Squeeze" and axes_of(graph, first) in ([d_axis], [d_axis - 4]):
            return [first], first.outputs[0]
        return None
    group = []
    if not batch_first:
        if first.op_type != "Transpose" or list(first.attr("perm", [])) != [0, 2, 1, 3]:
            return None
        group.append(first)
        first = graph.only_consumer(first.outputs[0])
    if first is None or first.op_type != "Reshape":
        return None
    shape = graph.const(first.inputs[1])
    if (
        shape is None
        or isinstance(shape, str)
        or [int(s) for s in shape][:2] != [0, 0]
        or len(shape) != 3
        or int(shape[2]) not in (-1, 2 * op.attr("hidden_size", 0))
    ):
        return None
    return group + [first], first.outputs[0]


def _select_state(graph, op, batch_first, two):
    """Y_h is (D, N, U) (or (N, D, U)): one direction taken out, or both concatenated [forward, backward]."""
    users = graph.consumers.get(op.outputs[1], [])
    if op.outputs[1] in graph.outputs or not users:
        return None
    axis = 1 if batch_first else 0
    picks = {}
    for user in users:
        index = scalar(graph, user.inputs[1]) if user.op_type == "Gather" else None
        if index is not None and user.attr("axis", 0) == axis and graph.const(user.inputs[1]).ndim == 0:
            picks[int(index) % (2 if two else 1)] = user
        elif user.op_type == "Squeeze" and not two and axes_of(graph, user) in ([axis], [axis - 3]):
            picks[0] = user
        else:
            return None
    if not two:
        return ([picks[0]], picks[0].outputs[0]) if list(picks) == [0] and len(users) == 1 else None
    if sorted(picks) != [0, 1] or len(users) != 2:
        return None
    concat = graph.only_consumer(picks[0].outputs[0])
    if (
        concat is None
        or concat.op_type != "Concat"
        or concat.attr("axis") not in (1, -1)
        or concat.inputs != [picks[0].outputs[0], picks[1].outputs[0]]
        or graph.only_consumer(picks[1].outputs[0]) is not concat
    ):
        return None
    return [picks[0], picks[1], concat], concat.outputs[0]
