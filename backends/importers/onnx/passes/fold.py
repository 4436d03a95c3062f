"""Shape folding: the small integer computations exporters write to build a shape at run time.

tf2onnx (and torch's TorchScript exporter) compute target shapes from the
input's own shape: ``Shape -> Gather/Slice -> Cast -> Concat(with 1600)`` feeding
a Reshape, or ``Expand(0, shape)`` / ``ConstantOfShape`` for a zero initial
state (sliced, reshaped or transposed: still zeros). This pass evaluates those
on shape values (lists of ints, None where a size is only known at run time,
i.e. the batch) and records the results as
constants: a shape with one unknown size becomes a constant with -1 there
(what Reshape infers), a zero filled to a run-time shape becomes ``ZEROS``.
Nothing is run: only the ops below, on small int lists.

torch's TorchScript exporter also computes ``F.pad``'s pads from constants
(``ConstantOfShape -> Concat -> Reshape -> Slice(step -1) -> Transpose ->
Reshape -> Cast``): :func:`fold_int_constants` evaluates those few ops with numpy
when every input is a small stored integer tensor. It writes ``torch.chunk``'s
bounds as ``Shape -> Gather -> Add / Div / Mul``: folded here when the size is known.
"""

from __future__ import annotations

import numpy as np

from ...common.passes import Pass, PassResult
from ..graph import ZEROS, Graph
from .snapshot import Snapshot

_MAX_LEN = 16  # shape vectors are short; anything longer is not a shape computation


def fold_shapes(graph: Graph) -> None:
    fold_int_constants(graph)
    values: dict[str, list] = {}  # value name -> shape vector (ints and None)

    def vec(name: str):
        if name in values:
            return values[name]
        const = graph.const(name)
        if isinstance(const, np.ndarray) and const.dtype.kind in "iu" and const.ndim <= 1 and const.size <= _MAX_LEN:
            return [int(v) for v in const.reshape(-1)]
        return None

    for op in list(graph.ops):
        try:
            result = _evaluate(graph, op, vec)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            result = None  # not a shape computation this pass understands: left for the table to judge
        if isinstance(result, list) and len(result) <= _MAX_LEN:
            values[op.outputs[0]] = result
            graph.folded[op.outputs[0]] = op
            if None in result:  # kept: a run-time size folded to -1 can be recomputed at a known size
                graph.symbolic[op.outputs[0]] = op
        elif result is ZEROS:
            graph.consts[op.outputs[0]] = ZEROS
    for name, vector in values.items():
        unknown = sum(v is None for v in vector)
        if unknown == 0 or (unknown == 1 and -1 not in vector):
            value = np.asarray([-1 if v is None else v for v in vector], np.int64)
            if graph.shapes.get(name) == () and value.size == 1:  # a scalar (Gather by a scalar index) stays one:
                value = value.reshape(())  # TorchScript unsqueezes such sizes before a Concat
            graph.consts[name] = value
    graph.ops = [op for op in graph.ops if not all(o in graph.consts for o in op.outputs if o)]
    graph.index()


def _evaluate(graph: Graph, op, vec):
    """The op's result as a shape vector, ZEROS, or None when it is not a shape computation."""
    kind = op.op_type
    if kind == "Shape":
        shape = graph.shapes.get(op.inputs[0])
        if shape is None:
            return None
        start, end = op.attr("start", 0), op.attr("end", len(shape))
        return list(shape)[start:end]
    # zeros stay zeros when moved: torch's dynamo export slices its Expand(0, [layers, N, hidden]) initial state
    if kind in ("Expand", "Unsqueeze", "Squeeze", "Identity", "Slice", "Reshape", "Transpose") and isinstance(
        graph.const(op.inputs[0]), (str, np.ndarray)
    ):
        first = graph.const(op.inputs[0])
        if first is ZEROS or (
            kind == "Expand" and isinstance(first, np.ndarray) and first.size == 1 and not first.any()
        ):
            return ZEROS
    args = [vec(i) if i else None for i in op.inputs]
    if not args or args[0] is None:
        return None
    x = args[0]
    if kind in ("Cast", "Identity"):
        return x
    if kind in ("Squeeze", "Unsqueeze") and len(x) == 1:
        return x
    if kind == "Gather" and len(args) > 1 and args[1] is not None and op.attr("axis", 0) == 0:
        try:
            return [x[i] for i in args[1]] if getattr(graph.const(op.inputs[1]), "ndim", 1) else [x[args[1][0]]]
        except IndexError:
            return None
    if kind == "Concat" and op.attr("axis") in (0, -1) and all(a is not None for a in args):
        return [v for a in args for v in a]
    if (
        kind in _ARITHMETIC
        and len(args) == 2
        and args[1] is not None
        and len(x) == len(args[1]) == 1
        and None not in x + args[1]
    ):
        # torch.chunk's bounds: Shape -> Gather -> Add / Div / Mul of one known size
        return [_ARITHMETIC[kind](x[0], args[1][0])]
    if kind == "Slice" and all(a is not None for a in args[1:]) and len(args) >= 3:
        axes = args[3] if len(args) > 3 else [0]
        steps = args[4] if len(args) > 4 else [1]
        if axes not in ([0], [-1]) or len(args[1]) != 1:
            return None
        return x[slice(args[1][0], args[2][0], steps[0])]
    return None


def _divide(a: int, b: int) -> int:
    """ONNX's integer Div truncates toward zero (as C does), not floor."""
    if b == 0:
        raise ValueError("division by zero")  # not folded: left for the table to refuse
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


_ARITHMETIC = {"Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mul": lambda a, b: a * b, "Div": _divide}
_INT_MAX_SIZE = 64  # pads and shapes are tiny; anything larger is data, left alone


def onnx_slice(x: np.ndarray, starts, ends, axes=None, steps=None) -> np.ndarray:
    """ONNX Slice on a numpy array (starts/ends/axes/steps as the op's inputs)."""
    axes = range(len(starts)) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * x.ndim
    for a, b, e, st in zip(axes, starts, ends, steps):
        index[int(a)] = slice(int(b), int(e), int(st))  # numpy clamps out-of-range ends as ONNX does
    return x[tuple(index)]


def _reshape(x: np.ndarray, shape) -> np.ndarray:
    return x.reshape([x.shape[i] if s == 0 else int(s) for i, s in enumerate(shape)])


_INT_OPS = {
    "Concat": lambda op, *xs: np.concatenate(xs, axis=op.attr("axis")),
    "Reshape": lambda op, x, shape: _reshape(x, shape),
    "Slice": lambda op, x, *args: onnx_slice(x, *args),
    "Transpose": lambda op, x: x.transpose(op.attr("perm")),
    "Cast": lambda op, x: x.astype({6: np.int32, 7: np.int64}[op.attr("to")]),
    "Identity": lambda op, x: x,
}


def fold_int_constants(graph: Graph) -> None:
    """Evaluate the ops of :data:`_INT_OPS` whose inputs are all small stored integer tensors."""
    for op in list(graph.ops):
        args = [graph.const(i) if i else None for i in op.inputs]
        if (
            op.op_type not in _INT_OPS
            or not args
            or len(op.outputs) != 1
            or any(
                not isinstance(a, np.ndarray) or a.dtype.kind not in "iu" or a.size > _INT_MAX_SIZE
                for a, name in zip(args, op.inputs)
                if name
            )
        ):  # every given input a stored integer tensor
            continue
        try:
            graph.consts[op.outputs[0]] = np.asarray(_INT_OPS[op.op_type](op, *args))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            continue  # not what this pass understands: left for the table to judge
        graph.ops.remove(op)
    graph.index()


class FoldShapes(Pass):
    """:func:`fold_shapes` as a pass: run-time shape computations and zero initial states become constants."""

    def run(self, graph: Graph) -> PassResult:
        before = Snapshot(graph)
        fold_shapes(graph)
        return PassResult(graph, modified=before.changed(graph))
