"""Pattern rules for activations and arithmetic written as several nodes (see ``rules.py``).

* 0.5 * x * (1 + erf(x / sqrt 2)) and 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) -> Gelu
* x * sigmoid(x) -> twinnet.Silu;  Where(x > t, x, Softplus(x)) -> Softplus
* (a + b + ...) / k -> Mean;  x * s + b with per-channel constants -> twinnet.Affine
"""

from __future__ import annotations

import math

import numpy as np

from ..graph import Graph, Op
from ..match import is_const, next_op, other, private, replace, scalar


def _gelu_tail(graph: Graph, core: Op, x: str) -> tuple[list[Op], list[str]] | None:
    """``0.5 * x * (1 + core)`` after the erf / tanh core, in either order torch writes it."""
    add = next_op(graph, core, "Add")
    if add is None or not is_const(graph, other(add, core.outputs[0]) or "", 1.0):
        return None
    mul = next_op(graph, add, "Mul")
    if mul is None:
        return None
    left = other(mul, add.outputs[0])
    if left == x:  # x * (1 + core), then * 0.5
        half = next_op(graph, mul, "Mul")
        if half is None or not is_const(graph, other(half, mul.outputs[0]) or "", 0.5):
            return None
        return [add, mul, half], half.outputs
    pre = graph.producer.get(left or "")  # (0.5 * x) * (1 + core)
    if (
        pre is None
        or pre.op_type != "Mul"
        or x not in pre.inputs
        or not is_const(graph, other(pre, x) or "", 0.5)
        or graph.only_consumer(pre.outputs[0]) is not mul
    ):
        return None
    return [pre, add, mul], mul.outputs


def fuse_gelu(graph: Graph, op: Op) -> None:
    """0.5 * x * (1 + erf(x / sqrt(2)))."""
    if op.op_type != "Erf":
        return
    scale = graph.producer.get(op.inputs[0])
    if scale is None or graph.only_consumer(scale.outputs[0]) is not op:
        return
    x = next((i for i in scale.inputs if graph.const(i) is None), None)
    c = other(scale, x) if x else None
    if not c or not (
        (scale.op_type == "Div" and scale.inputs[0] == x and is_const(graph, c, math.sqrt(2), 1e-5))
        or (scale.op_type == "Mul" and is_const(graph, c, 1 / math.sqrt(2), 1e-5))
    ):
        return
    tail = _gelu_tail(graph, op, x)
    if tail is not None:
        replace(graph, [scale, op] + tail[0], Op("Gelu", op.name, [x], tail[1], {"approximate": "none"}))


def fuse_gelu_tanh(graph: Graph, op: Op) -> None:
    """0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3)))."""
    if op.op_type != "Tanh":
        return
    u = private(graph, op.inputs[0], "Mul", op)
    inner = next((i for i in (u.inputs if u else []) if graph.const(i) is None), None)
    if u is None or not is_const(graph, other(u, inner) or "", math.sqrt(2 / math.pi), 1e-5):
        return
    s = private(graph, inner, "Add", u)
    for x, t_name in ((s.inputs[0], s.inputs[1]), (s.inputs[1], s.inputs[0])) if s and len(s.inputs) == 2 else ():
        t = private(graph, t_name, "Mul", s)
        cube_name = next((i for i in (t.inputs if t else []) if graph.const(i) is None), None)
        if t is None or not is_const(graph, other(t, cube_name) or "", 0.044715, 1e-5):
            continue
        cube = private(graph, cube_name, "Mul", t)
        square_name = other(cube, x) if cube else None
        square = private(graph, square_name, "Mul", cube) if square_name else None
        if square is None or square.inputs != [x, x]:
            continue
        tail = _gelu_tail(graph, op, x)
        if tail is not None:
            group = [square, cube, t, s, u, op] + tail[0]
            replace(graph, group, Op("Gelu", op.name, [x], tail[1], {"approximate": "tanh"}))
        return


def fuse_average(graph: Graph, op: Op) -> None:
    """(a + b + ...) / k over k computed tensors (how torch writes an Average) -> Mean."""
    if op.op_type not in ("Div", "Mul") or graph.const(op.inputs[0]) is not None:
        return
    k = scalar(graph, op.inputs[1])
    adds, leaves, pending = [], [], [op.inputs[0]]
    while pending:
        name = pending.pop(0)
        add = private(graph, name, "Add", adds[-1] if adds else op)
        if add is None or any(graph.const(i) is not None for i in add.inputs):
            leaves.append(name)
            continue
        adds.append(add)
        pending = list(add.inputs) + pending
    n = len(leaves)
    if not adds or k is None or not math.isclose(k, n if op.op_type == "Div" else 1 / n, rel_tol=1e-6):
        return
    replace(graph, adds + [op], Op("Mean", op.name, leaves, op.outputs))


def fuse_silu(graph: Graph, op: Op) -> None:
    if op.op_type != "Sigmoid":
        return
    mul = next_op(graph, op, "Mul")
    if mul is not None and other(mul, op.outputs[0]) == op.inputs[0]:
        replace(graph, [op, mul], Op("twinnet.Silu", mul.name, [op.inputs[0]], mul.outputs))


def fuse_softplus(graph: Graph, op: Op) -> None:
    """torch's softplus returns x itself above a threshold (20): the same numbers in float32."""
    if op.op_type != "Where":
        return
    cond, soft = graph.producer.get(op.inputs[0]), graph.producer.get(op.inputs[2])
    if cond is None or soft is None or cond.op_type != "Greater" or soft.op_type != "Softplus":
        return
    x = soft.inputs[0]
    threshold = scalar(graph, cond.inputs[1])
    if (
        cond.inputs[0] != x
        or op.inputs[1] != x
        or threshold is None
        or threshold < 15
        or graph.only_consumer(cond.outputs[0]) is not op
        or graph.only_consumer(soft.outputs[0]) is not op
    ):
        return
    replace(graph, [cond, soft, op], Op("Softplus", op.name, [x], op.outputs))


def _channel_axis(value: np.ndarray, rank: int | None) -> int | None | bool:
    """The one axis a constant varies along when broadcast to ``rank`` (None: a scalar; False: not per-axis)."""
    if rank is None or value.ndim > rank:
        return False
    if value.size == 1:
        return None
    shape = (1,) * (rank - value.ndim) + value.shape
    varying = [i for i, s in enumerate(shape) if s != 1]
    return varying[0] if len(varying) == 1 and varying[0] > 0 else False


def _affine_part(graph: Graph, op: Op):
    """(x, axis, scale, shift) when ``op`` is x*c, x/c, x+c or x-c with a per-axis constant c."""
    if op.op_type not in ("Mul", "Div", "Add", "Sub") or len(op.inputs) != 2:
        return None
    consts = [graph.const(i) for i in op.inputs]
    k = [i for i, c in enumerate(consts) if isinstance(c, np.ndarray) and c.dtype.kind == "f"]
    if len(k) != 1 or consts[1 - k[0]] is not None or (op.op_type in ("Div", "Sub") and k[0] != 1):
        return None
    x, value = op.inputs[1 - k[0]], consts[k[0]].astype(np.float32)
    axis = _channel_axis(value, graph.rank(x))
    if axis is False:
        return None
    flat = value.reshape(-1)
    scale = {"Mul": flat, "Div": 1 / flat}.get(op.op_type)
    shift = {"Add": flat, "Sub": -flat}.get(op.op_type)
    return x, axis, scale, shift


def fuse_affine(graph: Graph, op: Op) -> None:
    """x * s + b with per-channel (or scalar) constants, e.g. tf2onnx's inference BatchNorm -> twinnet.Affine."""
    part = _affine_part(graph, op)
    if part is None:
        return
    x, axis, scale, shift = part
    group = [op]
    nxt = graph.only_consumer(op.outputs[0])
    later = _affine_part(graph, nxt) if scale is not None and nxt is not None else None
    if (
        later is not None
        and later[0] == op.outputs[0]
        and later[2] is None
        and None in (axis, later[1])
        or later is not None
        and later[0] == op.outputs[0]
        and later[2] is None
        and later[1] == axis
    ):
        group.append(nxt)
        shift, axis = later[3], later[1] if axis is None else axis
    replace(
        graph,
        group,
        Op("twinnet.Affine", op.name, [x], group[-1].outputs, {"axis": axis, "scale": scale, "shift": shift}),
    )
