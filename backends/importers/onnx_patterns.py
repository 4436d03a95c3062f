"""Pattern rules: groups of ONNX nodes that are one IR layer, rewritten into one :class:`Op`.

Each rule looks for one shape of subgraph and replaces it by a single op the
table converts (a standard ONNX op with extra attributes, or a ``twinnet.*``
op for what ONNX has no node for). A rule fires only when every intermediate
value has exactly one consumer and is no graph output, so nothing the rest of
the graph reads disappears. Rules, in the order they run:

  * Pad(constant) + Conv / MaxPool / AveragePool -> the pads join the window op's pads
  * AveragePool(count_include_pad) + Mul(real-count rescale) -> count_include_pad=0
  * MatMul(x, W) + Add(b) -> MatMul with a bias (a Dense)
  * x * 0.5 * (1 + Erf(x / sqrt 2)) and the tanh form -> Gelu;  x * Sigmoid(x) -> twinnet.Silu
  * (a + b + ...) / k -> Mean (an Average)
  * x * s + b with per-channel constants (tf2onnx's BatchNorm) -> twinnet.Affine (a BatchNorm)
  * a global pool (or spatial ReduceMean/Max) keeping dims + Flatten/Squeeze/Reshape -> keepdims=0
  * Where(x > t, x, Softplus(x)) (torch's thresholded softplus) -> Softplus
  * LSTM/GRU/RNN + the Squeeze/Gather/Concat/Transpose/Reshape that select its
    sequence (Y) or last state (Y_h) -> one recurrent op with ``return_sequences``
  * a forward recurrent sequence, (transposed and) indexed at its last step
    (torch's ``y[:, -1]``) -> the last state, ``return_sequences=False``
"""
from __future__ import annotations

import math

import numpy as np

from .onnx_graph import Graph, Op


def run_rules(graph: Graph) -> None:
    for rule in (fold_pad, fold_avg_rescale, fuse_dense, fuse_gelu, fuse_gelu_tanh, fuse_silu, fuse_softplus,
                 fuse_average, fuse_affine, fuse_global_flatten, fuse_recurrent, fuse_last_step):
        for op in list(graph.ops):
            if op not in graph.ops:
                continue
            try:
                rule(graph, op)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError, ZeroDivisionError):
                continue  # an odd attribute: no fusion here; the op is then converted (or refused) on its own


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


def _other(op: Op, name: str) -> str | None:
    """The other input of a two-input op that reads ``name``."""
    if len(op.inputs) != 2 or name not in op.inputs:
        return None
    return op.inputs[1] if op.inputs[0] == name else op.inputs[0]


def _next(graph: Graph, op: Op, op_type: str) -> Op | None:
    user = graph.only_consumer(op.outputs[0])
    return user if user is not None and user.op_type == op_type else None


# -- window ops -----------------------------------------------------------------------

def fold_pad(graph: Graph, op: Op) -> None:
    if op.op_type != "Pad" or op.attr("mode", b"constant") not in (b"constant", "constant"):
        return
    user = graph.only_consumer(op.outputs[0])
    if user is None or user.op_type not in ("Conv", "MaxPool", "AveragePool") or user.inputs[0] != op.outputs[0]:
        return
    pads = graph.const(op.inputs[1]) if len(op.inputs) > 1 else np.asarray(op.attr("pads", []))
    value = (scalar(graph, op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else 0.0) \
        if len(op.inputs) > 1 else op.attr("value", 0.0)
    if pads is None or isinstance(pads, str) or value is None or (len(op.inputs) > 3 and op.inputs[3]):
        return
    pads = [int(p) for p in pads.reshape(-1)]
    rank = len(pads) // 2
    begin, end = pads[:rank], pads[rank:]
    if any(begin[:2]) or any(end[:2]) or min(pads) < 0 or user.attr("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return
    wanted = -math.inf if user.op_type == "MaxPool" else 0.0
    if value != wanted:
        return
    nd = rank - 2
    own = list(user.attr("pads", [0] * 2 * nd))
    attrs = {**user.attrs, "pads": [a + b for a, b in zip(begin[2:] + end[2:], own)]}
    if user.op_type == "AveragePool":
        if any(own) and not user.attr("count_include_pad", 0):
            return  # padded zeros counted, own pads not: one pool cannot say both
        attrs["count_include_pad"] = 1  # the Pad's zeros are real elements to the pool
    replace(graph, [op, user], Op(user.op_type, user.name, [op.inputs[0]] + user.inputs[1:], user.outputs, attrs))


def window_counts(sizes, kernel, strides, pads) -> np.ndarray:
    """Real (unpadded) elements under each pooling window, as an array over the output positions."""
    per_axis = []
    for n, k, s, b, a in zip(sizes, kernel, strides, pads[:len(sizes)], pads[len(sizes):]):
        out = (n + b + a - k) // s + 1
        starts = np.arange(out) * s - b
        per_axis.append(np.minimum(starts + k, n) - np.maximum(starts, 0))
    counts = per_axis[0]
    for c in per_axis[1:]:
        counts = np.multiply.outer(counts, c)
    return counts.astype(np.float64)


def fold_avg_rescale(graph: Graph, op: Op) -> None:
    """torch's 'same' average pool: count zeros, then multiply by window / real count."""
    if op.op_type != "AveragePool" or not op.attr("count_include_pad", 0) or op.attr("ceil_mode", 0):
        return
    mul = _next(graph, op, "Mul")
    shape = graph.shapes.get(op.inputs[0])
    if mul is None or shape is None or any(s is None for s in shape[2:]):
        return
    scale = graph.const(_other(mul, op.outputs[0]) or "")
    if scale is None or isinstance(scale, str):
        return
    kernel = list(op.attr("kernel_shape"))
    nd = len(kernel)
    pads = list(op.attr("pads", [0] * 2 * nd))
    counts = window_counts(shape[2:], kernel, list(op.attr("strides", [1] * nd)), pads)
    expected = math.prod(kernel) / counts
    try:
        matches = np.allclose(np.broadcast_to(scale, (1, 1) + expected.shape)[0, 0], expected, rtol=1e-6)
    except ValueError:
        return
    if matches and scale.ndim <= nd + 2 and all(d == 1 for d in scale.shape[:scale.ndim - nd]):
        replace(graph, [op, mul], Op("AveragePool", op.name, op.inputs, mul.outputs,
                                     {**op.attrs, "count_include_pad": 0}))


# -- dense and activations --------------------------------------------------------------

def fuse_dense(graph: Graph, op: Op) -> None:
    if op.op_type != "MatMul" or graph.const(op.inputs[1]) is None:
        return
    add = _next(graph, op, "Add")
    bias = _other(add, op.outputs[0]) if add is not None else None
    value = graph.const(bias) if bias else None
    if value is None or isinstance(value, str) or value.ndim == 0 or value.size != value.shape[-1]:
        return
    replace(graph, [op, add], Op("MatMul", op.name, op.inputs + [bias], add.outputs, dict(op.attrs)))


def _is_const(graph: Graph, name: str, value: float, rtol: float = 1e-6) -> bool:
    got = scalar(graph, name)
    return got is not None and math.isclose(got, value, rel_tol=rtol)


def _gelu_tail(graph: Graph, core: Op, x: str) -> tuple[list[Op], list[str]] | None:
    """``0.5 * x * (1 + core)`` after the erf / tanh core, in either order torch writes it."""
    add = _next(graph, core, "Add")
    if add is None or not _is_const(graph, _other(add, core.outputs[0]) or "", 1.0):
        return None
    mul = _next(graph, add, "Mul")
    if mul is None:
        return None
    left = _other(mul, add.outputs[0])
    if left == x:  # x * (1 + core), then * 0.5
        half = _next(graph, mul, "Mul")
        if half is None or not _is_const(graph, _other(half, mul.outputs[0]) or "", 0.5):
            return None
        return [add, mul, half], half.outputs
    pre = graph.producer.get(left or "")  # (0.5 * x) * (1 + core)
    if pre is None or pre.op_type != "Mul" or x not in pre.inputs or not _is_const(graph, _other(pre, x) or "", 0.5) \
            or graph.only_consumer(pre.outputs[0]) is not mul:
        return None
    return [pre, add, mul], mul.outputs


def _private(graph: Graph, name: str, op_type: str, user: Op) -> Op | None:
    """The producer of ``name`` if it is an ``op_type`` read only by ``user``."""
    op = graph.producer.get(name or "")
    return op if op is not None and op.op_type == op_type and graph.only_consumer(name) is user else None


def fuse_gelu(graph: Graph, op: Op) -> None:
    """0.5 * x * (1 + erf(x / sqrt(2)))."""
    if op.op_type != "Erf":
        return
    scale = graph.producer.get(op.inputs[0])
    if scale is None or graph.only_consumer(scale.outputs[0]) is not op:
        return
    x = next((i for i in scale.inputs if graph.const(i) is None), None)
    c = _other(scale, x) if x else None
    if not c or not ((scale.op_type == "Div" and scale.inputs[0] == x and _is_const(graph, c, math.sqrt(2), 1e-5))
                     or (scale.op_type == "Mul" and _is_const(graph, c, 1 / math.sqrt(2), 1e-5))):
        return
    tail = _gelu_tail(graph, op, x)
    if tail is not None:
        replace(graph, [scale, op] + tail[0], Op("Gelu", op.name, [x], tail[1], {"approximate": "none"}))


def fuse_gelu_tanh(graph: Graph, op: Op) -> None:
    """0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3)))."""
    if op.op_type != "Tanh":
        return
    u = _private(graph, op.inputs[0], "Mul", op)
    inner = next((i for i in (u.inputs if u else []) if graph.const(i) is None), None)
    if u is None or not _is_const(graph, _other(u, inner) or "", math.sqrt(2 / math.pi), 1e-5):
        return
    s = _private(graph, inner, "Add", u)
    for x, t_name in ((s.inputs[0], s.inputs[1]), (s.inputs[1], s.inputs[0])) if s and len(s.inputs) == 2 else ():
        t = _private(graph, t_name, "Mul", s)
        cube_name = next((i for i in (t.inputs if t else []) if graph.const(i) is None), None)
        if t is None or not _is_const(graph, _other(t, cube_name) or "", 0.044715, 1e-5):
            continue
        cube = _private(graph, cube_name, "Mul", t)
        square_name = _other(cube, x) if cube else None
        square = _private(graph, square_name, "Mul", cube) if square_name else None
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
        add = _private(graph, name, "Add", adds[-1] if adds else op)
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
    mul = _next(graph, op, "Mul")
    if mul is not None and _other(mul, op.outputs[0]) == op.inputs[0]:
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
    if (cond.inputs[0] != x or op.inputs[1] != x or threshold is None or threshold < 15
            or graph.only_consumer(cond.outputs[0]) is not op or graph.only_consumer(soft.outputs[0]) is not op):
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
    if later is not None and later[0] == op.outputs[0] and later[2] is None and None in (axis, later[1]) or \
            later is not None and later[0] == op.outputs[0] and later[2] is None and later[1] == axis:
        group.append(nxt)
        shift, axis = later[3], later[1] if axis is None else axis
    replace(graph, group, Op("twinnet.Affine", op.name, [x], group[-1].outputs,
                             {"axis": axis, "scale": scale, "shift": shift}))


def fuse_global_flatten(graph: Graph, op: Op) -> None:
    """(N, C, 1, 1) then Flatten / Squeeze / Reshape to (N, C) is one global pool without kept dims."""
    if op.op_type not in ("GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax") or \
            not op.attr("keepdims", 1):
        return
    rank, user = graph.rank(op.inputs[0]), graph.only_consumer(op.outputs[0])
    if rank is None or user is None or user.inputs[0] != op.outputs[0]:
        return
    spatial = list(range(2, rank))
    if op.op_type.startswith("Reduce") and sorted(a % rank for a in axes_of(graph, op) or []) != spatial:
        return
    shape = graph.const(user.inputs[1]) if user.op_type == "Reshape" else None
    if (user.op_type == "Flatten" and user.attr("axis", 1) == 1) or \
            (user.op_type == "Squeeze" and sorted(a % rank for a in axes_of(graph, user) or []) == spatial) or \
            (isinstance(shape, np.ndarray) and shape.size == 2 and int(shape[0]) in (0, -1)
             and int(shape[1]) in (-1, (graph.shapes.get(op.inputs[0]) or (0, 0))[1])):
        replace(graph, [op, user], Op(op.op_type, op.name, op.inputs, user.outputs, {**op.attrs, "keepdims": 0}))


# -- recurrent ------------------------------------------------------------------------------

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
        replace(graph, [op] + group, Op(op.op_type, op.name, op.inputs, [out], {**op.attrs,
                                                                                "return_sequences": used == [0]}))


def fuse_last_step(graph: Graph, op: Op) -> None:
    """``y[:, -1]`` of a forward LSTM/GRU/RNN sequence is its last state (not so for two directions)."""
    if op.op_type not in ("LSTM", "GRU", "RNN") or not op.attrs.get("return_sequences") \
            or op.attr("direction", b"forward") not in (b"forward", "forward"):
        return
    time_axis = 1 if op.attr("layout", 0) else 0
    group, user = [op], graph.only_consumer(op.outputs[0])
    if user is not None and user.op_type == "Transpose" and len(user.attr("perm", [])) == 3:
        time_axis = list(user.attr("perm")).index(time_axis)
        group.append(user)
        user = graph.only_consumer(user.outputs[0])
    index = scalar(graph, user.inputs[1]) if user is not None and user.op_type == "Gather" else None
    if index == -1 and graph.const(user.inputs[1]).ndim == 0 and user.attr("axis", 0) % 3 == time_axis:
        replace(graph, group + [user], Op(op.op_type, op.name, op.inputs, user.outputs,
                                          {**op.attrs, "return_sequences": False}))


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
    if shape is None or isinstance(shape, str) or [int(s) for s in shape][:2] != [0, 0] or len(shape) != 3 \
            or int(shape[2]) not in (-1, 2 * op.attr("hidden_size", 0)):
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
    if concat is None or concat.op_type != "Concat" or concat.attr("axis") not in (1, -1) \
            or concat.inputs != [picks[0].outputs[0], picks[1].outputs[0]] \
            or graph.only_consumer(picks[1].outputs[0]) is not concat:
        return None
    return [picks[0], picks[1], concat], concat.outputs[0]


__all__ = ["run_rules", "axes_of", "scalar", "window_counts"]
