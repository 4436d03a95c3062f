"""ONNX files in half precision: float16 or bfloat16 tensors are read as float32 and the precision recorded.

Before the graph is read, one pass finds the file's half type (that of its float inputs, initializers and
``Constant`` values; a file with both float16 and bfloat16 is refused) and rewrites a copy of the model in
float32: half initializers and constants are widened (exactly), half tensor types become float32, and a
``Cast`` to the half type becomes a ``Cast`` to float32. The import then proceeds as for any float32 file
and the IR model's ``dtype`` is the half type. A ``Cast`` from float32 to the half type inside a float32
file (a half island) is imported as a float32 cast: its rounding is not kept.
"""

from __future__ import annotations

import numpy as np

from ..common.problems import Problem, unsupported


def widen_model(proto):
    """(float32 copy of ``proto``, or ``proto`` itself when it has no half tensors; its precision name)."""
    from onnx import TensorProto

    halves = {TensorProto.FLOAT16: "float16", TensorProto.BFLOAT16: "bfloat16"}
    graph = proto.graph
    found = {t.data_type for t in graph.initializer if t.data_type in halves}
    found |= {i.type.tensor_type.elem_type for i in [*graph.input, *graph.output]} & set(halves)
    for node in graph.node:
        for attr in node.attribute:
            if attr.name == "value" and attr.t.data_type in halves:
                found.add(attr.t.data_type)
    if not found:
        return proto, "float32"
    if len(found) > 1:
        problem = Problem(graph.name or "(graph)", "tensor types", "has both float16 and bfloat16 tensors")
        raise unsupported(f"ONNX model {graph.name!r}", [problem], "; a model has one precision")
    (elem,) = found
    out = type(proto)()
    out.CopyFrom(proto)
    graph = out.graph
    for info in [*graph.input, *graph.output, *graph.value_info]:
        if info.type.tensor_type.elem_type == elem:
            info.type.tensor_type.elem_type = TensorProto.FLOAT
    for tensor in graph.initializer:
        if tensor.data_type == elem:
            tensor.CopyFrom(_widened(tensor))
    for node in graph.node:
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == elem:
                attr.i = TensorProto.FLOAT
            if attr.name == "value" and attr.t.data_type == elem:
                attr.t.CopyFrom(_widened(attr.t))
    return out, halves[elem]


def _widened(tensor):
    """A float16/bfloat16 ``TensorProto`` as float32 (same name and shape); the values are exact."""
    from onnx import numpy_helper

    array = numpy_helper.to_array(tensor)  # float16, or ml_dtypes' bfloat16 (onnx's own dependency)
    return numpy_helper.from_array(np.asarray(array, np.float32), tensor.name)
