"""Pattern rules for the op tier's movement ops that ONNX spells with several nodes.

* Concat(Slice(x, k:), Slice(x, :k)) along one axis (torch's ``roll`` as its
  exporters write it) -> ``twinnet.Roll`` (the IR's ``Roll``)
* Range(0, size of an axis of x, 1) then Unsqueeze(0) (position ids,
  ``arange(x.shape[i]).unsqueeze(0)``) -> ``twinnet.Positions`` (the IR's ``Positions``): the size
  is followed back through the shape arithmetic ``passes/fold.py`` folded
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph, Op
from ..match import axes_of, private, replace, scalar

_END = 2**31  # an end at or past this runs to the end of the axis


def _slice_of(graph: Graph, op: Op) -> tuple[int, int, int] | None:
    """(start, end, axis) of a one-axis, unit-step Slice with stored bounds; None otherwise."""
    args = [graph.const(i) if i else None for i in op.inputs[1:]]
    if len(args) < 3 or any(not isinstance(a, np.ndarray) or a.size != 1 for a in args[:3]):
        return None
    if len(args) > 3 and (not isinstance(args[3], np.ndarray) or int(args[3].reshape(())) != 1):
        return None
    return tuple(int(a.reshape(())) for a in args[:3])


def fuse_roll(graph: Graph, op: Op) -> None:
    if op.op_type != "Concat" or len(op.inputs) != 2:
        return
    first, second = (private(graph, name, "Slice", op) for name in op.inputs)
    if first is None or second is None or first.inputs[0] != second.inputs[0]:
        return
    shape = graph.shapes.get(first.inputs[0])
    if not shape:
        return
    rank, axis = len(shape), op.attr("axis") % len(shape)
    a, b = _slice_of(graph, first), _slice_of(graph, second)
    size = shape[axis]
    if a is None or b is None or size is None or a[2] % rank != axis or b[2] % rank != axis:
        return
    k = a[0] % size
    if not 0 < k < size or a[1] < min(size, _END) or b[0] != 0 or b[1] % size != k:
        return
    new = Op("twinnet.Roll", op.name, [first.inputs[0]], list(op.outputs), {"axis": axis, "shift": size - k})
    replace(graph, [first, second, op], new)


def _size_source(graph: Graph, name: str) -> tuple[str, int] | None:
    """(tensor, position) whose run-time size the folded value ``name`` is, if shape arithmetic says so."""
    op = graph.folded.get(name)
    while op is not None and op.op_type in ("Cast", "Squeeze", "Unsqueeze", "Identity"):
        op = graph.folded.get(op.inputs[0])
    if op is None or op.op_type != "Gather" or op.attr("axis", 0) != 0:
        return None
    index, shape_op = graph.const(op.inputs[1]), graph.folded.get(op.inputs[0])
    if shape_op is None or shape_op.op_type != "Shape" or not isinstance(index, np.ndarray) or index.size != 1:
        return None
    rank = len(graph.shapes.get(shape_op.inputs[0]) or ())
    if not rank:
        return None
    return shape_op.inputs[0], (int(index.reshape(())) + shape_op.attr("start", 0)) % rank


def fuse_positions(graph: Graph, op: Op) -> None:
    if op.op_type != "Range" or scalar(graph, op.inputs[0]) != 0 or scalar(graph, op.inputs[2]) != 1:
        return
    user = graph.only_consumer(op.outputs[0])
    source = _size_source(graph, op.inputs[1])
    if user is None or user.op_type != "Unsqueeze" or axes_of(graph, user) != [0] or source is None:
        return
    x, axis = source
    if graph.const(x) is not None or axis == 0:
        return
    dtype = {1: "float32", 6: "int32", 7: "int64"}.get(graph.dtypes.get(op.outputs[0]), "int64")
    new = Op("twinnet.Positions", op.name, [x], list(user.outputs), {"axis": axis, "dtype": dtype})
    replace(graph, [op, user], new)
