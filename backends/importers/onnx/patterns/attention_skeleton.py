"""The skeleton of an attention block, found by structure alone (for ``attention.py``).

:func:`find_skeleton` starts at a Softmax and finds the scores ``MatMul(a, b)``
behind it (through element moves, then Add/Mul/Div/Where: scales and masks)
and the ``MatMul(weights, v)`` after it (through torch's NaN guard and element
moves). :func:`projection` recognises the ops that end a projection:
``MatMul`` by a stored (or constant-computed) matrix with its bias, ``Gemm``,
or ``Add`` of a constant-computed bias to such a ``MatMul``. What the moves do
is checked later, on code tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..graph import Graph, Op
from .evaluator import MOVES, Evaluator, NoMatch


@dataclass
class Skeleton:
    """The skeleton around one Softmax: what the rule found by structure alone."""

    softmax: Op
    scores: Op  # MatMul(q, k)
    mix: Op  # MatMul(weights, v)
    moves_in: list[Op]  # element moves from the scores MatMul to the arithmetic (reshapes of the einsum form)
    arithmetic: list[Op]  # Add/Mul/Div/Where on the scores
    guard: list[Op]  # torch's NaN guard after the softmax
    moves_out: list[Op]  # element moves from the softmax (or guard) to the mixing MatMul
    added: list[str] = field(default_factory=list)  # additive mask terms
    kept: list[str] = field(default_factory=list)  # multiplicative 0/1 mask terms
    selects: list[tuple[str, str]] = field(default_factory=list)  # Where(condition, scores, fill)
    scales: list[tuple[str, str]] = field(default_factory=list)  # ("Mul" | "Div", scalar)


def find_skeleton(graph: Graph, softmax: Op) -> Skeleton | None:
    rank = graph.rank(softmax.inputs[0]) if softmax.op_type == "Softmax" else None
    if rank not in (3, 4) or not -rank <= softmax.attr("axis", -1) < rank:
        return None  # which axis holds the key steps is checked on codes
    guard, name = _nan_guard(graph, softmax)
    moves_out = []
    for _ in range(8):
        user = data_user(graph, name)
        if user is None or user.inputs[0] != name:
            return None
        if user.op_type == "MatMul" and len(user.inputs) == 2 and graph.const(user.inputs[1]) is None:
            break
        if user.op_type not in MOVES:
            return None
        moves_out.append(user)
        name = user.outputs[0]
    else:
        return None
    core = Skeleton(softmax, None, user, [], [], guard, moves_out)
    name = softmax.inputs[0]
    for _ in range(16):
        op = graph.producer.get(name)
        if op is None or data_user(graph, name) is None:
            return None
        if op.op_type == "MatMul" and len(op.inputs) == 2 and all(graph.const(i) is None for i in op.inputs):
            core.scores = op
            return core
        if op.op_type in MOVES:
            core.moves_in.insert(0, op)
            name = op.inputs[0]
            continue
        if core.moves_in:
            return None  # arithmetic before a reshape of the scores: its mask would need reshaping too
        scores = _scores_input(graph, op)
        if scores is None:
            return None
        if op.op_type == "Where" and len(op.inputs) == 3 and scores == op.inputs[1]:
            core.selects.append((op.inputs[0], op.inputs[2]))
        elif op.op_type not in ("Add", "Mul", "Div") or len(op.inputs) != 2:
            return None
        else:
            other = op.inputs[1 - op.inputs.index(scores)]
            if op.op_type == "Add":
                core.added.append(other)
            elif op.op_type == "Div" and scores != op.inputs[0]:
                return None
            elif op.op_type == "Mul" and _is_tensor(graph, other):
                core.kept.append(other)
            else:
                core.scales.append((op.op_type, other))
        core.arithmetic.insert(0, op)
        name = scores
    return None


def data_user(graph: Graph, name: str) -> Op | None:
    """The one op reading ``name`` other than ops taking its shape (the einsum form reads shapes at run time)."""
    users = [u for u in graph.consumers.get(name, []) if u.op_type != "Shape"]
    return users[0] if len(users) == 1 and name not in graph.outputs else None


def _is_tensor(graph: Graph, name: str) -> bool:
    """More than one number, as far as the file says."""
    shape = graph.shapes.get(name)
    return shape is not None and any(d != 1 for d in shape)


def _nan_guard(graph: Graph, softmax: Op) -> tuple[list[Op], str]:
    """torch's ``Where(IsNaN(p), 0, p)`` after a masked softmax (rows with every key masked, which the IR
    leaves undefined): ([IsNaN, Where], its output), or ([], the softmax's output)."""
    users = graph.consumers.get(softmax.outputs[0], [])
    isnan = next((u for u in users if u.op_type == "IsNaN"), None)
    where = next((u for u in users if u.op_type == "Where"), None)
    if (
        len(users) == 2
        and isnan is not None
        and where is not None
        and softmax.outputs[0] not in graph.outputs
        and where.inputs[0] == isnan.outputs[0]
        and where.inputs[2] == softmax.outputs[0]
        and graph.only_consumer(isnan.outputs[0]) is where
    ):
        zero = graph.const(where.inputs[1])
        if isinstance(zero, np.ndarray) and zero.size == 1 and not zero.any():
            return [isnan, where], where.outputs[0]
    return [], softmax.outputs[0]


def _scores_input(graph: Graph, op: Op) -> str | None:
    """The input of an arithmetic op on the score path that leads back to the q k^T MatMul."""
    for name in op.inputs:
        if name and _leads_to_scores(graph, name, 12):
            return name
    return None


def _leads_to_scores(graph: Graph, name: str, depth: int) -> bool:
    p = graph.producer.get(name)
    if p is None or depth == 0:
        return False
    if p.op_type == "MatMul" and len(p.inputs) == 2 and all(graph.const(i) is None for i in p.inputs):
        return True
    if p.op_type in ("Add", "Mul", "Div", "Where"):
        return any(i and _leads_to_scores(graph, i, depth - 1) for i in p.inputs)
    return p.op_type in MOVES and _leads_to_scores(graph, p.inputs[0], depth - 1)


def projection(graph: Graph, op: Op | None):
    """(W (in, out), bias or None, the input it multiplies, ops it stands for) if ``op`` ends a projection
    (MatMul by a constant matrix, with a fused bias, or Gemm; or an Add of a constant bias to either), else
    None. "Constant" includes what is computed from stored tensors alone: torch splits its packed
    ``in_proj_weight``/``in_proj_bias``, tf2onnx reshapes Keras's (E, H, d) kernels; those are evaluated here."""
    if op is None:
        return None
    if op.op_type == "Add" and len(op.inputs) == 2:
        for i, name in enumerate(op.inputs):
            mul = graph.producer.get(name)
            inner = projection(graph, mul) if mul is not None and mul.op_type in ("MatMul", "Gemm") else None
            bias = _constant(graph, op.inputs[1 - i]) if inner is not None and graph.only_consumer(name) is op else None
            if bias is not None and inner[1] is None and bias[0].size == inner[0].shape[1]:
                w, _, x, extra = inner
                return w, bias[0].astype(np.float32).reshape(-1), x, [mul] + extra + bias[1]
        return None
    if (
        op.op_type not in ("MatMul", "Gemm")
        or len(op.inputs) not in (2, 3)
        or (op.op_type == "Gemm" and op.attr("transA", 0))
    ):
        return None
    weight = _constant(graph, op.inputs[1])
    bias = _constant(graph, op.inputs[2]) if len(op.inputs) == 3 and op.inputs[2] else (None, [])
    if weight is None or bias is None or weight[0].ndim != 2:
        return None
    w, b = weight[0].astype(np.float32), bias[0]
    if op.op_type == "Gemm":
        w = (w.T if op.attr("transB", 0) else w) * np.float32(op.attr("alpha", 1.0))
        b = None if b is None else np.asarray(b, np.float32) * np.float32(op.attr("beta", 1.0))
    return w, None if b is None else np.asarray(b, np.float32).reshape(-1), op.inputs[0], weight[1] + bias[1]


def _constant(graph: Graph, name: str) -> tuple[np.ndarray, list[Op]] | None:
    """A float tensor computed from stored tensors alone, and the ops computing it; None if it is not one."""
    value = graph.const(name)
    if isinstance(value, np.ndarray):
        return (value, []) if value.dtype.kind == "f" else None
    if value is not None or graph.producer.get(name) is None:
        return None
    probe = Evaluator(graph, {}, set())
    try:
        value = probe.value(name)
    except (NoMatch, ValueError, TypeError, IndexError, KeyError, RecursionError):
        return None
    return (value, probe.ops) if value.dtype.kind == "f" else None
