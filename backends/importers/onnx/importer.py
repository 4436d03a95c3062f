"""``from_onnx``: an ONNX file -> ``twinnet.Model`` with the file's weights.

How the import works, and why:
  * Loading is safe: the file is parsed as a protobuf (no code runs), checked
    with ``onnx.checker`` and shape-inferred; external weight files are read
    only from inside the model's folder. A file that is not valid ONNX raises
    ``ir.SchemaError``.
  * Run-time shape computations (``Shape -> Slice -> Concat`` into a Reshape,
    zero initial states) are folded into constants (``passes/fold.py``, the first pass).
  * Pattern rules (``patterns/``, run by ``passes/pattern_rules.py``) then merge groups of nodes that are
    one IR layer (MatMul+Add -> Dense, Pad+Conv -> explicit pads, the erf form
    of gelu, torch's group norm and nearest upsampling, an LSTM and the ops that
    select its output, an attention block -> MultiHeadAttention...).
  * Only ops the graph outputs depend on are converted, in file order, each by
    its entry in :data:`ONNX_TABLE` (``table.py``): an IR layer where one says
    the op (``ops.py``, ``windows.py``, ``norm.py``, ``spatial.py``, ``rnn.py``,
    ``attention.py``), else IR ops (``tier_*.py``). Inputs
    an op reads as constants (weights, shapes, zero initial states) are taken
    from the file, never re-initialised.
  * Tensors are declared in ONNX's own axis order, so the imported model takes
    and returns exactly what the file does (an NCHW file gives an NCHW model);
    the letters of each input come from layout inference (``passes/layout.py``).
    A Transpose becomes a ``Permute``, which moves letters and computes nothing,
    so the compiled model transposes only where its declared IO differs from
    the framework's native order.
  * A stored tensor with a leading 1 added to (subtracted from, multiplied
    with) a computed one of its rank becomes a ``LearnedConstant``: a learned
    positional embedding (``constants.py``).
  * A bool graph input that only attention blocks read, as their key-padding
    mask (True = pad, torch's ``src_key_padding_mask``), is declared as the
    IR's float mask, layout ``NT`` (or ``TN``), 1 = attend: feed the imported
    model ``(~mask).float()``, as ``from_torch``'s. Any other use of a bool
    input is refused.
  * Problems are collected for every op (an op behind a refused one is still
    checked, on a stand-in input of the shape ONNX inferred). If anything was
    refused, one ``ir.UnsupportedError`` lists every op, where and why; no
    partial model is returned.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from onnx import TensorProto

from .... import ir
from ....ir.errors import IRError, SchemaError, UnsupportedError
from ..common.converters import onnx_key, user_table
from ..common.names import Names, identifier
from ..common.passes import run_passes
from ..common.problems import Problem, unsupported
from .constants import LEARNED_OPERANDS, expanded_constant, learned_operands
from .ctx import Ctx
from .graph import Graph, Op, load
from .passes.fold import FoldShapes
from .passes.layout import InferLayouts, LayoutInference
from .passes.pattern_rules import PatternRules
from .patterns.attention import ATTENTION
from .precision import widen_model
from .table import ONNX_TABLE

_DTYPES = {
    TensorProto.FLOAT: "float32",
    TensorProto.INT32: "int32",
    TensorProto.INT64: "int64",
    TensorProto.BOOL: "bool",
}


def from_onnx(source, *, name: str | None = None, converters=None) -> ir.Model:
    """Import an ONNX model, weights included.

    Args:
        source: a path to a ``.onnx`` file, its bytes, or an ``onnx.ModelProto``.
        name: the IR model's name (default: the file's name without ``.onnx``, else the
            ONNX graph's; made an identifier).
        converters: ``{("domain", "OpType"): fn}`` (or ``{"OpType": fn}``), entries added to
            :data:`ONNX_TABLE` for this import: ``fn(ctx)`` (a :class:`Ctx`) returns ``(ir_layer, weights)``
            as the built-in entries do (``common/converters.py``, docs/extending.md).

    Returns:
        an ``twinnet.Model`` declared in the file's own axis order (a model exported
        from torch comes back ``NCHW``; a sequence-first LSTM ``TNC``), with a
        symbolic batch size and the file's weights.

    Raises:
        ir.SchemaError: the file is not a readable, valid ONNX model.
        ir.UnsupportedError: listing every op the IR cannot represent (its
            ``problems`` attribute holds them as :class:`Problem` records).

    >>> # model = from_onnx("model.onnx"); model.summary()
    """
    proto, dtype = widen_model(load(source))  # a float16/bfloat16 file is read as float32 (precision.py)
    try:
        graph = Graph(proto)
    except (ValueError, TypeError, KeyError, IndexError) as e:  # a tensor or attribute onnx itself cannot decode
        raise SchemaError(
            f"invalid ONNX model: could not read its tensors ({type(e).__name__}: {str(e)[:200]})"
        ) from None
    graph = run_passes(graph, [FoldShapes(), PatternRules()]).graph
    if name is None and isinstance(source, (str, os.PathLike)):
        name = Path(source).stem  # "main_graph", torch's graph name, says less than the file name
    table = user_table(ONNX_TABLE, converters, "ONNX op", onnx_key)
    model = _Importer(graph, table).run(identifier(name or proto.graph.name or "onnx_model", strip=True))
    model.dtype = dtype
    return model


class _Importer:
    def __init__(self, graph: Graph, table=ONNX_TABLE):
        self.graph = graph
        self.table = table  # ONNX_TABLE and the user's converters
        self.layouts: LayoutInference = InferLayouts()(graph).analysis
        self.tensors: dict[str, ir.Tensor | None] = {}
        self.weights: dict[str, np.ndarray] = {}
        self.problems: list[Problem] = []
        self.claimed = Names()

    def claim(self, raw: str) -> str:
        return self.claimed.claim(raw, strip=True)

    def refuse(self, op: Op, reason: str) -> None:
        names = ", ".join(n for n, _ in op.sources) or op.name
        types = "+".join(t for _, t in op.sources) or op.op_type
        self.problems.append(Problem(names, types, reason))

    # -- the walk --------------------------------------------------------------------------
    def run(self, name: str) -> ir.Model:
        live = self.live_ops()
        self.readers = {}  # value -> the live ops reading it (a bool input must feed attention masks only)
        for op in live:
            for i in dict.fromkeys(op.inputs):
                self.readers.setdefault(i, []).append(op)
        inputs = [self.convert_input(vi) for vi in self.graph.inputs]  # all of them, used or not: the file's contract
        for op in live:
            self.convert_op(op)
        outputs = [self.tensors.get(o) for o in self.graph.outputs]
        if self.problems:
            raise unsupported(f"ONNX model {name!r}", self.problems)
        model = ir.Model([t for t in inputs if t is not None], outputs, name=name)
        return model.set_weights(self.weights)

    def live_ops(self) -> list[Op]:
        """The ops the outputs depend on through computed (non-constant) values, in file order."""
        wanted = set(self.graph.outputs)
        live = []
        for op in reversed(self.graph.ops):
            if any(o in wanted for o in op.outputs):
                live.append(op)
                wanted.update(i for i in op.inputs if i and self.graph.const(i) is None)
        return live[::-1]

    def convert_input(self, vi) -> ir.Tensor | None:
        op = Op("input", vi.name, [], [vi.name], sources=[(vi.name, "graph input")])
        out = None
        dtype = _DTYPES.get(vi.type.tensor_type.elem_type)
        shape = self.graph.shapes.get(vi.name)
        if vi.type.tensor_type.elem_type == TensorProto.BOOL:
            dtype, reason = self.bool_mask(vi.name)
            if reason:
                self.refuse(op, reason)
                self.tensors[vi.name] = None
                return None
        if dtype is None:
            self.refuse(
                op,
                f"element type {TensorProto.DataType.Name(vi.type.tensor_type.elem_type)} is not "
                f"supported (one of {', '.join(_DTYPES.values())})",
            )
        elif not shape:
            self.refuse(op, "has no static rank; the IR needs every input's rank")
        else:
            layout = self.layouts.layout(vi.name, len(shape), dtype.startswith("int"))
            if layout is None:
                self.refuse(op, f"a rank-{len(shape)} input has no IR layout")
            else:
                dims = tuple(s for a, s in zip(layout, shape) if a != "N")
                try:
                    out = ir.Input(dims, layout=layout, dtype=dtype, name=self.claim(vi.name))
                except IRError as e:
                    self.refuse(op, e.bare_message)
        self.tensors[vi.name] = out
        return out

    def bool_mask(self, name: str) -> tuple[str | None, str | None]:
        """("float32", None) if the bool input ``name`` is read only as attention key-padding masks (True = pad;
        it is then declared as the IR's mask, 1 = attend), ("bool", None) if no attention block reads it, else
        (None, why not)."""
        readers = self.readers.get(name, [])
        others = [
            op
            for op in readers
            if op.op_type != ATTENTION
            or op.inputs[-1] != name
            or name in op.inputs[:-1]
            or not op.attr("twinnet_bool_mask")
        ]
        if readers and not others:
            return "float32", None
        if len(others) == len(readers):  # no attention block reads it: a plain bool tensor (the op tier's)
            return "bool", None
        what = (
            f"it is read by {', '.join(sorted({f'{o.op_type} {o.name!r}' for o in others})[:3])}"
            if others
            else "no attention block reads it"
        )
        return None, (
            f"a bool input is supported only as the key-padding mask of attention blocks (True = pad, "
            f"imported as the float mask 1 = attend); {what}"
        )

    def convert_op(self, op: Op) -> None:
        if op.op_type == "Expand" and (value := expanded_constant(self, op)) is not None:
            self.tensors[op.outputs[0]] = value  # a class token repeated over the batch (constants.py)
            return
        names = [i for i in op.inputs if i and self.graph.const(i) is None]
        inputs = [self.tensors.get(n) or self.stand_in(n) for n in names]
        if op.op_type in LEARNED_OPERANDS and len(names) < len([i for i in op.inputs if i]):
            inputs = learned_operands(self, op, inputs)  # x + a stored (1, T, C) tensor (constants.py)
        out, reason = None, None
        if op.op_type not in self.table:
            where = "a custom-domain op" if "." in op.op_type else f"ONNX's {op.op_type}"
            reason = f"the IR has no layer for {where}"
        elif op.attr("twinnet_attention"):  # onnx/patterns/attention.py saw attention here but could not read it
            reason = (
                f"is the softmax of an attention block that from_onnx cannot read as MultiHeadAttention: "
                f"{op.attr('twinnet_attention')}"
            )
        elif all(t is not None for t in inputs):
            out, reason = self.convert(op, inputs)
        if reason:
            self.refuse(op, reason)
        outs = out if isinstance(out, tuple) else (out,)
        for i, o in enumerate(op.outputs):
            self.tensors[o] = outs[i] if i < len(outs) else None

    def convert(self, op: Op, inputs) -> tuple[ir.Tensor | tuple | None, str | None]:
        """(IR output, or a tuple of them for each ONNX output, None) or (None, why not); the weights of what
        was built go to ``self.weights``."""
        ctx = Ctx(self, op, inputs)
        try:
            built, weights = self.table[op.op_type](ctx)
            out = ctx.call(built, *inputs, weights=weights) if isinstance(built, ir.layers.Layer) else built
            for t, value in zip(out if isinstance(out, tuple) else (out,), op.outputs):
                if t is not None:
                    self.check_shape(t, value)
        except IRError as e:
            ctx.rollback()
            return None, e.bare_message
        except (ValueError, TypeError, KeyError, IndexError) as e:  # an attribute or weight the entry did not expect
            ctx.rollback()
            return None, f"could not be read ({type(e).__name__}: {str(e)[:200]})"
        self.weights.update(ctx.weights)
        return out, None

    def check_shape(self, out: ir.Tensor, value: str) -> None:
        """The IR's inferred shape must be ONNX's, position by position: a guard against importer bugs."""
        theirs = self.graph.shapes.get(value)
        ours = out.shape
        if theirs is not None and (
            len(theirs) != len(ours) or any(a is not None and b is not None and a != b for a, b in zip(theirs, ours))
        ):
            raise UnsupportedError(f"the IR infers shape {ours} ({out.layout}) where ONNX has {theirs}")

    def stand_in(self, value: str) -> ir.Tensor | None:
        """An IR input shaped like an ONNX value, to keep checking ops behind a refused one."""
        shape = self.graph.shapes.get(value)
        dtype = _DTYPES.get(self.graph.dtypes.get(value), "float32")
        if not shape:
            return None
        layout = self.layouts.layout(value, len(shape), dtype.startswith("int"))
        try:
            return ir.Input(tuple(s for a, s in zip(layout, shape) if a != "N"), layout=layout, dtype=dtype)
        except (IRError, TypeError):
            return None
