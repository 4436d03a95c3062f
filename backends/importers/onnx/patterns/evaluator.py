"""A tiny numpy evaluator for the data-moving ops around an attention block (``attention.py``).

Exporters write attention's head split and merge as chains of Reshape,
Transpose, Gather, Squeeze... whose shapes are often computed at run time
(``Shape -> Slice -> Concat``). Rather than recognise every spelling of those
chains, the attention rule runs them on *code tensors*: integers that say
where each element came from. What arrives at the attention's MatMuls then
says exactly which projected column holds which head's feature, whatever ops
moved it there.

:class:`Evaluator` computes a value from its producer, recursively, using
stored constants and the values it was seeded with (``env``). Values derived
from a seeded code tensor are *coded*: only ops that move elements may touch
them (a Mul/Div by a computed or stored scalar passes the codes through and is
recorded in ``scales``: attention's ``1/sqrt(d)``). Anything else raises
:class:`NoMatch`. Nothing here runs model code: only the ops in ``_OPS``, on
small arrays.
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from ..graph import ZEROS, Graph, Op
from ..match import axes_of
from ..passes.fold import onnx_slice as _slice

_MAX_ELEMENTS = 1 << 25  # probes are tiny, weights (a split packed projection) larger; beyond: not a block


class NoMatch(Exception):
    """The ops do not evaluate as expected: the subgraph is not the pattern looked for.

    ``stage`` says how far a match got (a rule reports the reason of the attempt that got furthest).
    """

    def __init__(self, message: str, stage: int = 0):
        super().__init__(message)
        self.stage = stage


def _reshape(op, x, shape):
    zero_is_zero = op.attr("allowzero", 0)
    return x.reshape([x.shape[i] if s == 0 and not zero_is_zero else int(s) for i, s in enumerate(shape)])


def _unsqueeze(graph, op, x, *_):
    axes = sorted(a % (x.ndim + len(axes_of(graph, op))) for a in axes_of(graph, op))
    for a in axes:
        x = np.expand_dims(x, a)
    return x


def _squeeze(graph, op, x, *_):
    axes = axes_of(graph, op)
    return np.squeeze(x, axis=tuple(a % x.ndim for a in axes)) if axes else np.squeeze(x)


def _shape(op, x):
    return np.asarray(x.shape[op.attr("start", 0) : op.attr("end", x.ndim)], np.int64)


def _expand(x, shape):
    return np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(int(s) for s in shape))).copy()


def _split(op, x, sizes=None):
    axis = op.attr("axis", 0) % x.ndim
    if sizes is None:
        sizes = op.attr("split") or [x.shape[axis] // len(op.outputs)] * len(op.outputs)
    return np.split(x, np.cumsum([int(s) for s in sizes])[:-1], axis=axis)


def _trilu(op, x, k=None):
    k = 0 if k is None else int(np.asarray(k).reshape(()))
    return np.triu(x, k) if op.attr("upper", 1) else np.tril(x, k)


# Ops that only move elements: a coded input stays coded. (graph, op, *inputs) -> output(s)
MOVES = {
    "Reshape": lambda g, op, x, s: _reshape(op, x, s),
    "Transpose": lambda g, op, x: x.transpose(op.attr("perm", list(range(x.ndim))[::-1])),
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Gather": lambda g, op, x, i: np.take(x, i, axis=op.attr("axis", 0)),
    "Slice": lambda g, op, x, *args: (
        _slice(x, *args)
        if args
        # attributes: old opsets, split_to_slices
        else _slice(x, op.attr("starts"), op.attr("ends"), op.attr("axes"))
    ),
    "Split": lambda g, op, x, *sizes: _split(op, x, *sizes),
    "Concat": lambda g, op, *xs: np.concatenate(xs, axis=op.attr("axis")),
    "Expand": lambda g, op, x, s: _expand(x, s),
    "Flatten": lambda g, op, x: x.reshape(int(np.prod(x.shape[: op.attr("axis", 1) % max(x.ndim, 1)])), -1),
    "Identity": lambda g, op, x: x,
    "Dropout": lambda g, op, x, *_: x,
}

# Ops on plain (uncoded) values: shapes, masks.
PLAIN = {
    "Shape": lambda g, op, x: _shape(op, x),
    "Cast": lambda g, op, x: x.astype(helper.tensor_dtype_to_np_dtype(op.attr("to"))),
    "Add": lambda g, op, a, b: a + b,
    "Sub": lambda g, op, a, b: a - b,
    "Mul": lambda g, op, a, b: a * b,
    "Div": lambda g, op, a, b: (a // b) if a.dtype.kind in "iu" and b.dtype.kind in "iu" else a / b,
    "Mod": lambda g, op, a, b: np.fmod(a, b) if op.attr("fmod", 0) else np.mod(a, b),  # TorchScript's head split
    "Neg": lambda g, op, a: -a,
    "Sqrt": lambda g, op, a: np.sqrt(a),
    "Reciprocal": lambda g, op, a: 1 / a,
    "Equal": lambda g, op, a, b: a == b,
    "Less": lambda g, op, a, b: a < b,
    "Greater": lambda g, op, a, b: a > b,
    "LessOrEqual": lambda g, op, a, b: a <= b,
    "GreaterOrEqual": lambda g, op, a, b: a >= b,
    "Not": lambda g, op, a: ~a,
    "And": lambda g, op, a, b: a & b,
    "Or": lambda g, op, a, b: a | b,
    "Where": lambda g, op, c, a, b: np.where(c, a, b),
    "Max": lambda g, op, *xs: np.maximum.reduce(np.broadcast_arrays(*xs)),
    "Min": lambda g, op, *xs: np.minimum.reduce(np.broadcast_arrays(*xs)),
    "ReduceProd": lambda g, op, x, *axes: _reduce_prod(g, op, x),
    "CumSum": lambda g, op, x, axis: _cumsum(op, x, int(np.asarray(axis).reshape(()))),
    "Range": lambda g, op, a, b, d: np.arange(a.reshape(()), b.reshape(()), d.reshape(())).astype(a.dtype),
    "Trilu": lambda g, op, x, *k: _trilu(op, x, *k),
    "ConstantOfShape": lambda g, op, s: np.full(tuple(int(v) for v in s), _fill(op)),
}


def _reduce_prod(graph, op, x):
    axes = axes_of(graph, op)
    axes = tuple(a % x.ndim for a in axes) if axes else None
    return np.prod(x, axis=axes, keepdims=bool(op.attr("keepdims", 1))).astype(x.dtype)


def _cumsum(op, x, axis):
    """ONNX CumSum (tf2onnx's causal mask: running counts of ones compared)."""
    y = np.flip(x, axis) if op.attr("reverse", 0) else x
    out = np.cumsum(y, axis=axis, dtype=x.dtype)
    if op.attr("exclusive", 0):
        out = out - y
    return np.flip(out, axis) if op.attr("reverse", 0) else out


def _fill(op):
    from onnx import numpy_helper

    value = op.attr("value")
    return numpy_helper.to_array(value).reshape(-1)[0] if value is not None else np.float32(0)


class Evaluator:
    """Computes graph values from ``env`` (seeded values, coded or not) and the stored constants.

    ``coded`` names the seeded values whose elements are codes; ``ops`` collects every op evaluated
    (the subgraph a rule may then replace); ``scales`` the scalar factors applied to coded values.
    """

    def __init__(self, graph: Graph, env: dict[str, np.ndarray], coded: set[str], placeholder=None):
        self.graph, self.env, self.coded = graph, dict(env), set(coded)
        #: name -> zeros shaped like a graph input not seeded (None if its sizes are unknown): exporters read
        #: a run-time size from whichever input has it (torch: the mask's length), so its shape may be needed
        self.placeholder = placeholder
        self.tainted: set[str] = set()  # values computed from a placeholder's (made-up) elements, not its shape
        self.ops: list[Op] = []
        self.scales: list[float] = []
        self.biases: list[tuple[np.ndarray, np.ndarray]] = []  # (codes, the constant added to each)

    def seed(self, name: str, value: np.ndarray, coded: bool) -> None:
        self.env[name] = value
        if coded:
            self.coded.add(name)

    def value(self, name: str) -> np.ndarray:
        if name in self.env:
            return self.env[name]
        if name in self.graph.symbolic:  # its -1 stands for a size known only now: recompute it
            self._run(self.graph.symbolic[name])
            return self.env[name]
        const = self.graph.const(name)
        if const is ZEROS:
            return np.zeros((), np.float32)  # zeros of a run-time shape: broadcasting gives the shape
        if const is not None:
            return np.asarray(const)
        op = self.graph.producer.get(name)
        stand_in = self.placeholder(name) if op is None and self.placeholder is not None else None
        if stand_in is not None:
            self.env[name] = stand_in
            self.tainted.add(name)
            return stand_in
        if op is None:
            raise NoMatch(f"{name!r} is neither computed from the attention's inputs nor stored")
        self._run(op)
        if name not in self.env:
            raise NoMatch(f"{op.op_type} gives no {name!r}")
        return self.env[name]

    def is_coded(self, name: str) -> bool:
        self.value(name)
        return name in self.coded

    def _run(self, op: Op) -> None:
        args = [self.value(i) if i else None for i in op.inputs]
        while args and args[-1] is None:
            args.pop()
        coded = [i for i in op.inputs if i and i in self.coded]
        kind = op.op_type
        if kind == "Shape":  # a coded tensor's shape is a plain value
            out, coded = _shape(op, args[0]), []
        elif coded and kind in ("Mul", "Div") and len(op.inputs) == 2:
            out = self._scale(op, coded, args)
        elif (
            coded
            and kind in ("Add", "Sub")
            and len(op.inputs) == 2
            and len(coded) == 1
            and not (kind == "Sub" and coded[0] != op.inputs[0])
        ):
            out = self._bias(op, coded, args)
        elif (
            coded
            and kind in MOVES
            and coded == [op.inputs[0]] * len(coded)
            and not (kind == "Dropout" and len(args) > 2 and bool(np.asarray(args[2]).any()))
        ):
            out = MOVES[kind](self.graph, op, *args)
        elif coded and kind == "Concat" and len(coded) == len([i for i in op.inputs if i]):
            out = MOVES[kind](self.graph, op, *args)
        elif not coded and kind in PLAIN:
            out = PLAIN[kind](self.graph, op, *args)
        elif not coded and kind in MOVES:
            out = MOVES[kind](self.graph, op, *args)
        else:
            raise NoMatch(f"{kind} {op.name!r} is not a data move the attention rule can follow")
        tainted = kind != "Shape" and any(i in self.tainted for i in op.inputs if i)
        outs = out if isinstance(out, list) else [out]
        for name, value in zip(op.outputs, outs):
            value = np.asarray(value)
            if value.size > _MAX_ELEMENTS:
                raise NoMatch("a probe value grew too large")
            if name:
                self.env[name] = value
                if coded:
                    self.coded.add(name)
                if tainted:
                    self.tainted.add(name)
        self.ops.append(op)

    def _bias(self, op: Op, coded: list[str], args) -> np.ndarray:
        """A constant added to coded values: recorded per element, codes passed on."""
        data = op.inputs.index(coded[0])
        if op.inputs[1 - data] in self.coded or op.inputs[1 - data] in self.tainted:
            raise NoMatch(f"{op.op_type} {op.name!r} adds a computed tensor, not a constant", stage=1)
        shape = np.broadcast_shapes(args[0].shape, args[1].shape)
        codes = np.broadcast_to(args[data], shape).copy()
        added = np.broadcast_to(args[1 - data], shape).astype(np.float64)
        self.biases.append((codes, -added if op.op_type == "Sub" else added))
        return codes

    def _scale(self, op: Op, coded: list[str], args) -> np.ndarray:
        data = op.inputs.index(coded[0])
        factor = args[1 - data]
        if op.inputs[1 - data] in self.tainted:
            raise NoMatch(f"{op.op_type} {op.name!r} scales by a computed tensor", stage=1)
        if len(coded) != 1 or factor.size != 1 or (op.op_type == "Div" and data != 0):
            raise NoMatch(f"{op.op_type} {op.name!r} is not a scaling by one number")
        factor = float(factor.reshape(()))
        self.scales.append(factor if op.op_type == "Mul" else 1.0 / factor)
        return np.broadcast_to(args[data], np.broadcast_shapes(args[0].shape, args[1].shape)).copy()
