"""Lower an IR model straight to an ONNX graph (no framework in between).

ONNX's spatial operators (Conv, pooling, Resize, normalisations) are
channels-first, so tensors are held as torch holds them: a tensor with spatial
axes is ``N, C, ...``; sequences stay as declared. Inputs and outputs keep the
declared layout (one Transpose at the boundary where that is not how ONNX
holds them) unless ``native_io=True``.

The lowering reuses the shared driver (:class:`twinnet.backends.lowering.driver.Lowering`):
where the framework backends emit a line of source, this one adds a node.
A lowering function adds its intermediate nodes with :meth:`OnnxLowering.op`
and its result with :meth:`OnnxLowering.let`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...ir.graph import Model
from ..lowering.code import Value
from ..lowering.driver import ChannelsFirstLowering

#: The ONNX operator set the files use (LayerNormalization 17, Gelu 20, GroupNormalization with per-channel
#: scale 21); onnxruntime >= 1.18 runs it.
OPSET = 21

_ELEM = {"float32": 1, "int32": 6, "int64": 7, "bool": 9}


@dataclass(frozen=True)
class Op:
    """One ONNX node still to be added: what :meth:`OnnxLowering.let` takes as its expression."""

    op_type: str
    inputs: tuple[str, ...]
    attrs: dict = field(default_factory=dict)

    def __str__(self) -> str:  # the program body doubles as a readable listing
        attrs = "".join(f", {k}={v!r}" for k, v in self.attrs.items())
        return f"{self.op_type}({', '.join(self.inputs)}{attrs})"


class OnnxLowering(ChannelsFirstLowering):
    backend = "onnx"

    def __init__(self, model: Model, table, *, native_io: bool = False):
        super().__init__(model, table, native_io=native_io)
        self.nodes: list = []
        self.initializers: dict[str, np.ndarray] = {}

    def transpose_expr(self, value, perm, target):
        return Op("Transpose", (value.var,), {"perm": list(perm)})

    def reshape_expr(self, value, shape, target):
        return Op("Reshape", (value.var, self.shape_const(value.var, shape)))

    def gather(self, value: Value) -> Value:
        order = self.const(f"{value.var}_order", np.argsort(value.feat).astype(np.int64))
        return self.let(
            f"{value.var}_ordered", Op("Gather", (value.var, order), {"axis": value.pos("C")}), value.spec, value.phys
        )

    # -- nodes and constants -------------------------------------------------------
    def let(self, base: str, expr, spec, phys: str, feat=None) -> Value:
        """Add the node ``expr`` (an :class:`Op`) with a fresh output named from ``base``; returns its value."""
        var = self.fresh(base)
        self._add(expr, [var], base)
        self.program.body.append(f"{var} = {expr}")
        return Value(var, spec, phys, feat)

    def op(self, op_type: str, *inputs: str, base: str, outputs: int = 1, unused: tuple[int, ...] = (), **attrs):
        """Add an intermediate node; returns its output name (a list of names for ``outputs > 1``).
        An empty string among ``inputs`` is an omitted optional input; the outputs at the indices ``unused``
        are left out (named ``""``), so onnxruntime need not compute them."""
        names = ["" if k in unused else self.fresh(base if outputs == 1 else f"{base}_{k}") for k in range(outputs)]
        expr = Op(op_type, tuple(inputs), attrs)
        self._add(expr, names, base)
        self.program.body.append(f"{', '.join(names)} = {expr}")
        return names[0] if outputs == 1 else names

    def const(self, base: str, array) -> str:
        """An initializer holding ``array`` (dtype kept: float32 weights, int64 shapes and indices)."""
        name = self.fresh(base)
        array = np.asarray(array)
        # np.ascontiguousarray would make a 0-d array 1-d: ops such as Range and Clip want true scalars.
        self.initializers[name] = array if array.flags.c_contiguous else array.copy(order="C")
        return name

    def scalar(self, base: str, value: float) -> str:
        return self.const(base, np.array(value, dtype=np.float32))

    def ints(self, base: str, values) -> str:
        return self.const(base, np.asarray(list(values), dtype=np.int64))

    def shape_const(self, var: str, shape) -> str:
        """A Reshape target: batch copied from the input (0), then ``shape`` (at most one -1)."""
        return self.ints(f"{var}_shape", (0, *shape))

    def _add(self, expr: Op, outputs: list[str], base: str) -> None:
        from onnx import helper

        self.nodes.append(
            helper.make_node(
                expr.op_type, list(expr.inputs), outputs, name=self.fresh(base, self._def_names), **expr.attrs
            )
        )


def build(lowering: OnnxLowering, program, model: Model, expose: bool = False, weights: bool = True):
    """The ONNX ModelProto of a lowered program: inputs and outputs named as the IR names them, symbolic batch
    (``N``) and sequence axes, weights as initializers (``weights=False``: left in ``lowering.initializers``
    for the caller to place, as :mod:`twinnet.backends.onnx.files` does with external data)."""
    from onnx import helper, numpy_helper

    def info(name: str, spec, phys: str):
        return helper.make_tensor_value_info(
            name, _ELEM[spec.dtype], [a if spec.dim(a) is None else spec.dim(a) for a in phys]
        )

    nodes = list(lowering.nodes)
    inputs = [info(var, spec, phys) for var, spec, phys in program.inputs]
    outputs, taken = [], {var for var, _, _ in program.inputs}
    shown = model.layers if expose else [t.node for t in model.outputs]
    for var, node, phys in zip(program.outputs, shown, program.output_layouts):
        name = var
        if var in taken:  # an input passed through, or one tensor returned twice: each output is its own tensor
            name = lowering.fresh(f"{node.name}_output")
            nodes.append(helper.make_node("Identity", [var], [name], name=name))
        taken.add(name)
        outputs.append(info(name, node.spec, phys))
    graph = helper.make_graph(nodes, model.name, inputs, outputs)
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="twinnet",
        doc_string=f"{model.name}: exported by twinnet from its IR",
    )
    proto.ir_version = 10  # what onnxruntime >= 1.18 reads
    if not weights:
        return proto
    # The weights go into the finished model one at a time, each array let go once copied in: building the
    # graph with them (make_graph, then make_model) would copy all of them twice more.
    for name in list(lowering.initializers):
        proto.graph.initializer.append(numpy_helper.from_array(lowering.initializers.pop(name), name))
    return proto
