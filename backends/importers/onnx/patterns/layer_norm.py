"""Pattern rule for a layer norm composed of elementary ops (see ``rules.py``).

Two writers spell ``LayerNorm`` without ONNX's LayerNormalization node:

  * torch's TorchScript exporter below opset 17 (LayerNormalization is opset 17), over the trailing axes;
  * twinnet's own ONNX backend (``backends/onnx/norm.py``) when the normalised axes are not trailing (the
    channels of a channels-first tensor), composed in place rather than transposed there and back.

Both write, over one set of axes (``keepdims=1``),

    mean = ReduceMean(x);  d = x - mean;  var = ReduceMean(d * d  or  Pow(d, 2))
    y = d / Sqrt(var + eps)  [* gamma]  [+ beta]

which is the IR's LayerNorm (biased variance, epsilon inside the root) over those axes, with gamma and
beta the constants that vary along them only. The rule makes one ``twinnet.LayerNorm`` op holding the
axes (positions, ascending), epsilon and the weights, shaped as the normalised axes in position order.
"""

from __future__ import annotations

import numpy as np

from ..graph import Graph, Op
from ..match import axes_of, is_const, next_op, other, replace, scalar


def _axes(graph: Graph, op: Op, rank: int) -> list[int] | None:
    """The positions a keepdims ReduceMean averages over, ascending; None for no axes or the batch axis."""
    if op.op_type != "ReduceMean" or not op.attr("keepdims", 1):
        return None
    axes = sorted({a % rank for a in axes_of(graph, op) or []})
    return axes if axes and 0 not in axes else None


def _square(graph: Graph, d: str) -> tuple[Op, Op] | None:
    """The square of ``d`` (``d * d`` or ``Pow(d, 2)``) and the Div reading ``d``: its only readers."""
    users = graph.consumers.get(d, [])
    if d in graph.outputs:
        return None
    squares = [
        u
        for u in users
        if (u.op_type == "Mul" and u.inputs == [d, d])
        or (u.op_type == "Pow" and u.inputs[0] == d and is_const(graph, u.inputs[1], 2.0))
    ]
    divs = [u for u in users if u.op_type == "Div" and u.inputs[0] == d]
    if len(divs) != 1 or not squares or any(s is not squares[0] for s in squares):
        return None
    # a Mul reads d twice (two consumer entries), Pow once; nothing else may read d
    if len(users) != len(squares) + 1 or len(squares) != (2 if squares[0].op_type == "Mul" else 1):
        return None
    return squares[0], divs[0]


def _weight(graph: Graph, op: Op | None, y: str, shape: tuple, axes: list[int]) -> np.ndarray | None:
    """The constant ``op`` multiplies/adds to ``y``, shaped as the normalised axes, if it varies along them
    only (and broadcasts to ``y``'s shape)."""
    value = graph.const(other(op, y) or "") if op is not None else None
    rank = len(shape)
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.ndim > rank:
        return None
    full = value.reshape((1,) * (rank - value.ndim) + value.shape)
    for i, size in enumerate(full.shape):
        if size != 1 and (i not in axes or size != shape[i]):
            return None
    target = [shape[i] if i in axes else 1 for i in range(rank)]
    return np.broadcast_to(full, target).reshape([shape[i] for i in axes]).astype(np.float32)


def fuse_layer_norm(graph: Graph, op: Op) -> None:
    x = op.inputs[0] if op.inputs else ""
    shape = graph.shapes.get(x)
    if shape is None:
        return
    axes = _axes(graph, op, len(shape))
    sub = next_op(graph, op, "Sub")
    if axes is None or any(shape[i] is None for i in axes) or sub is None or sub.inputs != [x, op.outputs[0]]:
        return
    found = _square(graph, sub.outputs[0])
    if found is None:
        return
    square, div = found
    var = next_op(graph, square, "ReduceMean")
    add = next_op(graph, var, "Add") if var is not None and _axes(graph, var, len(shape)) == axes else None
    eps = scalar(graph, other(add, var.outputs[0]) or "") if add is not None else None
    root = next_op(graph, add, "Sqrt") if eps is not None and eps >= 0 else None
    if root is None or graph.only_consumer(root.outputs[0]) is not div or div.inputs[1] != root.outputs[0]:
        return
    group = [op, sub, square, var, add, root, div]
    attrs = {"axes": axes, "epsilon": eps, "gamma": None, "beta": None}
    for op_type, key in (("Mul", "gamma"), ("Add", "beta")):
        step = next_op(graph, group[-1], op_type)
        value = _weight(graph, step, group[-1].outputs[0], shape, axes)
        if value is None:
            if op_type == "Mul":
                continue  # no gamma: a beta may still follow the Div
            break
        attrs[key] = value
        group.append(step)
    replace(graph, group, Op("twinnet.LayerNorm", op.name, [x], group[-1].outputs, attrs))
